# libtrustm's physical layer against a register model whose answers and
# failures each test sets (frame size granted out of range, soft reset not
# supported, bus errors other than NACK). Found by scripts/coverage
# (docs/coverage.md). Links the stack alone, as trustm_stack_unit does.
if(TARGET trustm_stack_only AND TARGET tma_testlib
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/unit/trustm_phys_regchip.c)
  tma_add_test(NAME trustm_stack_unit_regchip SOURCES unit/trustm_phys_regchip.c
    LIBS trustm_stack_only tma_testlib LABELS unit)
endif()
