#!/usr/bin/env bash
# Cortex-M4 code size of the MQTT codec and client (device core), -Os Thumb-2,
# as they would link into firmware (sections per function; text+rodata).
# Usage: bench/mqtt_size.sh   (needs arm-none-eabi-gcc; scripts/setup installs it)
set -euo pipefail
src=${TMA_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if ! command -v arm-none-eabi-gcc >/dev/null; then
  echo "mqtt_size: arm-none-eabi-gcc not installed, skipped"
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-Os -mthumb -mcpu=cortex-m4 -mfloat-abi=soft -ffunction-sections -fdata-sections
       -std=c99 -Wall -Wextra -Werror -I"$src/include")
for f in packet client; do
  arm-none-eabi-gcc "${flags[@]}" -c "$src/src/mqtt/$f.c" -o "$out/$f.o"
done
arm-none-eabi-gcc "${flags[@]}" -c "$src/src/common/status.c" -o "$out/status.o"
echo "object sizes (bytes; text includes read-only data):"
arm-none-eabi-size "$out/packet.o" "$out/client.o" "$out/status.o"
total=$(arm-none-eabi-size "$out/packet.o" "$out/client.o" | awk 'NR>1 {t+=$1} END {print t}')
echo "mqtt (packet.o + client.o) text: $total bytes (target ~4096; status.o is shared by all components)"
# What a firmware that only uses the client (plus the codec functions it calls) keeps:
cat > "$out/main.c" <<'C'
#include "mqtt/client.h"
static uint64_t now(void *c) { (void)c; return 0; }
static uint8_t tx[256], rx[256];
static struct mqtt_inflight sl[4];
static struct mqtt_client cl;
int main(void);
int main(void) {
    struct mqtt_client_config cfg = {0};
    struct mqtt_publish p = {0};
    struct mqtt_subscription s = {0};
    cfg.clock.now_ms = now; cfg.tx_buf = tx; cfg.tx_cap = sizeof tx; cfg.rx_buf = rx; cfg.rx_cap = sizeof rx;
    cfg.inflight = sl; cfg.inflight_count = 4;
    mqtt_client_init(&cl, &cfg);
    mqtt_client_publish(&cl, &p, 0, 0);
    mqtt_client_subscribe(&cl, &s, 1, 0);
    mqtt_client_unsubscribe(&cl, &s.filter, 1, 0);
    mqtt_client_connect_wait(&cl, 0, 0, 0);
    mqtt_client_wait_ack(&cl, 1, 1);
    mqtt_client_flush(&cl, 1);
    mqtt_client_disconnect(&cl);
    return (int)mqtt_client_inflight_publishes(&cl) + mqtt_client_session_present(&cl) +
           (int)mqtt_client_retransmit_count(&cl) + mqtt_client_last_error(&cl);
}
C
arm-none-eabi-gcc "${flags[@]}" -c "$out/main.c" -o "$out/main.o"
arm-none-eabi-gcc -mthumb -mcpu=cortex-m4 -Wl,--gc-sections -nostartfiles -specs=nosys.specs -Wl,-e,main \
  "$out/main.o" "$out/client.o" "$out/packet.o" -o "$out/fw.elf"
# Sum only the MQTT functions the linker kept (no main, no libc).
syms=$( { arm-none-eabi-nm -t d --defined-only "$out/packet.o"; arm-none-eabi-nm -t d --defined-only "$out/client.o"; } |
        awk '$2 ~ /^[tTrR]$/ {print $3}' | sed 's/\..*//' | sort -u)
kept=$(arm-none-eabi-nm -t d -S --defined-only "$out/fw.elf" | awk '$3 ~ /^[tTrR]$/ {gsub(/\..*/, "", $4); print $4, $2+0}' |
       while read -r name size; do grep -qx "$name" <<<"$syms" && echo "$size"; done | awk '{t+=$1} END {print t}')
echo "linked for a device (client + the codec functions it uses, --gc-sections): $kept bytes of MQTT code"
# RAM: context and per-slot sizes on the target ABI (from the compiler, not by hand).
cat > "$out/ram.c" <<'C'
#include "mqtt/client.h"
char mqtt_client_bytes[sizeof(struct mqtt_client)];
char mqtt_inflight_slot_bytes[sizeof(struct mqtt_inflight)];
char mqtt_stream_bytes[sizeof(struct mqtt_stream)];
C
arm-none-eabi-gcc "${flags[@]}" -fno-common -c "$out/ram.c" -o "$out/ram.o"
arm-none-eabi-nm -t d -S "$out/ram.o" | awk '{printf "RAM %s: %d bytes\n", $4, $2}'
