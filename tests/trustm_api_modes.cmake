# libtrustm algorithm variants no other test sends to the chip (PRF/HKDF and
# HMAC with SHA-384/512, RSA 2048 with SHA-384/512 and an inline 2048-bit
# key), against the in-process simulator, plain and shielded; results
# recomputed with mbedTLS. Found by scripts/coverage (docs/coverage.md).
if(TARGET trustm AND TARGET trustm_sim AND TARGET tma_port
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/trustm_api_modes.c)
  tma_add_test(NAME trustm_cmd_it_modes_plain SOURCES integration/trustm_api_modes.c
    LIBS trustm trustm_sim tma_port mbedcrypto LABELS integration ARGS plain TIMEOUT 300)
  add_test(NAME trustm_cmd_it_modes_shield COMMAND trustm_cmd_it_modes_plain shield)
  set_tests_properties(trustm_cmd_it_modes_shield PROPERTIES LABELS integration TIMEOUT 300)
endif()
