# The outbox's flash log for microcontrollers (src/iothub/storage_flash.c,
# brief FLASH): contract, outbox on a full flash and power cuts at every
# program/erase, on a strict simulated NOR flash. Prefix: iothub_flash.
if(TARGET iothub AND EXISTS ${PROJECT_SOURCE_DIR}/src/iothub/storage_flash.c)
  tma_add_test(NAME iothub_flash SOURCES unit/test_iothub_flash.c
    LIBS iothub tma_testlib LABELS unit TIMEOUT 120)
  tma_add_fuzz(NAME iothub_flash SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_flash.c
    LIBS iothub CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub/fuzz/iothub_flash)
  if(TARGET fuzz_iothub_flash)
    target_compile_definitions(fuzz_iothub_flash PRIVATE _POSIX_C_SOURCE=200809L)
  endif()
endif()
