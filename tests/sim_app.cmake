# SIM-APP: tests of the simulator application (sim/app_*.c) through
# sim_app_execute, without the bus. Test names start with sim_app_.
if(TARGET trustm_sim)
  add_library(sim_app_testutil STATIC unit/sim_app_util.c)
  target_include_directories(sim_app_testutil PUBLIC ${PROJECT_SOURCE_DIR}/sim
    ${CMAKE_CURRENT_SOURCE_DIR}/unit)
  target_link_libraries(sim_app_testutil PUBLIC trustm_sim tma_testlib)

  tma_add_test(NAME sim_app_unit_core SOURCES unit/sim_app_core.c LIBS sim_app_testutil LABELS unit)
endif()
if(TARGET trustm_sim)
  tma_add_test(NAME sim_app_vectors SOURCES vectors/sim_app_vectors.c LIBS sim_app_testutil
    LABELS vectors ARGS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/sim_app)
endif()
if(TARGET trustm_sim)
  tma_add_test(NAME sim_app_unit_crypto SOURCES unit/sim_app_crypto.c LIBS sim_app_testutil LABELS unit)
  tma_add_test(NAME sim_app_unit_objects SOURCES unit/sim_app_objects.c LIBS sim_app_testutil LABELS unit)
  tma_add_test(NAME sim_app_unit_persist SOURCES unit/sim_app_persist.c LIBS sim_app_testutil LABELS unit)
  tma_add_test(NAME sim_app_unit_protupd SOURCES unit/sim_app_protupd.c LIBS sim_app_testutil LABELS unit)
  tma_add_fuzz(NAME sim_apdu SOURCES fuzz/fuzz_sim_apdu.c LIBS trustm_sim
    CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/sim_apdu)
  target_include_directories(fuzz_sim_apdu PRIVATE ${PROJECT_SOURCE_DIR}/sim)
  # the shared replay driver needs scandir() (POSIX 2008) under -std=c11
  target_compile_definitions(fuzz_sim_apdu PRIVATE _POSIX_C_SOURCE=200809L)
  tma_add_fuzz(NAME sim_state SOURCES fuzz/fuzz_sim_state.c LIBS trustm_sim
    CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/sim_state)
  target_include_directories(fuzz_sim_state PRIVATE ${PROJECT_SOURCE_DIR}/sim)
  target_compile_definitions(fuzz_sim_state PRIVATE _POSIX_C_SOURCE=200809L)
endif()
# Through the daemon (SIM-PROTO's trustm-sim): persistence across restarts and kill -9.
if(TARGET trustm_sim AND TARGET trustm-sim)
  add_executable(sim_app_client integration/sim_app_client.c)
  tma_add_script_test(NAME sim_app_persist SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/sim_app_persist.sh
    LABELS integration TIMEOUT 180 ARGS $<TARGET_FILE:trustm-sim> $<TARGET_FILE:sim_app_client>)
endif()
