# libtrustm EXECUTING on an emulated Cortex-M4 (QEMU mps2-an386) against the
# trustm-sim daemon: the bare-metal port template, the board glue in
# tests/qemu, checks with openssl and the simulator's statistics, negative
# cases. docs/qemu-m4.md. Prefix: qemu_. Fails (does not skip) without
# qemu-system-arm or arm-none-eabi-gcc: scripts/setup installs both.
if(TARGET trustm-sim AND TARGET trustm-cli)
  tma_add_script_test(NAME qemu_m4 SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/qemu/qemu_m4.sh
    LABELS integration TIMEOUT 120 ARGS $<TARGET_FILE:trustm-sim> $<TARGET_FILE:trustm-cli>)
endif()
