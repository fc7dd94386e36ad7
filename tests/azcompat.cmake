# Azure compatibility checks (brief AZURE, prefix azc_): what the device
# shows a real *.azure-devices.net hub, against the Azure documents
# (docs/decisions/azure-compat.md).
if(TARGET iothub_client)
  tma_add_test(NAME azc_client SOURCES unit/test_azc_client.c
    LIBS iothub_client tma_testlib LABELS unit)
endif()
