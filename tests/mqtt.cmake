# MQTT codec, client and TCP transport tests (prefix mqtt_).
if(TARGET mqtt)
  tma_add_test(NAME mqtt_unit_packet SOURCES unit/mqtt_packet_test.c
               LIBS mqtt tma_testlib LABELS "unit;vectors")
  tma_add_test(NAME mqtt_unit_client SOURCES unit/mqtt_client_test.c
               LIBS mqtt tma_testlib LABELS unit)
  tma_add_fuzz(NAME mqtt_decode SOURCES fuzz/fuzz_mqtt_decode.c LIBS mqtt
               CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/mqtt/fuzz/mqtt_decode)
  tma_add_fuzz(NAME mqtt_stream SOURCES fuzz/fuzz_mqtt_stream.c LIBS mqtt
               CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/mqtt/fuzz/mqtt_stream)
  # The shared replay driver uses scandir(), which strict C11 hides.
  foreach(t fuzz_mqtt_decode fuzz_mqtt_stream)
    target_compile_definitions(${t} PRIVATE _POSIX_C_SOURCE=200809L)
  endforeach()
endif()
