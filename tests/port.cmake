# Portability of the device-side core (DEVELOPERS.md: C99, no heap, no OS
# calls): it builds for a Cortex-M4 with the core's warnings as errors, and a
# bare-metal image on the port template links without any system stubs.
# Prefix: port_.
tma_add_script_test(NAME port_cross_m4 SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/port_cross_m4.sh
  LABELS integration TIMEOUT 120)

# The trustm-sim socket port against peers that are not a simulator (silent,
# half a reply, closing): a timeout or I/O status in bounded time, never a hang.
if(TARGET tma_port)
  tma_add_test(NAME port_simsock SOURCES unit/test_port_simsock.c LIBS tma_port tma_testlib LABELS unit)
  target_compile_definitions(port_simsock PRIVATE _POSIX_C_SOURCE=200809L)
endif()

# The ESP-IDF v5 port templates (port/esp-idf/) compile with the core's
# warnings (C99) against declarations of the ESP-IDF API checked against its
# headers (tests/port/esp_idf_api/), and run on a test-side ESP-IDF
# (tests/port/esp_idf_fake.c): libtrustm on the in-process simulator (I2C, clock,
# GPIO reset, FreeRTOS mutex at the default 100 Hz tick) and the outbox
# flash log on an in-RAM NOR partition, plain and flash-encrypted, with a
# power cut at every flash operation of a workload.
if(TARGET trustm AND TARGET trustm_sim AND TARGET iothub AND TARGET tma_testlib
   AND EXISTS ${PROJECT_SOURCE_DIR}/port/esp-idf/trustm_port_esp_idf.c)
  add_library(port_esp_idf_templates STATIC ${PROJECT_SOURCE_DIR}/port/esp-idf/trustm_port_esp_idf.c
    ${PROJECT_SOURCE_DIR}/port/esp-idf/storage_flash_esp_idf.c)
  tma_core_target(port_esp_idf_templates)
  target_include_directories(port_esp_idf_templates PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/port/esp_idf_api
    ${PROJECT_SOURCE_DIR}/port/esp-idf)
  target_link_libraries(port_esp_idf_templates PUBLIC trustm iothub)
  tma_add_test(NAME port_esp_idf SOURCES port/test_port_esp_idf.c port/esp_idf_fake.c
    LIBS port_esp_idf_templates trustm_sim tma_testlib LABELS unit TIMEOUT 120)
endif()
