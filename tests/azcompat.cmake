# Azure compatibility checks (brief AZURE, prefix azc_): what the device
# shows a real *.azure-devices.net hub, against the Azure documents
# (docs/decisions/azure-compat.md).
if(TARGET iothub_client)
  tma_add_test(NAME azc_client SOURCES unit/test_azc_client.c
    LIBS iothub_client tma_testlib LABELS unit)
endif()
# The TLS binding against a server shaped like *.azure-devices.net (RSA
# chain, IoT Hub's suites only, strict SNI, two roots).
# tls_test_client comes from tests/tls.cmake, read after this file (the
# generator expression below is resolved once every file is read).
if(TARGET tma_tls AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_test_client.c)
  tma_add_script_test(NAME azc_tls_azure_shape
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/azc_tls_azure_shape.sh LABELS integration TIMEOUT 120)
  set_property(TEST azc_tls_azure_shape APPEND PROPERTY ENVIRONMENT
    "TLS_TEST_CLIENT=$<TARGET_FILE:tls_test_client>")
endif()
# The samples read the Azure backup root from data object 0xF1E0 by default.
if(TARGET iothub_telemetry AND TARGET localhub AND TARGET trustm-cli AND TARGET trustm-sim)
  tma_add_script_test(NAME azc_sample_backup_root
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/azc_sample_backup_root.sh LABELS e2e TIMEOUT 120)
  set_tests_properties(azc_sample_backup_root PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>;TRUSTM_CLI=$<TARGET_FILE:trustm-cli>;TRUSTM_SIM=$<TARGET_FILE:trustm-sim>;LOCALHUB=$<TARGET_FILE:localhub>")
endif()
