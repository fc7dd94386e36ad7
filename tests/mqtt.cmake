# MQTT codec, client and TCP transport tests (prefix mqtt_).
if(TARGET mqtt)
  tma_add_test(NAME mqtt_unit_packet SOURCES unit/mqtt_packet_test.c
               LIBS mqtt tma_testlib LABELS "unit;vectors")
  # with the POSIX TCP transport: its send errors on a loopback socket
  tma_add_test(NAME mqtt_unit_client SOURCES unit/mqtt_client_test.c ${PROJECT_SOURCE_DIR}/port/tcp_posix.c
               LIBS mqtt tma_testlib LABELS unit)
  # The codec against MQTT 3.1.1's normative statements (docs/decisions/mqtt-conformance.md).
  tma_add_test(NAME mqtt_conformance SOURCES unit/mqtt_conformance_test.c
               LIBS mqtt tma_testlib LABELS "unit;vectors")
  # Callbacks that call the client back, API misuse, clock jumps (brief REENTRY).
  tma_add_test(NAME mqtt_reentry SOURCES unit/test_mqtt_reentry.c
               LIBS mqtt tma_testlib LABELS unit)
  # Review of the SIZE9 size pass (docs/decisions/size9-review.md).
  tma_add_test(NAME mqtt_size9_review SOURCES unit/test_mqtt_size9.c
               LIBS mqtt tma_testlib LABELS unit)
  tma_add_fuzz(NAME mqtt_decode SOURCES fuzz/fuzz_mqtt_decode.c LIBS mqtt
               CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/mqtt/fuzz/mqtt_decode)
  tma_add_fuzz(NAME mqtt_stream SOURCES fuzz/fuzz_mqtt_stream.c LIBS mqtt
               CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/mqtt/fuzz/mqtt_stream)
  # The client with callbacks that call it back (brief REENTRY); seeded from
  # the stream target's corpus (server bytes after a CONNACK).
  tma_add_fuzz(NAME mqtt_reentry SOURCES fuzz/test_mqtt_reentry_fuzz.c LIBS mqtt
               CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/mqtt/fuzz/mqtt_stream)
  find_program(MQTT_MOSQUITTO mosquitto PATHS /usr/sbin /usr/local/sbin)
  if(MQTT_MOSQUITTO)
    tma_add_test(NAME mqtt_broker SOURCES integration/mqtt_broker.c ${PROJECT_SOURCE_DIR}/port/tcp_posix.c
                 LIBS mqtt LABELS integration TIMEOUT 120)
    get_filename_component(mqtt_mosq_dir ${MQTT_MOSQUITTO} DIRECTORY)
    set_property(TEST mqtt_broker APPEND PROPERTY ENVIRONMENT "PATH=${mqtt_mosq_dir}:$ENV{PATH}")
  else()
    # A missing broker fails the suite instead of quietly dropping the test.
    message(WARNING "mosquitto not found: mqtt_broker fails until scripts/setup installs it")
    add_test(NAME mqtt_broker COMMAND sh -c "echo 'mqtt_broker: mosquitto is not installed (run scripts/setup)' >&2; exit 1")
    set_tests_properties(mqtt_broker PROPERTIES LABELS integration)
  endif()
  # The shared replay driver uses scandir(), which strict C11 hides.
  foreach(t fuzz_mqtt_decode fuzz_mqtt_stream fuzz_mqtt_reentry)
    target_compile_definitions(${t} PRIVATE _POSIX_C_SOURCE=200809L)
    # shared test helpers (tests/lib: CHECK, message and buffer helpers)
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/lib)
  endforeach()
endif()
