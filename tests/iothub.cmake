# Tests of the Azure IoT Hub / DPS client (brief IOTHUB). Prefix: iothub_.
# A missing dependency is a configure error, not a set of tests that is
# silently not registered (scripts/setup installs everything).
foreach(_t iothub iothub_client iothub_telemetry localhub trustm-cli trustm-sim)
  if(NOT TARGET ${_t})
    message(FATAL_ERROR "iothub tests: target ${_t} is missing (install the dependencies with scripts/setup)")
  endif()
endforeach()
# iothub_sample_test(NAME n SCRIPT s LABELS l TIMEOUT t [CHIP] [HUB]): a script
# test that runs the samples: its environment names the build, the sample
# binaries (IOTHUB_SAMPLES), with CHIP trustm-cli and trustm-sim, with HUB
# localhub. Also used by samples_anchor.cmake (included after this file).
function(iothub_sample_test)
  cmake_parse_arguments(S "CHIP;HUB" "NAME;SCRIPT;LABELS;TIMEOUT" "" ${ARGN})
  set(env "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>")
  if(S_CHIP)
    string(APPEND env ";TRUSTM_CLI=$<TARGET_FILE:trustm-cli>;TRUSTM_SIM=$<TARGET_FILE:trustm-sim>")
  endif()
  if(S_HUB)
    string(APPEND env ";LOCALHUB=$<TARGET_FILE:localhub>")
  endif()
  tma_add_script_test(NAME ${S_NAME} SCRIPT ${S_SCRIPT} LABELS ${S_LABELS} TIMEOUT ${S_TIMEOUT})
  set_tests_properties(${S_NAME} PROPERTIES ENVIRONMENT "${env}")
endfunction()
if(TARGET iothub)
  tma_add_test(NAME iothub_vectors SOURCES vectors/test_iothub_vectors.c
    LIBS iothub tma_testlib mbedcrypto LABELS vectors)
endif()
if(TARGET iothub)
  tma_add_test(NAME iothub_outbox SOURCES unit/test_iothub_outbox.c
    ${PROJECT_SOURCE_DIR}/port/storage_file.c
    LIBS iothub tma_testlib LABELS unit)
endif()
if(TARGET iothub)
  tma_add_test(NAME iothub_core SOURCES unit/test_iothub_core.c LIBS iothub tma_testlib LABELS unit)
endif()
if(TARGET iothub)
  tma_add_fuzz(NAME iothub_topic SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_topic.c
    LIBS iothub CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub/fuzz/iothub_topic)
  tma_add_fuzz(NAME iothub_json SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_json.c
    LIBS iothub CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub/fuzz/iothub_json)
endif()
# The IoT Hub and DPS clients as state machines against a hostile broker
# (whole sessions: CONNACK codes, SUBACK refusals, stray PUBACKs, PUBLISHes
# on every topic with fuzzed fields, cuts, time jumps; see the sources).
if(TARGET iothub_client)
  tma_add_fuzz(NAME iothub_client SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_client.c
    LIBS iothub_client CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/iothub_client)
  tma_add_fuzz(NAME dps_client SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_dps_client.c
    LIBS iothub_client CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/dps_client)
endif()
# The shared replay driver uses scandir(), which strict C11 hides.
foreach(t fuzz_iothub_topic fuzz_iothub_json fuzz_iothub_client fuzz_dps_client)
  if(TARGET ${t})
    target_compile_definitions(${t} PRIVATE _POSIX_C_SOURCE=200809L)
  endif()
endforeach()
# Integration against a real mosquitto (plain TCP): needs the MQTT client and
# the TCP transport.
if(TARGET iothub_client AND EXISTS ${PROJECT_SOURCE_DIR}/port/tcp_posix.c)
  add_executable(iothub_testdev integration/iothub_testdev.c
    ${PROJECT_SOURCE_DIR}/port/tcp_posix.c ${PROJECT_SOURCE_DIR}/port/storage_file.c)
  target_link_libraries(iothub_testdev PRIVATE iothub_client)
  foreach(s telemetry c2d twin_methods dps broker_restart sigkill)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_${s}.sh)
      tma_add_script_test(NAME iothub_it_${s} SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_${s}.sh
        LABELS integration TIMEOUT 180)
    endif()
  endforeach()
endif()
# End to end with the samples, the simulated chip and localhub:
# iothub_e2e_localhub (telemetry, C2D, twin, methods, DPS, SAS, reconnect
# cost) and iothub_e2e_c2d_oversize (a C2D larger than the device's receive
# buffer is skipped and the connection goes on).
if(TARGET iothub_telemetry AND TARGET localhub AND TARGET trustm-cli AND TARGET trustm-sim)
  foreach(t localhub:240 c2d_oversize:120)
    string(REPLACE ":" ";" _p ${t})
    list(GET _p 0 _n)
    list(GET _p 1 _timeout)
    iothub_sample_test(NAME iothub_e2e_${_n} SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/iothub_e2e_${_n}.sh
      LABELS e2e TIMEOUT ${_timeout} CHIP HUB)
  endforeach()
endif()
# The samples' loop waits while a PUBACK is late (RETRY16): the telemetry
# sample with SAS against mosquitto over TLS, through iothub_proxy.py.
if(TARGET iothub_telemetry)
  iothub_sample_test(NAME iothub_it_sample_pace SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_sample_pace.sh
    LABELS integration TIMEOUT 60)
endif()
# Reconnects paced by the back-off against a hub that drops the device right
# after CONNACK and one answering CONNACK 3, and by the chip-key pacer with
# the key in trustm-sim (RETRY16): a TLS fake in Python.
if(TARGET iothub_telemetry)
  set(_chip)
  if(TARGET trustm-cli AND TARGET trustm-sim)
    set(_chip CHIP)
  endif()
  iothub_sample_test(NAME iothub_it_reconnect_pace SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_reconnect_pace.sh
    LABELS integration TIMEOUT 120 ${_chip})
endif()
# The samples on bad input (F14, F15): no broker, no chip needed.
if(TARGET iothub_telemetry)
  iothub_sample_test(NAME iothub_it_samples_errors SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_samples_errors.sh
    LABELS integration TIMEOUT 60)
endif()
if(TARGET iothub_client)
  tma_add_test(NAME iothub_glue SOURCES unit/test_iothub_client.c
    LIBS iothub_client tma_testlib mbedcrypto LABELS unit)
  # Callbacks that call the client back, API misuse (brief REENTRY).
  tma_add_test(NAME iothub_reentry SOURCES unit/test_iothub_reentry.c
    LIBS iothub_client tma_testlib LABELS unit)
  # Send-side transport failures: CONNECT or a PUBLISH not sent, disconnect
  # on a stalled link (COV14 item 4).
  tma_add_test(NAME iothub_sendfail SOURCES unit/test_iothub_sendfail.c
    LIBS iothub_client tma_testlib LABELS unit)
  # Clocks a device really has: a 32-bit tick that wraps, a start near
  # 2^64, a step back, a SAS wall clock not set yet (brief CLK13).
  tma_add_test(NAME iothub_clock SOURCES unit/test_iothub_clock.c
    LIBS iothub_client tma_testlib LABELS unit)
endif()
if(TARGET iothub)
  tma_add_fuzz(NAME iothub_outbox_log SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_outbox_log.c
    ${PROJECT_SOURCE_DIR}/port/storage_file.c
    LIBS iothub CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub/fuzz/iothub_outbox_log)
  if(TARGET fuzz_iothub_outbox_log)
    target_compile_definitions(fuzz_iothub_outbox_log PRIVATE _POSIX_C_SOURCE=200809L)
  endif()
endif()
# valgrind on a subset, in builds without the sanitizers (they do not mix).
find_program(IOTHUB_VALGRIND valgrind)
if(IOTHUB_VALGRIND AND NOT TMA_SANITIZE AND NOT TMA_FUZZ)
  foreach(t iothub_vectors iothub_core iothub_glue)
    if(TARGET ${t})
      add_test(NAME ${t}_valgrind COMMAND ${IOTHUB_VALGRIND} -q --error-exitcode=9 --leak-check=full
        $<TARGET_FILE:${t}>)
      set_tests_properties(${t}_valgrind PROPERTIES LABELS "unit;valgrind" TIMEOUT 300
        ENVIRONMENT "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR}")
    endif()
  endforeach()
endif()
# IoT Edge downstream device (GatewayHostName) against localhub (brief EDGE).
if(TARGET iothub_telemetry AND TARGET localhub)
  iothub_sample_test(NAME iothub_edge SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_edge.sh
    LABELS integration TIMEOUT 120 HUB)
endif()
# Network faults (brief CHAOS, docs/design/network-faults.md): the TLS client
# keeps its session across a handshake the network cuts (F2), and the
# telemetry sample with the key in the simulator delivers everything in order
# through a proxy that cuts, fragments, stalls and half-closes connections.
if(TARGET tma_tls)
  tma_add_test(NAME iothub_chaos_tls_resume SOURCES unit/test_chaos_tls_resume.c
    LIBS tma_tls tma_testlib LABELS unit)
endif()
if(TARGET iothub_telemetry AND TARGET iothub_dps AND TARGET trustm-cli AND TARGET trustm-sim AND TARGET localhub)
  iothub_sample_test(NAME iothub_it_chaos SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_chaos.sh
    LABELS integration TIMEOUT 300 CHIP HUB)
endif()
# Brief CHAOS2 (network-faults.md, "Silent link", "Corrupted bytes", "Twin,
# methods and C2D"): twin, methods and C2D through the chaos proxy against
# localhub; bit flips; blackouts. (The silent-link unit test is in
# iothub_glue, on its fake broker.)
if(TARGET iothub_telemetry AND TARGET iothub_twin_methods AND TARGET trustm-cli AND TARGET trustm-sim AND TARGET localhub)
  iothub_sample_test(NAME iothub_it_chaos2 SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_chaos2.sh
    LABELS integration TIMEOUT 300 CHIP HUB)
endif()
