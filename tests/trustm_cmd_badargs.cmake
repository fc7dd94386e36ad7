# libtrustm's command layer and codecs given bad arguments: BAD_PARAM and no
# APDU, for the refusals no test ran (scripts/coverage, docs/coverage.md).
# trustm_cmd_only and the scripted trustm_transceive() come from
# trustm_cmd.cmake, which the glob includes first.
if(TARGET trustm_cmd_only AND TARGET tma_testlib
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/unit/trustm_cmd_badargs.c)
  tma_add_test(NAME trustm_cmd_unit_badargs
    SOURCES unit/trustm_cmd_badargs.c unit/trustm_cmd_fake.c
    LIBS trustm_cmd_only tma_testlib LABELS unit)
  # The same refusals with RSA, V3 and shielding compiled out (the command
  # layer trustm_cmd_unit_apdu_min runs): what is left refuses the same way.
  if(TARGET trustm_cmd_only_min)
    tma_add_test(NAME trustm_cmd_unit_badargs_min
      SOURCES unit/trustm_cmd_badargs.c unit/trustm_cmd_fake.c
      LIBS trustm_cmd_only_min tma_testlib LABELS unit)
  endif()
endif()
