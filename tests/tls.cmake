# TLS binding tests (prefix tls_). Needs openssl on PATH for the script tests.
if(TARGET tma_tls)
  add_library(tls_soft_signer STATIC integration/tls_soft_signer.c)
  target_link_libraries(tls_soft_signer PUBLIC tma_tls)
  target_include_directories(tls_soft_signer PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/integration)

  add_executable(tls_test_client integration/tls_test_client.c)
  target_link_libraries(tls_test_client PRIVATE tls_soft_signer)
  if(TARGET tma_port AND EXISTS ${PROJECT_SOURCE_DIR}/port/tcp_posix.c)
    # --lower-tcp: TLS over the project's TCP transport (port/tcp_posix.c).
    target_link_libraries(tls_test_client PRIVATE tma_port)
    target_compile_definitions(tls_test_client PRIVATE TLS_TEST_HAVE_TCP)
  endif()

  tma_add_test(NAME tls_unit_key SOURCES unit/tls_key_test.c
               LIBS tls_soft_signer tma_testlib LABELS unit)
  tma_add_script_test(NAME tls_handshake SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_handshake.sh
                      LABELS integration TIMEOUT 120)
  set_property(TEST tls_handshake APPEND PROPERTY ENVIRONMENT
               "TLS_TEST_CLIENT=$<TARGET_FILE:tls_test_client>")
  # A hostile server's certificates (brief HUBSEC): not valid yet, wrong
  # extended key usage, SAN for another host, missing intermediate, issued
  # by a leaf, self-signed; each refused with a reason that names it.
  tma_add_script_test(NAME tls_sec_verify SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_sec_verify.sh
                      LABELS integration TIMEOUT 60)
  set_property(TEST tls_sec_verify APPEND PROPERTY ENVIRONMENT
               "TLS_TEST_CLIENT=$<TARGET_FILE:tls_test_client>")
  # The security review (docs/decisions/tls-review.md): weak curves and
  # hashes, trickling and stalled servers, hostile chains.
  tma_add_script_test(NAME tls_hostile SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_hostile.sh
                      LABELS integration TIMEOUT 90)
  set_property(TEST tls_hostile APPEND PROPERTY ENVIRONMENT
               "TLS_TEST_CLIENT=$<TARGET_FILE:tls_test_client>")
  tma_add_fuzz(NAME tls_parse SOURCES fuzz/fuzz_tls_parse.c LIBS tma_tls
               CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/tls/fuzz)
endif()
# The foundation's replay driver uses scandir(), which strict C11 hides.
if(TARGET fuzz_tls_parse AND NOT TMA_FUZZ)
  target_compile_definitions(fuzz_tls_parse PRIVATE _POSIX_C_SOURCE=200809L)
endif()

# trustm CLI against the simulator (in process and the trustm-sim daemon).
if(TARGET trustm-cli AND TARGET trustm-sim)
  # The CLI's argument parsers (pure parts of tools/, no device).
  tma_add_fuzz(NAME tls_cli_args SOURCES fuzz/fuzz_tls_cli_args.c
               ${PROJECT_SOURCE_DIR}/tools/trustm_acparse.c ${PROJECT_SOURCE_DIR}/tools/trustm_util.c
               LIBS tma_tls trustm tma_port CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/tls/fuzz_cli)
  target_include_directories(fuzz_tls_cli_args PRIVATE ${PROJECT_SOURCE_DIR}/tools)
  # The protected-update manifest reader 'update apply' runs on a user's file.
  tma_add_fuzz(NAME tls_cli_manifest SOURCES fuzz/fuzz_tls_cli_manifest.c
               ${PROJECT_SOURCE_DIR}/tools/trustm_manifest.c
               LIBS trustm CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/tls/fuzz_manifest)
  target_include_directories(fuzz_tls_cli_manifest PRIVATE ${PROJECT_SOURCE_DIR}/tools)
  set_source_files_properties(${PROJECT_SOURCE_DIR}/tools/trustm_util.c
    PROPERTIES COMPILE_DEFINITIONS _DEFAULT_SOURCE)
  # read_file() leaves no copy of a file (a secret, maybe) in memory it
  # releases: free() and realloc() wrapped to search released blocks.
  tma_add_test(NAME tls_cli_unit_readfile SOURCES unit/tls_cli_readfile_test.c
               ${PROJECT_SOURCE_DIR}/tools/trustm_acparse.c ${PROJECT_SOURCE_DIR}/tools/trustm_util.c
               LIBS tma_tls trustm tma_port LABELS unit)
  target_include_directories(tls_cli_unit_readfile PRIVATE ${PROJECT_SOURCE_DIR}/tools)
  target_compile_definitions(tls_cli_unit_readfile PRIVATE _DEFAULT_SOURCE)
  target_link_options(tls_cli_unit_readfile PRIVATE -Wl,--wrap=free -Wl,--wrap=realloc)
  foreach(t personalize badinput commands install failstep update)
    tma_add_script_test(NAME tls_cli_${t}
      SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_cli_${t}.sh LABELS integration TIMEOUT 180)
    set_property(TEST tls_cli_${t} APPEND PROPERTY ENVIRONMENT
      "TRUSTM_CLI=$<TARGET_FILE:trustm-cli>" "TRUSTM_SIM=$<TARGET_FILE:trustm-sim>")
  endforeach()
endif()

# The CLI over libtrustm's i2c-dev port, through the LD_PRELOAD shim that
# tests/trustm_stack.cmake builds (registered once every tests/*.cmake ran).
function(tls_register_i2cdev_test)
  if(TARGET trustm-cli AND TARGET trustm-sim AND TARGET trustm_i2cdev_shim)
    tma_add_script_test(NAME tls_cli_i2cdev
      SCRIPT ${PROJECT_SOURCE_DIR}/tests/integration/tls_cli_i2cdev.sh LABELS integration TIMEOUT 180)
    set_property(TEST tls_cli_i2cdev APPEND PROPERTY ENVIRONMENT
      "TRUSTM_CLI=$<TARGET_FILE:trustm-cli>" "TRUSTM_SIM=$<TARGET_FILE:trustm-sim>"
      "TRUSTM_I2C_SHIM=$<TARGET_FILE:trustm_i2cdev_shim>")
  endif()
endfunction()
cmake_language(DEFER CALL tls_register_i2cdev_test)

# The ClientHello of the Cortex-M4 build (QEMU, as qemu_tls_m4; shares its
# M4 mbedTLS archive): every signature_algorithms entry names a hash the
# build has, every group is of 128-bit security (docs/decisions/tls-review.md).
if(TARGET trustm-sim AND TARGET trustm-cli AND TARGET localhub)
  tma_add_script_test(NAME tls_m4_client_hello SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/tls_m4_client_hello.sh
    LABELS integration TIMEOUT 120
    ARGS $<TARGET_FILE:trustm-sim> $<TARGET_FILE:trustm-cli> $<TARGET_FILE:localhub>
         ${PROJECT_BINARY_DIR}/qemu_tls_m4)
endif()
