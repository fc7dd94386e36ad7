# libtrustm's link and network layers against chip frames no other test sent
# (presentation bit mismatch, a data frame carrying a NAK, a frame longer
# than negotiated), over the scripted fake port of trustm_stack.cmake
# (included first by the glob). Found by scripts/coverage (docs/coverage.md).
if(TARGET trustm_stack_only AND TARGET tma_testlib
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/unit/trustm_link_hostile.c)
  tma_add_test(NAME trustm_stack_unit_hostile
    SOURCES unit/trustm_link_hostile.c unit/trustm_fakeport.c
    LIBS trustm_stack_only tma_testlib LABELS unit)
endif()
