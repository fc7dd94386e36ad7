# LIB-CMD tests: the command layer, metadata, UID, DER and certificate-object
# codecs. The unit tests link the command-layer sources on their own (not the
# whole libtrustm), so a test-only trustm_transceive() can stand in for the
# protocol stack and check the APDU bytes.
set(TRUSTM_CMD_SOURCES
  ${PROJECT_SOURCE_DIR}/src/trustm/apdu.c
  ${PROJECT_SOURCE_DIR}/src/trustm/der.c
  ${PROJECT_SOURCE_DIR}/src/trustm/cmd_data.c
  ${PROJECT_SOURCE_DIR}/src/trustm/cmd_crypt.c
  ${PROJECT_SOURCE_DIR}/src/trustm/cmd_key.c
  ${PROJECT_SOURCE_DIR}/src/trustm/cmd_sym.c
  # trustm_wipe(), the zero fill the command layer shares with the stack
  ${PROJECT_SOURCE_DIR}/src/trustm/ccm.c)
set(TRUSTM_CODEC_SOURCES
  ${PROJECT_SOURCE_DIR}/src/trustm/metadata.c
  ${PROJECT_SOURCE_DIR}/src/trustm_host/metadata_text.c
  ${PROJECT_SOURCE_DIR}/src/trustm_host/uid_names.c
  ${PROJECT_SOURCE_DIR}/src/trustm/uid.c
  ${PROJECT_SOURCE_DIR}/src/trustm/certobj.c)

add_library(trustm_cmd_only STATIC ${TRUSTM_CMD_SOURCES} ${TRUSTM_CODEC_SOURCES})
target_include_directories(trustm_cmd_only PUBLIC ${PROJECT_SOURCE_DIR}/include
  PRIVATE ${PROJECT_SOURCE_DIR}/src/trustm)
target_link_libraries(trustm_cmd_only PUBLIC tma_common)
tma_core_target(trustm_cmd_only)

tma_add_test(NAME trustm_cmd_unit_apdu
  SOURCES unit/trustm_cmd_apdu.c unit/trustm_cmd_fake.c
  LIBS trustm_cmd_only tma_testlib LABELS unit)
tma_add_test(NAME trustm_cmd_unit_codec
  SOURCES unit/trustm_cmd_codec.c unit/trustm_cmd_fake.c
  LIBS trustm_cmd_only tma_testlib LABELS unit)
# The same command layer with RSA, V3 and shielding compiled out: what is
# left still works and the rest answers "not supported".
add_library(trustm_cmd_only_min STATIC ${TRUSTM_CMD_SOURCES} ${TRUSTM_CODEC_SOURCES})
target_include_directories(trustm_cmd_only_min PUBLIC ${PROJECT_SOURCE_DIR}/include
  PRIVATE ${PROJECT_SOURCE_DIR}/src/trustm)
target_compile_definitions(trustm_cmd_only_min PUBLIC TRUSTM_CFG_RSA=0 TRUSTM_CFG_V3=0
  TRUSTM_CFG_SHIELD=0)
target_link_libraries(trustm_cmd_only_min PUBLIC tma_common)
tma_core_target(trustm_cmd_only_min)
tma_add_test(NAME trustm_cmd_unit_apdu_min
  SOURCES unit/trustm_cmd_apdu.c unit/trustm_cmd_fake.c
  LIBS trustm_cmd_only_min tma_testlib LABELS unit)

tma_add_fuzz(NAME trustm_apdu SOURCES fuzz/fuzz_trustm_apdu.c unit/trustm_cmd_fake.c
  LIBS trustm_cmd_only tma_testlib
  CORPUS ${PROJECT_SOURCE_DIR}/tests/vectors/trustm/fuzz/apdu)
if(TARGET fuzz_trustm_apdu)
  target_compile_definitions(fuzz_trustm_apdu PRIVATE _POSIX_C_SOURCE=200809L)
endif()

# Integration: the whole library (stack + commands) against the in-process
# simulator, plain and shielded; results checked with mbedTLS.
if(TARGET trustm AND TARGET trustm_sim AND TARGET tma_port
   AND EXISTS ${PROJECT_SOURCE_DIR}/src/trustm/transceive.c)
  tma_add_test(NAME trustm_cmd_it_api_plain SOURCES integration/trustm_api.c
    LIBS trustm trustm_sim tma_port mbedtls mbedx509 mbedcrypto LABELS integration ARGS plain)
  add_test(NAME trustm_cmd_it_api_shield COMMAND trustm_cmd_it_api_plain shield)
  set_tests_properties(trustm_cmd_it_api_shield PROPERTIES LABELS integration TIMEOUT 120)
  target_compile_definitions(trustm_cmd_it_api_plain PRIVATE _POSIX_C_SOURCE=200809L)
  tma_add_script_test(NAME trustm_cmd_it_api_openssl
    SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/trustm_api_openssl.sh LABELS integration
    TIMEOUT 120)
endif()
