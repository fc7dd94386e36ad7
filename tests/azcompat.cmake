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
# The samples' Azure backup root in 0xF1E0: azc_sample_anchor_faults
# (tests/samples_anchor.cmake).
