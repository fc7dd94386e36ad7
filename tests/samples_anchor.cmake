# The samples' trust-anchor loading and argument errors (brief S9-SAMPLES,
# issue 6): a failed read of the default backup root 0xF1E0 stops the sample
# (docs/iothub-samples.md, docs/decisions/samples-review.md).
if(TARGET iothub_telemetry AND TARGET localhub AND TARGET trustm-cli AND TARGET trustm-sim)
  tma_add_script_test(NAME azc_sample_anchor_faults
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/azc_sample_anchor_faults.sh LABELS e2e TIMEOUT 120)
  set_tests_properties(azc_sample_anchor_faults PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>;TRUSTM_CLI=$<TARGET_FILE:trustm-cli>;TRUSTM_SIM=$<TARGET_FILE:trustm-sim>;LOCALHUB=$<TARGET_FILE:localhub>")
endif()
