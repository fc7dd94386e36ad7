# The whole X.509 device on an emulated Cortex-M4 (QEMU mps2-an386): libtrustm
# against trustm-sim on UART0, mbedTLS 2.28 built bare-metal from Debian's
# source (scripts/mbedtls-source) with the chip key signing the handshake,
# TLS on UART1 to openssl s_server and to localhub, the IoT Hub client with
# X.509 on top; negative runs (untrusted server, unknown device CA).
# docs/qemu-m4.md ("TLS on the target"). Prefix: qemu_. Fails (does not skip)
# without the cross compiler, QEMU or the mbedTLS source: scripts/setup
# provides them. The M4 mbedTLS archive is kept in the build tree.
if(TARGET trustm-sim AND TARGET trustm-cli AND TARGET localhub)
  tma_add_script_test(NAME qemu_tls_m4 SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/qemu/tls_m4.sh
    LABELS integration TIMEOUT 120
    ARGS $<TARGET_FILE:trustm-sim> $<TARGET_FILE:trustm-cli> $<TARGET_FILE:localhub>
         ${PROJECT_BINARY_DIR}/qemu_tls_m4)
endif()
# Reconnects on the target: the same firmware behind a relay the host cuts
# (tests/qemu/tls_relay.py), the outbox's replay, the client's back-off and
# TLS session resumption (0 CalcSign per resumed reconnect) checked at the
# hub and at the simulator; a full and a resumed handshake counted under
# -icount. Shares the M4 mbedTLS archive with qemu_tls_m4 (build.sh locks it).
if(TARGET trustm-sim AND TARGET trustm-cli AND TARGET localhub)
  tma_add_script_test(NAME qemu_tls_m4_reconnect SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/qemu/tls_reconnect_m4.sh
    LABELS integration TIMEOUT 120
    ARGS $<TARGET_FILE:trustm-sim> $<TARGET_FILE:trustm-cli> $<TARGET_FILE:localhub>
         ${PROJECT_BINARY_DIR}/qemu_tls_m4)
endif()
