# MQTT codec, client and TCP transport tests (prefix mqtt_).
if(TARGET mqtt)
  tma_add_test(NAME mqtt_unit_packet SOURCES unit/mqtt_packet_test.c
               LIBS mqtt tma_testlib LABELS "unit;vectors")
  tma_add_test(NAME mqtt_unit_client SOURCES unit/mqtt_client_test.c
               LIBS mqtt tma_testlib LABELS unit)
endif()
