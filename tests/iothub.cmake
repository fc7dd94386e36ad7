# Tests of the Azure IoT Hub / DPS client (brief IOTHUB). Prefix: iothub_.
if(TARGET iothub)
  tma_add_test(NAME iothub_vectors SOURCES vectors/test_iothub_vectors.c
    LIBS iothub tma_testlib mbedcrypto LABELS vectors)
endif()
if(TARGET iothub)
  tma_add_test(NAME iothub_outbox SOURCES unit/test_iothub_outbox.c
    ${PROJECT_SOURCE_DIR}/port/storage_file.c
    LIBS iothub tma_testlib LABELS unit)
endif()
