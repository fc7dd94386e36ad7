# FOOTPRINT-STACK: the whole library built with TRUSTM_CFG_SHIELD=0 (the
# configuration bench/footprint.sh measures as *-noshield, whose stack code
# differs from the default build) runs the plain API test against the
# in-process simulator, so the plain-only build is exercised, not only
# compiled. TRUSTM_CFG_SHIELD=0 is PUBLIC: the test sees the same
# struct trustm layout as the library.
if(TARGET trustm_sim AND TARGET tma_common
   AND EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/trustm_api.c)
  file(GLOB TRUSTM_NOSHIELD_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/trustm/*.c
    ${PROJECT_SOURCE_DIR}/src/trustm_host/*.c)
  add_library(trustm_noshield STATIC ${TRUSTM_NOSHIELD_SOURCES})
  target_include_directories(trustm_noshield PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/src/trustm)
  target_compile_definitions(trustm_noshield PUBLIC TRUSTM_CFG_SHIELD=0)
  target_link_libraries(trustm_noshield PUBLIC tma_common)
  tma_core_target(trustm_noshield)
  tma_add_test(NAME trustm_stack_it_noshield SOURCES integration/trustm_api.c
    LIBS trustm_noshield trustm_sim mbedtls mbedx509 mbedcrypto LABELS integration ARGS plain)
  target_compile_definitions(trustm_stack_it_noshield PRIVATE _POSIX_C_SOURCE=200809L)
endif()
