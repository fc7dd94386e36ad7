# SIM-PROTO: tests of the simulator's protocol engine (bus, link, network,
# presentation, timing, faults, trace, daemon). The layers are linked with a
# fake application (tests/unit/sim_fake_app.c) into sim_proto_fake, so they
# are tested without the real application; integration tests use the real
# trustm_sim library and the trustm-sim daemon.
set(SIM_PROTO_SOURCES
  ${PROJECT_SOURCE_DIR}/sim/codec.c ${PROJECT_SOURCE_DIR}/sim/timing.c
  ${PROJECT_SOURCE_DIR}/sim/link.c ${PROJECT_SOURCE_DIR}/sim/net.c
  ${PROJECT_SOURCE_DIR}/sim/shield.c ${PROJECT_SOURCE_DIR}/sim/faults.c
  ${PROJECT_SOURCE_DIR}/sim/trace.c ${PROJECT_SOURCE_DIR}/sim/bus.c
  ${PROJECT_SOURCE_DIR}/sim/sim.c ${PROJECT_SOURCE_DIR}/sim/sock.c)
add_library(sim_proto_fake STATIC ${SIM_PROTO_SOURCES} ${CMAKE_CURRENT_SOURCE_DIR}/unit/sim_fake_app.c)
target_include_directories(sim_proto_fake PUBLIC ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/sim
  ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(sim_proto_fake PUBLIC tma_common mbedtls mbedx509 mbedcrypto)

tma_add_test(NAME sim_unit_codec SOURCES unit/sim_codec.c unit/sim_host.c LIBS sim_proto_fake tma_testlib LABELS unit)
tma_add_test(NAME sim_unit_bus SOURCES unit/sim_bus.c unit/sim_host.c LIBS sim_proto_fake tma_testlib LABELS unit)
tma_add_test(NAME sim_unit_link SOURCES unit/sim_link.c unit/sim_host.c LIBS sim_proto_fake tma_testlib LABELS unit)
tma_add_test(NAME sim_unit_shield SOURCES unit/sim_shield.c unit/sim_host.c LIBS sim_proto_fake tma_testlib LABELS unit)
tma_add_test(NAME sim_vectors SOURCES vectors/sim_vectors.c unit/sim_host.c LIBS sim_proto_fake tma_testlib
  LABELS vectors ARGS ${CMAKE_CURRENT_SOURCE_DIR}/vectors/sim)
tma_add_fuzz(NAME sim_rx SOURCES fuzz/fuzz_sim_rx.c LIBS sim_proto_fake CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/sim_rx)
target_include_directories(fuzz_sim_rx PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
# the replay driver uses scandir (POSIX 2008)
target_compile_definitions(fuzz_sim_rx PRIVATE _POSIX_C_SOURCE=200809L)

# Against the real application (sim/app_*.c) and the daemon, once they exist.
file(GLOB SIM_APP_SOURCES ${PROJECT_SOURCE_DIR}/sim/app_*.c)
if(TARGET trustm_sim AND SIM_APP_SOURCES AND TARGET trustm-sim
   AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/sim_rawclient.c)
  tma_add_test(NAME sim_int_rawclient SOURCES integration/sim_rawclient.c LIBS tma_common mbedtls mbedx509 mbedcrypto
    LABELS integration ARGS $<TARGET_FILE:trustm-sim>)
  tma_add_script_test(NAME sim_int_daemon SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/sim_daemon.sh
    LABELS integration TIMEOUT 120)
endif()

# Infineon's i2c-dev access pattern (I2C_SLAVE + plain write/read) through the
# LD_PRELOAD shim that tests/trustm_stack.cmake builds (registered once every
# tests/*.cmake ran, as that file comes later).
function(sim_register_i2cdev_plain_test)
  if(TARGET trustm-sim AND TARGET trustm_i2cdev_shim)
    tma_add_script_test(NAME sim_int_i2cdev_plain
      SCRIPT ${PROJECT_SOURCE_DIR}/tests/integration/sim_i2cdev_plain.sh LABELS integration TIMEOUT 120)
    set_property(TEST sim_int_i2cdev_plain APPEND PROPERTY ENVIRONMENT
      "TRUSTM_SIM=$<TARGET_FILE:trustm-sim>" "TRUSTM_I2C_SHIM=$<TARGET_FILE:trustm_i2cdev_shim>")
  endif()
endfunction()
cmake_language(DEFER CALL sim_register_i2cdev_plain_test)
