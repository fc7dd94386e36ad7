# Helpers shared by every component's CMakeLists.txt.

# Device-core targets (libtrustm, MQTT, IoT client, TLS glue): C99, stricter
# warnings, no OS assumptions.
function(tma_core_target target)
  set_target_properties(${target} PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wconversion -Wsign-conversion
    -Wmissing-prototypes -Wstrict-prototypes -Wcast-qual -Wundef)
endfunction()

# tma_add_test(NAME name SOURCES a.c b.c LIBS x y LABELS unit [ARGS ...] [TIMEOUT s])
# A C test program registered with ctest.
function(tma_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests/lib)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# tma_add_script_test(NAME name SCRIPT path LABELS l [TIMEOUT s])
# A shell test (integration / e2e); it gets TMA_SOURCE_DIR and TMA_BUILD_DIR.
function(tma_add_script_test)
  cmake_parse_arguments(T "" "NAME;SCRIPT;TIMEOUT" "LABELS;ARGS" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND bash ${T_SCRIPT} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "TMA_SOURCE_DIR=${PROJECT_SOURCE_DIR};TMA_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()

# tma_add_fuzz(NAME name SOURCES f.c LIBS x CORPUS dir)
# With TMA_FUZZ (clang): a libFuzzer binary and a short run as a test.
# Without: the same target linked with a replay driver that runs the seed
# corpus plus deterministic mutations of it, so every normal test run still
# exercises the parser under ASan/UBSan.
function(tma_add_fuzz)
  cmake_parse_arguments(F "" "NAME;CORPUS" "SOURCES;LIBS" ${ARGN})
  set(exe fuzz_${F_NAME})
  if(TMA_FUZZ)
    add_executable(${exe} ${F_SOURCES})
    target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${exe} PRIVATE ${F_LIBS})
    target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests/lib)
    set(work ${CMAKE_CURRENT_BINARY_DIR}/${exe}.corpus)
    add_test(NAME ${exe} COMMAND ${CMAKE_COMMAND} -E env
      sh -c "mkdir -p '${work}' && exec '$<TARGET_FILE:${exe}>' -runs=${TMA_FUZZ_RUNS} -seed=1 -max_len=4096 -timeout=10 '${work}' '${F_CORPUS}'")
    set_tests_properties(${exe} PROPERTIES LABELS fuzz TIMEOUT 600)
    # for scripts/fuzz (long runs on demand): binary and seed corpus, one
    # line each, written to fuzz_targets.txt by the top-level CMakeLists
    set_property(GLOBAL APPEND_STRING PROPERTY TMA_FUZZ_TARGETS "$<TARGET_FILE:${exe}> ${F_CORPUS}\n")
  else()
    add_executable(${exe} ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_driver.c)
    target_link_libraries(${exe} PRIVATE ${F_LIBS})
    target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests/lib)
    add_test(NAME ${exe} COMMAND ${exe} ${F_CORPUS})
    set_tests_properties(${exe} PROPERTIES LABELS "fuzz;replay" TIMEOUT 300)
  endif()
endfunction()
