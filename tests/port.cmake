# Portability of the device-side core (DEVELOPERS.md: C99, no heap, no OS
# calls): it builds for a Cortex-M4 with the core's warnings as errors, and a
# bare-metal image on the port template links without any system stubs.
# Prefix: port_.
tma_add_script_test(NAME port_cross_m4 SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/integration/port_cross_m4.sh
  LABELS integration TIMEOUT 120)
