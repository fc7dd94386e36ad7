# Tests of localhub (brief HUB, issue 5). Prefix: hub_.
# Integration tests start their own hub (mktemp -d state, random port) and
# drive it with mosquitto_pub/sub and hub_mqttc (a raw MQTT 3.1.1 TLS client).
# A missing dependency is a configure error, not a set of tests that is
# silently not registered (scripts/setup installs everything).
foreach(_t localhub localhub_parse localhub_core iothub_telemetry iothub_twin_methods iothub_dps)
  if(NOT TARGET ${_t})
    message(FATAL_ERROR "hub tests: target ${_t} is missing (install the dependencies with scripts/setup)")
  endif()
endforeach()
if(TARGET localhub)
  find_package(OpenSSL REQUIRED)
  add_executable(hub_mqttc integration/hub_mqttc.c)
  target_link_libraries(hub_mqttc PRIVATE OpenSSL::SSL)
  foreach(t lifecycle x509 authz c2d c2d_lock write_lock lock_answers kick_lock twin methods sas dps restart utf8 cli_json)
    tma_add_script_test(NAME hub_${t} SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/hub_${t}.sh
      LABELS integration TIMEOUT 120)
  endforeach()
  # Years of service (brief HUB13): a wall-clock step back (the broker runs
  # under hub_clkshim, an LD_PRELOAD that moves its CLOCK_REALTIME), server
  # certificate renewal at start, telemetry.jsonl rotation and write errors,
  # pruning of DPS operations.
  add_library(hub_clkshim MODULE integration/hub_clkshim.c)
  target_link_libraries(hub_clkshim PRIVATE ${CMAKE_DL_LIBS})
  set_target_properties(hub_clkshim PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  # a shim in the broker: no sanitizer instrumentation of its own
  target_compile_options(hub_clkshim PRIVATE -fno-sanitize=all)
  target_link_options(hub_clkshim PRIVATE -fno-sanitize=all)
  foreach(t clock pki telemetry dps_prune monitor_rotate cert_reload)
    tma_add_script_test(NAME hub_${t} SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/hub_${t}.sh
      LABELS integration TIMEOUT 120)
  endforeach()
  # The hub attacked like a hostile device would (brief HUBSEC): credentials
  # (key usage, validity, DPS re-provisioning, SAS key length) and packets
  # (256 KB without PUBACK, forged method responses, hostile twin PATCHes),
  # CLI and registry (shared --state folders, corruption, concurrency).
  # TLS shim: a resumed session keeps its chain whatever other clients send
  # (hub_sec_collide makes leaves that collide with a victim's table slot).
  add_executable(hub_sec_collide integration/hub_sec_collide.c)
  target_link_libraries(hub_sec_collide PRIVATE OpenSSL::Crypto)
  foreach(t auth packets cli tls)
    tma_add_script_test(NAME hub_sec_${t} SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/hub_sec_${t}.sh
      LABELS integration TIMEOUT 60)
  endforeach()
endif()
if(TARGET localhub_parse)
  tma_add_fuzz(NAME hub_parse SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_hub_parse.c
    LIBS localhub_parse CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/hub/fuzz)
  if(TARGET fuzz_hub_parse)
    target_compile_definitions(fuzz_hub_parse PRIVATE _POSIX_C_SOURCE=200809L)
  endif()
endif()
# Official Azure IoT Node.js SDK against localhub (vendored packages, offline).
# Skipped (exit 77) where node is not installed.
if(TARGET localhub)
  tma_add_script_test(NAME hub_interop_node SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/interop/hub_node_sdk.sh
    LABELS "integration;interop" TIMEOUT 180)
  set_tests_properties(hub_interop_node PROPERTIES SKIP_RETURN_CODE 77)
  # its ModuleClient against localhub's module identities (brief NODEMOD)
  tma_add_script_test(NAME hub_interop_node_module SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/interop/hub_node_sdk_module.sh
    LABELS "integration;interop" TIMEOUT 120)
  set_tests_properties(hub_interop_node_module PROPERTIES SKIP_RETURN_CODE 77)
endif()
# Our own device client (examples/iothub-*) against localhub.
if(TARGET localhub AND TARGET iothub_telemetry AND TARGET iothub_twin_methods AND TARGET iothub_dps)
  tma_add_script_test(NAME hub_e2e_devclient SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hub_e2e_devclient.sh
    LABELS e2e TIMEOUT 120)
  # Security by default (docs/security.md): no secret in logs, outputs or
  # files others can read, under umask 000; needs the trustm CLI too.
  if(TARGET trustm-cli)
    tma_add_script_test(NAME sec_no_secrets SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/sec_no_secrets.sh
      LABELS e2e TIMEOUT 180)
  endif()
endif()
if(TARGET localhub_core)
  tma_add_fuzz(NAME hub_twin SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_hub_twin.c
    LIBS localhub_core CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/hub/fuzz_twin)
  if(TARGET fuzz_hub_twin)
    target_compile_definitions(fuzz_hub_twin PRIVATE _POSIX_C_SOURCE=200809L)
  endif()
endif()
# Module identities (brief HUBMOD): the samples as modules, X.509 with the key
# in the simulated chip and SAS; ACL and registry checks with raw clients.
if(TARGET localhub AND TARGET iothub_telemetry AND TARGET iothub_twin_methods AND TARGET trustm-cli AND TARGET trustm-sim)
  tma_add_script_test(NAME hub_e2e_module SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hub_e2e_module.sh
    LABELS e2e TIMEOUT 120)
  set_tests_properties(hub_e2e_module PROPERTIES ENVIRONMENT
    "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR};IOTHUB_SAMPLES=$<TARGET_FILE_DIR:iothub_telemetry>;TRUSTM_CLI=$<TARGET_FILE:trustm-cli>;TRUSTM_SIM=$<TARGET_FILE:trustm-sim>;LOCALHUB=$<TARGET_FILE:localhub>")
endif()
if(TARGET localhub AND TARGET hub_mqttc)
  tma_add_script_test(NAME hub_e2e_module_acl SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/e2e/hub_e2e_module_acl.sh
    LABELS e2e TIMEOUT 120)
endif()
