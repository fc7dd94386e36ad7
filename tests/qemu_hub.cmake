# The MQTT client and the IoT Hub device client EXECUTING on an emulated
# Cortex-M4 (QEMU mps2-an386) against a real mosquitto the script starts on a
# random loopback port: SAS CONNECT checked by the broker's password file,
# C2D/twin/method subscriptions, 20 telemetry messages through the outbox on
# the flash log, C2D, a direct method and its answer, a refused CONNECT.
# docs/qemu-m4.md ("The IoT Hub client on the target"). Prefix: qemu_hub_.
# Fails (does not skip) without qemu-system-arm, arm-none-eabi-gcc or
# mosquitto: scripts/setup installs them. Needs no build target: the
# firmware is cross-compiled by the script from the sources.
tma_add_script_test(NAME qemu_hub_m4 SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/qemu/hub_m4.sh
  LABELS integration TIMEOUT 90)
