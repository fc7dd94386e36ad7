# The samples' trust-anchor loading and argument errors (brief S9-SAMPLES,
# issue 6): a failed read of the default backup root 0xF1E0 stops the sample
# (docs/iothub-samples.md, docs/decisions/samples-review.md).
# iothub_sample_test() is tests/iothub.cmake's (included before this file).
if(TARGET iothub_telemetry AND TARGET localhub AND TARGET trustm-cli AND TARGET trustm-sim)
  iothub_sample_test(NAME azc_sample_anchor_faults
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/azc_sample_anchor_faults.sh LABELS e2e TIMEOUT 120 CHIP HUB)
endif()
# The samples' argument review: bad numbers, repeated options, names and
# paths refused with exit 2; refused telemetry and a damaged DPS assignment
# not taken for success (docs/decisions/samples-review.md).
if(TARGET iothub_telemetry AND TARGET iothub_dps)
  iothub_sample_test(NAME iothub_sample_badargs SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/iothub_sample_badargs.sh
    LABELS e2e TIMEOUT 120)
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
  iothub_sample_test(NAME iothub_sample_c2d_props
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/iothub_sample_c2d_props.sh LABELS e2e TIMEOUT 120 CHIP HUB)
endif()
