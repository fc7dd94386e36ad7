# Portability of the device-side core (DEVELOPERS.md: C99, no heap, no OS
# calls): it builds for a Cortex-M4 with the core's warnings as errors, and a
# bare-metal image on the port template links without any system stubs.
# Prefix: port_.
tma_add_script_test(NAME port_cross_m4 SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/port_cross_m4.sh
  LABELS integration TIMEOUT 120)

# The trustm-sim socket port against peers that are not a simulator (silent,
# half a reply, closing): a timeout or I/O status in bounded time, never a hang.
if(TARGET tma_port)
  tma_add_test(NAME port_simsock SOURCES unit/test_port_simsock.c LIBS tma_port tma_testlib LABELS unit)
  target_compile_definitions(port_simsock PRIVATE _POSIX_C_SOURCE=200809L)
endif()
