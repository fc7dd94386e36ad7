# FOOTPRINT-STACK: the whole library built with TRUSTM_CFG_SHIELD=0 (the
# configuration bench/footprint.sh measures as *-noshield, whose stack code
# differs from the default build) runs the plain API test against the
# in-process simulator, so the plain-only build is exercised, not only
# compiled. TRUSTM_CFG_SHIELD=0 is PUBLIC: the test sees the same
# struct trustm layout as the library.
if(TARGET trustm_sim AND TARGET tma_common
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/trustm_api.c)
  file(GLOB TRUSTM_VARIANT_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/trustm/*.c
    ${PROJECT_SOURCE_DIR}/src/trustm_host/*.c)
  add_library(trustm_noshield STATIC ${TRUSTM_VARIANT_SOURCES})
  target_include_directories(trustm_noshield PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src/trustm)
  target_compile_definitions(trustm_noshield PUBLIC TRUSTM_CFG_SHIELD=0)
  target_link_libraries(trustm_noshield PUBLIC tma_common)
  tma_core_target(trustm_noshield)
  tma_add_test(NAME trustm_stack_it_noshield SOURCES integration/trustm_api.c
    LIBS trustm_noshield trustm_sim mbedtls mbedx509 mbedcrypto LABELS integration ARGS plain)
  target_compile_definitions(trustm_stack_it_noshield PRIVATE _POSIX_C_SOURCE=200809L)
endif()

# The whole library with RSA and V3 commands compiled out (TRUSTM_CFG_RSA=0,
# TRUSTM_CFG_V3=0: the switches of include/trustm/config.h that
# bench/footprint.sh measures as full-*-norsa-nov3), shielding kept: the
# API test, plain and shielded, against the in-process simulator, so the
# configuration a size-bound device picks runs, not only compiles. The
# shield's mbedTLS operations come from port/crypto_mbedtls.c directly
# (tma_port links the default library).
if(TARGET trustm_sim AND TARGET tma_common
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/trustm_api.c)
  add_library(trustm_norsa_nov3 STATIC ${TRUSTM_VARIANT_SOURCES})
  target_include_directories(trustm_norsa_nov3 PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src/trustm)
  target_compile_definitions(trustm_norsa_nov3 PUBLIC TRUSTM_CFG_RSA=0 TRUSTM_CFG_V3=0)
  target_link_libraries(trustm_norsa_nov3 PUBLIC tma_common)
  tma_core_target(trustm_norsa_nov3)
  tma_add_test(NAME trustm_stack_it_norsa_nov3
    SOURCES integration/trustm_api.c ${PROJECT_SOURCE_DIR}/port/crypto_mbedtls.c
    LIBS trustm_norsa_nov3 trustm_sim mbedtls mbedx509 mbedcrypto LABELS integration ARGS plain)
  target_compile_definitions(trustm_stack_it_norsa_nov3 PRIVATE _POSIX_C_SOURCE=200809L)
  add_test(NAME trustm_stack_it_norsa_nov3_shield COMMAND trustm_stack_it_norsa_nov3 shield)
  set_tests_properties(trustm_stack_it_norsa_nov3_shield PROPERTIES LABELS integration TIMEOUT 120)
endif()
