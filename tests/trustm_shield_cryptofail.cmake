# The shielded connection when the platform crypto provider (AES, HMAC)
# fails: a protected command ends with SHIELD CRYPTO and returns nothing, a
# handshake fails, and the context recovers once the provider works again.
# Found by scripts/coverage (docs/coverage.md).
if(TARGET trustm AND TARGET trustm_sim AND TARGET tma_port
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/trustm_shield_cryptofail.c)
  tma_add_test(NAME trustm_stack_it_cryptofail SOURCES integration/trustm_shield_cryptofail.c
    LIBS trustm trustm_sim tma_port mbedcrypto LABELS integration)
endif()
