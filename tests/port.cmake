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
# GPIO reset, FreeRTOS mutex and delays) and the outbox
# flash log on an in-RAM NOR partition, plain and flash-encrypted, with a
# power cut at every flash operation of a workload.
if(TARGET trustm AND TARGET trustm_sim AND TARGET iothub AND TARGET tma_testlib
   AND EXISTS ${PROJECT_SOURCE_DIR}/port/esp-idf/trustm_port_esp_idf.c)
  # ESP-IDF's default tick (CONFIG_FREERTOS_HZ 100), and 1000 Hz, the other
  # common setting (waits of 1 ms and more then sleep in whole ticks)
  foreach(_hz 100 1000)
    set(_n port_esp_idf)
    if(NOT _hz EQUAL 100)
      set(_n port_esp_idf_${_hz}hz)
    endif()
    add_library(${_n}_templates STATIC ${PROJECT_SOURCE_DIR}/port/esp-idf/trustm_port_esp_idf.c
      ${PROJECT_SOURCE_DIR}/port/esp-idf/storage_flash_esp_idf.c)
    tma_core_target(${_n}_templates)
    target_compile_definitions(${_n}_templates PUBLIC CONFIG_FREERTOS_HZ=${_hz})
    target_include_directories(${_n}_templates PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/port/esp_idf_api
      ${PROJECT_SOURCE_DIR}/port/esp-idf)
    target_link_libraries(${_n}_templates PUBLIC trustm iothub)
    tma_add_test(NAME ${_n} SOURCES port/test_port_esp_idf.c port/esp_idf_fake.c
      LIBS ${_n}_templates trustm_sim tma_testlib LABELS unit TIMEOUT 120)
  endforeach()
endif()

# The bare-metal flash template (port/baremetal/storage_flash_baremetal.c),
# which iothub_flash_port_m4 cross-compiles, run on the host: its region
# mapped at a fixed 32-bit address, an ECC flash model behind the board
# functions (8-byte units, a cut program or erase breaks its unit's ECC),
# power cuts at every flash operation of a workload.
if(TARGET iothub AND TARGET tma_testlib AND CMAKE_SYSTEM_NAME STREQUAL "Linux"
   AND EXISTS ${PROJECT_SOURCE_DIR}/port/baremetal/storage_flash_baremetal.c)
  add_library(port_baremetal_flash_template STATIC ${PROJECT_SOURCE_DIR}/port/baremetal/storage_flash_baremetal.c)
  tma_core_target(port_baremetal_flash_template)
  target_link_libraries(port_baremetal_flash_template PUBLIC iothub)
  tma_add_test(NAME port_baremetal_flash SOURCES port/test_port_baremetal_flash.c
    LIBS port_baremetal_flash_template tma_testlib LABELS unit TIMEOUT 120)
endif()
