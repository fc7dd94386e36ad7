#!/usr/bin/env bash
# The device-side core builds for a Cortex-M4 and links into a bare-metal
# image with no operating system under it (DEVELOPERS.md: C99, no heap, no
# OS calls in libtrustm, MQTT and the IoT client, so they port to ESP32 and
# Cortex-M).
#
# 1. Every core source (libtrustm with and without shielding, MQTT, the IoT
#    Hub and DPS client, the status table) and the bare-metal port template
#    (port/baremetal) compile with arm-none-eabi-gcc -std=c99 and the core's
#    warning set as errors (32-bit size_t and int: warnings x86-64 does not
#    show).
# 2. A firmware image that drives the chip through the bare-metal port (open,
#    read a certificate, random, sign, close) and runs the IoT Hub client and
#    the DPS client links with --gc-sections against newlib-nano WITHOUT the
#    nosys stubs: a call into malloc, stdio, time or any other system service
#    would leave an undefined _sbrk/_write/... and the link would fail.
# 3. The image holds none of the heap, stdio or process symbols by name.
# Needs gcc-arm-none-eabi and libnewlib-arm-none-eabi (scripts/setup).
set -euo pipefail
ROOT=${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CC=arm-none-eabi-gcc
command -v $CC >/dev/null || { echo "FAIL: $CC not installed (scripts/setup installs gcc-arm-none-eabi)"; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
ARCH="-mthumb -mcpu=cortex-m4"
CFLAGS="-std=c99 -Os $ARCH -ffunction-sections -fdata-sections -Wall -Wextra -Werror -Wconversion
  -Wsign-conversion -Wmissing-prototypes -Wstrict-prototypes -Wcast-qual -Wundef -Wshadow -I$ROOT/include"

fail() { echo "FAIL: $*"; exit 1; }
n=0
cc() { # out src extra-flags...
  local out=$1 src=$2; shift 2
  # shellcheck disable=SC2086
  $CC $CFLAGS "$@" -c "$src" -o "$out" 2>"$W/err" || { cat "$W/err"; fail "$src does not build for Cortex-M4 ($*)"; }
  n=$((n + 1))
}

# 1. every core source, and the port template
for s in 1 0; do
  mkdir -p "$W/trustm$s"
  for f in "$ROOT"/src/trustm/*.c; do
    cc "$W/trustm$s/$(basename "$f" .c).o" "$f" -I"$ROOT/src/trustm" -DTRUSTM_CFG_SHIELD=$s
  done
done
mkdir -p "$W/net"
for f in "$ROOT"/src/mqtt/*.c "$ROOT"/src/iothub/*.c "$ROOT"/src/common/*.c; do
  cc "$W/net/$(basename "$(dirname "$f")")_$(basename "$f" .c).o" "$f" -I"$ROOT/src/iothub"
done
cc "$W/port.o" "$ROOT/port/baremetal/trustm_port_baremetal.c"
echo "ok: $n objects build for Cortex-M4 with the core's warnings as errors"

# 2. a firmware image: the board glue the port template asks for, a vector
# table, and an application on the public APIs
cat >"$W/fw.c" <<'C'
#include "iothub/client.h"
#include "iothub/dps_client.h"
#include "iothub/outbox.h"
#include "trustm/cmd.h"
#include "trustm/trustm.h"

extern const struct trustm_port trustm_port_baremetal;
volatile uint32_t g_ms_ticks;
volatile uint8_t i2c_reg;
int board_i2c_write(uint8_t addr, const uint8_t *p, uint16_t n);
int board_i2c_read(uint8_t addr, uint8_t *p, uint16_t n);
void board_rst_pin(int level);
int board_i2c_write(uint8_t addr, const uint8_t *p, uint16_t n) { i2c_reg = (uint8_t)(addr + (n ? p[0] : 0)); return 0; }
int board_i2c_read(uint8_t addr, uint8_t *p, uint16_t n) { while (n--) { *p++ = (uint8_t)(addr ^ i2c_reg); } return 0; }
void board_rst_pin(int level) { i2c_reg = (uint8_t)level; }

static struct trustm chip;
static uint8_t cert[1728], rnd[32], sig[80];
static const uint8_t digest[32] = {1};
static struct iothub_client hub;
static struct iothub_client_config hub_cfg;
static struct dps_client dps;
static struct dps_client_config dps_cfg;
static struct iothub_outbox outbox;
static struct iothub_storage storage;

int main(void);
void Reset_Handler(void);
int main(void)
{
    size_t n;
    if (trustm_init(&chip, &trustm_port_baremetal, 0) == TMA_OK && trustm_open(&chip) == TMA_OK &&
        trustm_open_app(&chip, 0, 0) == TMA_OK) {
        (void)trustm_read_data(&chip, 0, 0xE0E0, 0, cert, sizeof cert, &n);
        (void)trustm_get_random(&chip, 0, TRUSTM_RNG_TRNG, rnd, sizeof rnd);
        (void)trustm_sign(&chip, 0, TRUSTM_SIG_ECDSA, 0xE0F0, digest, sizeof digest, sig, sizeof sig, &n);
        (void)trustm_close(&chip);
    }
    if (dps_client_init(&dps, &dps_cfg) == TMA_OK) {
        while (dps_client_step(&dps) == TMA_IN_PROGRESS) {
        }
        (void)dps_client_result(&dps);
        dps_client_close(&dps);
    }
    (void)iothub_outbox_init(&outbox, &storage, 0, 0);
    if (iothub_client_init(&hub, &hub_cfg) == TMA_OK) {
        for (;;) {
            struct tma_span s = {0, 0};
            (void)iothub_client_step(&hub);
            (void)iothub_client_send_telemetry(&hub, 0, 0, 0, 0, 0);
            (void)iothub_client_twin_get(&hub, 0);
            (void)iothub_client_twin_patch(&hub, s, 0);
            (void)iothub_client_method_respond(&hub, s, 200, s);
            if (iothub_client_state(&hub) == IOTHUB_STATE_AUTH_FAILED) {
                break;
            }
        }
        iothub_client_disconnect(&hub);
    }
    return 0;
}
void Reset_Handler(void)
{
    (void)main();
    for (;;) {
    }
}
__attribute__((used, section(".isr_vector"))) void (*const vectors[2])(void) = {
    (void (*)(void))0x20020000u, Reset_Handler};
C
# -Wcast-qual off for the vector table's stack-pointer entry only
cc "$W/fw.o" "$W/fw.c" -Wno-cast-qual
# shellcheck disable=SC2086
$CC $ARCH -nostartfiles --specs=nano.specs -Wl,--gc-sections -Wl,-e,Reset_Handler \
  "$W/fw.o" "$W/port.o" "$W"/trustm1/*.o "$W"/net/*.o -o "$W/fw.elf" 2>"$W/err" ||
  { cat "$W/err"; fail "the firmware image does not link without system stubs (an OS call in the core?)"; }
echo "ok: firmware image links without OS stubs: $(arm-none-eabi-size "$W/fw.elf" | awk 'NR==2{print $1" B text, "$2" B data, "$3" B bss"}')"

# 3. nothing from the heap, stdio, time or process services by name
bad=$(arm-none-eabi-nm "$W/fw.elf" | awk '{print $NF}' |
  grep -E '^_?(malloc|calloc|realloc|free|_sbrk|sbrk|printf|fprintf|sprintf|snprintf|vsnprintf|puts|fputs|fopen|fwrite|_write|_read|_open|_close|time|_gettimeofday|clock|abort|exit|_exit|getenv)$' || true)
[ -z "$bad" ] || fail "the firmware image links OS/heap/stdio symbols: $(echo $bad)"
echo "ok: no heap, stdio, time or process symbols in the image"
