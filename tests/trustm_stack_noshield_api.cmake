# The shielded-connection API of libtrustm built without it
# (TRUSTM_CFG_SHIELD=0, target trustm_noshield of trustm_stack_noshield.cmake,
# which the glob includes first): every trustm_shield_*() and every protected
# command answer SHIELD UNSUPPORTED, nothing goes on the bus, plain mode still
# works. Found by scripts/coverage (docs/coverage.md).
if(TARGET trustm_noshield AND TARGET trustm_sim
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/trustm_noshield_api.c)
  tma_add_test(NAME trustm_stack_it_noshield_api SOURCES integration/trustm_noshield_api.c
    LIBS trustm_noshield trustm_sim mbedcrypto LABELS integration)
endif()
