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
