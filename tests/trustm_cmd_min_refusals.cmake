# The command layer without RSA (trustm_cmd_only_min of trustm_cmd.cmake,
# included first by the glob) refuses RSA key generation and RSA signature
# schemes before any APDU. Found by scripts/coverage (docs/coverage.md).
if(TARGET trustm_cmd_only_min AND TARGET tma_testlib
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/unit/trustm_cmd_min_refusals.c)
  tma_add_test(NAME trustm_cmd_unit_min_refusals
    SOURCES unit/trustm_cmd_min_refusals.c unit/trustm_cmd_fake.c
    LIBS trustm_cmd_only_min tma_testlib LABELS unit)
endif()
