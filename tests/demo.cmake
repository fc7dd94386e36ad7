# The demo (scripts/demo, `make demo`) as end-to-end tests: the whole flow,
# the DPS variant, and one test per step broken on purpose. They run the demo
# from this build tree (TMA_BUILD_DIR), never rebuild.
if(TARGET trustm-sim AND TARGET trustm-cli AND TARGET localhub AND TARGET iothub_telemetry
   AND TARGET iothub_twin_methods AND TARGET iothub_dps)
  set(_demo_env
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>;TRUSTM_CLI=$<TARGET_FILE:trustm-cli>;TRUSTM_SIM=$<TARGET_FILE:trustm-sim>;LOCALHUB=$<TARGET_FILE:localhub>")
  set(_e2e ${CMAKE_CURRENT_SOURCE_DIR}/e2e)
  tma_add_script_test(NAME demo_flow SCRIPT ${_e2e}/demo_flow.sh LABELS e2e TIMEOUT 120)
  tma_add_script_test(NAME demo_flow_dps SCRIPT ${_e2e}/demo_flow.sh ARGS --dps LABELS e2e TIMEOUT 120)
  tma_add_script_test(NAME demo_break_unverified_ca SCRIPT ${_e2e}/demo_break.sh
    ARGS unverified-ca 1 "the hub did not accept the proof of possession, so the CA stays unverified"
    LABELS e2e TIMEOUT 120)
  tma_add_script_test(NAME demo_break_wrong_trust_anchor SCRIPT ${_e2e}/demo_break.sh
    ARGS wrong-trust-anchor 4 "the device does not trust the hub"
    LABELS e2e TIMEOUT 120)
  tma_add_script_test(NAME demo_break_disabled_device SCRIPT ${_e2e}/demo_break.sh
    ARGS disabled-device 4 "device 'demo-device-01' is DISABLED"
    LABELS e2e TIMEOUT 120)
  tma_add_script_test(NAME demo_break_disabled_enrollment_dps SCRIPT ${_e2e}/demo_break.sh
    ARGS disabled-device 4 "DPS refused the registration: the enrollment is disabled" --dps
    LABELS e2e TIMEOUT 120)
  foreach(t demo_flow demo_flow_dps demo_break_unverified_ca demo_break_wrong_trust_anchor
          demo_break_disabled_device demo_break_disabled_enrollment_dps)
    set_tests_properties(${t} PROPERTIES ENVIRONMENT "${_demo_env}")
  endforeach()
endif()
# The demo's command line (no build needed beyond the folder).
tma_add_script_test(NAME demo_args SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/demo_args.sh LABELS e2e TIMEOUT 60)
# Session 7 (USER): what a new user types wrong, for the CLI and the samples.
if(TARGET trustm-cli)
  tma_add_script_test(NAME trustm_cli_user_badargs SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/trustm_cli_user_badargs.sh
    LABELS e2e TIMEOUT 90)
  set_tests_properties(trustm_cli_user_badargs PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};TRUSTM_CLI=$<TARGET_FILE:trustm-cli>")
endif()
if(TARGET iothub_telemetry AND TARGET iothub_twin_methods AND TARGET iothub_dps)
  tma_add_script_test(NAME iothub_sample_user_args SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/iothub_sample_user_args.sh
    LABELS e2e TIMEOUT 60)
  set_tests_properties(iothub_sample_user_args PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>")
endif()
if(TARGET trustm-sim AND TARGET trustm-cli AND TARGET localhub AND TARGET iothub_telemetry
   AND TARGET iothub_twin_methods AND TARGET iothub_dps)
  tma_add_script_test(NAME demo_user_keep SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/demo_user_keep.sh
    LABELS e2e TIMEOUT 120)
  set_tests_properties(demo_user_keep PROPERTIES ENVIRONMENT "${_demo_env}")
endif()
tma_add_script_test(NAME demo_user_args SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/demo_user_args.sh LABELS e2e TIMEOUT 60)
# The samples' connection-string check (examples/sample_args.c) against the
# library's parser: fuzz_iothub_sample_user_cs.
if(TARGET iothub)
  tma_add_fuzz(NAME iothub_sample_user_cs SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_iothub_sample_user_cs.c
               ${PROJECT_SOURCE_DIR}/examples/sample_args.c
               LIBS iothub CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/iothub_sample_user/cs)
  target_include_directories(fuzz_iothub_sample_user_cs PRIVATE ${PROJECT_SOURCE_DIR}/examples)
endif()
