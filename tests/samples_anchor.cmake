# The samples' trust-anchor loading and argument errors (brief S9-SAMPLES,
# issue 6): a failed read of the default backup root 0xF1E0 stops the sample
# (docs/iothub-samples.md, docs/decisions/samples-review.md).
if(TARGET iothub_telemetry AND TARGET localhub AND TARGET trustm-cli AND TARGET trustm-sim)
  tma_add_script_test(NAME azc_sample_anchor_faults
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/azc_sample_anchor_faults.sh LABELS e2e TIMEOUT 120)
  set_tests_properties(azc_sample_anchor_faults PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>;TRUSTM_CLI=$<TARGET_FILE:trustm-cli>;TRUSTM_SIM=$<TARGET_FILE:trustm-sim>;LOCALHUB=$<TARGET_FILE:localhub>")
endif()
# The samples' argument review: bad numbers, repeated options, names and
# paths refused with exit 2; refused telemetry and a damaged DPS assignment
# not taken for success (docs/decisions/samples-review.md).
if(TARGET iothub_telemetry AND TARGET iothub_dps)
  tma_add_script_test(NAME iothub_sample_badargs SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/iothub_sample_badargs.sh
    LABELS e2e TIMEOUT 120)
  set_tests_properties(iothub_sample_badargs PROPERTIES ENVIRONMENT
    "TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>")
endif()
# The --model-id check (sample_dtmi_ok) on arbitrary strings.
if(TARGET iothub_telemetry)
  tma_add_fuzz(NAME iothub_sample_dtmi SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_sample_dtmi.c
               ${PROJECT_SOURCE_DIR}/examples/sample_args.c
               LIBS iothub CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub_sample_badargs/dtmi)
  target_include_directories(fuzz_iothub_sample_dtmi PRIVATE ${PROJECT_SOURCE_DIR}/examples)
endif()
# C2D properties the samples cannot decode are shown raw, not dropped.
if(TARGET iothub_telemetry AND TARGET localhub AND TARGET trustm-cli AND TARGET trustm-sim)
  tma_add_script_test(NAME iothub_sample_c2d_props
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/iothub_sample_c2d_props.sh LABELS e2e TIMEOUT 120)
  set_tests_properties(iothub_sample_c2d_props PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>;TRUSTM_CLI=$<TARGET_FILE:trustm-cli>;TRUSTM_SIM=$<TARGET_FILE:trustm-sim>;LOCALHUB=$<TARGET_FILE:localhub>")
endif()
