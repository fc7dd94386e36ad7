# Throughput work (prefix perf_): behaviour the speed-ups rely on, checked on
# the wire. The numbers themselves come from bench/iothub_throughput.sh.
if(TARGET mqtt)
  tma_add_test(NAME perf_mqtt_unit_cork SOURCES unit/perf_mqtt_cork.c
               LIBS mqtt tma_testlib LABELS unit)
endif()
if(TARGET tma_tls)
  find_package(Threads REQUIRED)
  tma_add_test(NAME perf_tls_unit_socket SOURCES unit/perf_tls_socket.c
               LIBS tma_tls tma_testlib Threads::Threads LABELS unit)
endif()
