# LIB-STACK tests: libtrustm's protocol stack (physical, link, network,
# presentation layers). Unit tests link the stack sources on their own so
# they do not depend on the command layer; the layer below is a scripted
# fake port (tests/unit/trustm_fakeport.c).
set(TRUSTM_STACK_SOURCES
  ${PROJECT_SOURCE_DIR}/src/trustm/link.c
  ${PROJECT_SOURCE_DIR}/src/trustm/net.c
  ${PROJECT_SOURCE_DIR}/src/trustm/ccm.c
  ${PROJECT_SOURCE_DIR}/src/trustm/shield.c
  ${PROJECT_SOURCE_DIR}/src/trustm/phys.c
  ${PROJECT_SOURCE_DIR}/src/trustm/transceive.c
  ${PROJECT_SOURCE_DIR}/port/crypto_mbedtls.c)

add_library(trustm_stack_only STATIC ${TRUSTM_STACK_SOURCES})
target_include_directories(trustm_stack_only PUBLIC ${PROJECT_SOURCE_DIR}/include
  ${PROJECT_SOURCE_DIR}/src/trustm)
target_link_libraries(trustm_stack_only PUBLIC tma_common mbedcrypto)

tma_add_test(NAME trustm_stack_unit
  SOURCES unit/trustm_stack_test.c unit/trustm_fakeport.c
  LIBS trustm_stack_only tma_testlib LABELS unit)

foreach(f frame chain record)
  tma_add_fuzz(NAME trustm_${f} SOURCES fuzz/fuzz_trustm_${f}.c
    LIBS trustm_stack_only
    CORPUS ${PROJECT_SOURCE_DIR}/tests/vectors/trustm/fuzz/${f})
  # the gcc replay driver uses scandir()
  target_compile_definitions(fuzz_trustm_${f} PRIVATE _POSIX_C_SOURCE=200809L)
endforeach()

# Host ports built on their own (tma_port would pull in the whole libtrustm,
# command layer included, which these tests do not need).
set(TRUSTM_STACK_PORTS
  ${PROJECT_SOURCE_DIR}/port/port_open.c
  ${PROJECT_SOURCE_DIR}/port/port_simsock.c
  ${PROJECT_SOURCE_DIR}/port/port_linux_i2c.c
  ${PROJECT_SOURCE_DIR}/port/port_sim.c)

# Simulator-in-the-loop tests, once the simulator builds.
if(TARGET trustm_sim AND EXISTS ${PROJECT_SOURCE_DIR}/include/trustm_sim/sim.h)
  add_library(trustm_stack_ports STATIC ${TRUSTM_STACK_PORTS})
  target_include_directories(trustm_stack_ports PUBLIC ${PROJECT_SOURCE_DIR}/include
    PRIVATE ${PROJECT_SOURCE_DIR}/port)
  target_link_libraries(trustm_stack_ports PUBLIC trustm_sim tma_common)

  tma_add_test(NAME trustm_stack_sim
    SOURCES integration/trustm_stack_sim.c
    LIBS trustm_stack_only trustm_stack_ports trustm_sim mbedx509 mbedcrypto tma_testlib
    LABELS integration TIMEOUT 300 ARGS skip "faults_*")
  # the fault runs (10,000 plain + 2,000 shielded commands) on their own
  add_test(NAME trustm_stack_faults COMMAND trustm_stack_sim only "faults_*")
  set_tests_properties(trustm_stack_faults PROPERTIES LABELS integration TIMEOUT 300)
endif()

# The Linux i2c-dev port through an LD_PRELOAD shim onto the daemon's socket.
if(TARGET trustm_stack_ports AND TARGET trustm-sim)
  add_library(trustm_i2cdev_shim SHARED integration/i2cdev_shim.c)
  target_compile_options(trustm_i2cdev_shim PRIVATE -fno-sanitize=all)
  target_link_options(trustm_i2cdev_shim PRIVATE -fno-sanitize=all)
  target_link_libraries(trustm_i2cdev_shim PRIVATE dl)
  add_executable(trustm_i2cdev_client integration/trustm_i2cdev_client.c)
  target_link_libraries(trustm_i2cdev_client PRIVATE trustm_stack_only trustm_stack_ports)
  tma_add_script_test(NAME trustm_stack_i2cdev
    SCRIPT ${PROJECT_SOURCE_DIR}/tests/integration/trustm_i2cdev.sh LABELS integration TIMEOUT 120)
  add_dependencies(trustm_i2cdev_client trustm_i2cdev_shim trustm-sim)
endif()

# The whole of libtrustm (stack and command layer) against a hostile chip
# model at the I2C register level, plain and shielded
# (tests/fuzz/fuzz_trustm_stack.c says what it checks).
if(TARGET trustm AND TARGET trustm_sim)
  tma_add_fuzz(NAME trustm_stack
    SOURCES fuzz/fuzz_trustm_stack.c ${PROJECT_SOURCE_DIR}/port/crypto_mbedtls.c
    LIBS trustm trustm_sim mbedcrypto
    CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/trustm_stack)
  target_compile_definitions(fuzz_trustm_stack PRIVATE _POSIX_C_SOURCE=200809L)
endif()
