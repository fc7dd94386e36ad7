#!/usr/bin/env bash
# Footprint of the whole X.509 device firmware on a Cortex-M4 (issue 6): the
# image qemu_tls_m4 runs (tests/qemu/tls_fw: libtrustm with shielding,
# mbedTLS 2.28 built bare-metal with tests/qemu/tls_fw/mbedtls_config_m4.h,
# the TLS binding, MQTT, the IoT Hub client with the flash-log outbox, the
# QEMU board glue), gcc -Os -mthumb -mcpu=cortex-m4, --gc-sections,
# newlib-nano. Prints text/data/bss of the linked image, text+rodata+data by
# origin (our code by component, mbedTLS by module, libc), and the static RAM
# the image reserves (bss: mbedTLS heap, stack, buffers). The run-time
# numbers (heap high-water mark, stack depths, chip commands per connect)
# come from the test: ctest -R qemu_tls_m4 -V (docs/qemu-m4.md).
# Usage: bench/device_fw_size.sh [CACHE_DIR]   (default: a temporary folder;
#        the mbedTLS source comes from scripts/mbedtls-source)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
Q="$ROOT/tests/qemu"
fail() { echo "device_fw_size: $*" >&2; exit 1; }
for t in arm-none-eabi-gcc arm-none-eabi-size python3; do
  command -v "$t" >/dev/null || fail "$t not found (scripts/setup installs it)"
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CACHE=${1:-$W/mbedtls}
# shellcheck source=tests/qemu/tls_fw/build.sh
. "$Q/tls_fw/build.sh"
tls_fw_build "$CACHE" "$W/fw" >"$W/build.log" || { cat "$W/build.log"; exit 1; }
python3 "$Q/tls_check.py" sizes "$W/fw/fw.map" "$W/fw/fw.elf" --detail
heap=$(sed -n 's/^#define TLS_HEAP_SIZE (\([0-9]*\)u \* 1024u)$/\1/p' "$Q/tls_fw/main.c")
echo "static RAM (bss objects of 256 B or more; the stack, 16 KB, is the linker script's):"
echo "  (mbedTLS heap: TLS_HEAP_SIZE ${heap} KB; hub_fw's nor: the outbox's RAM-backed flash, on an MCU its flash)"
arm-none-eabi-nm -S --size-sort -t d "$W/fw/fw.elf" | awk '$3 ~ /^[bB]$/ && $2 + 0 >= 256 {printf "  bss %-28s %6d B\n", $4, $2 + 0}'
