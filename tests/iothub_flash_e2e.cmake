# The outbox's flash log used end to end on Linux (brief FLASHE2E): the
# flash-file port (port/flash_file.c) and the telemetry sample on it,
# SIGKILLed mid-stream. Prefix: iothub_flash_ (the log's own tests are in
# tests/iothub_flash.cmake).
if(TARGET iothub AND TARGET tma_port AND EXISTS ${PROJECT_SOURCE_DIR}/port/flash_file.c)
  tma_add_test(NAME iothub_flash_file SOURCES unit/test_iothub_flash_file.c
    LIBS tma_port iothub tma_testlib LABELS unit TIMEOUT 60)
endif()
if(TARGET iothub_telemetry AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_flash_sigkill.sh)
  tma_add_script_test(NAME iothub_flash_sigkill SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/iothub_flash_sigkill.sh
    LABELS integration TIMEOUT 180)
  set_tests_properties(iothub_flash_sigkill PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>")
endif()
# The port's parsers: the --outbox-flash value and the flash file's trailer.
if(TARGET tma_port AND EXISTS ${PROJECT_SOURCE_DIR}/port/flash_file.c)
  tma_add_fuzz(NAME iothub_flash_file SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_flash_file.c
    LIBS tma_port CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub/fuzz/iothub_flash_file)
endif()
