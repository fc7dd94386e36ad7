#!/usr/bin/env bash
# The outbox's flash log (src/iothub/storage_flash.c) on a microcontroller:
#  1. Cortex-M4 -Os code size, in the style of bench/iothub_size.sh: a dummy
#     application that opens the log and calls the five storage functions
#     through struct iothub_storage, linked with --gc-sections against
#     newlib-nano; "net" is the application minus the empty one (our code plus
#     the memset/memcpy it pulls in), "own" only the code and constants of
#     storage_flash.o. Also the RAM of one context (sizeof) and the largest
#     stack frames (-fstack-usage).
#  2. Wear, on the host with the simulated NOR flash of the tests
#     (tests/unit/test_iothub_flash_sim.h): 10,000 messages of 100 B through
#     the outbox with the outbox pattern (acks follow pushes with an in-flight
#     window; from time to time the link is down and a backlog builds and
#     drains), per geometry: erases and bytes programmed per sector, and what
#     that means for a part rated for 100,000 erase cycles per sector.
# Usage: bench/storage_flash_size.sh   (needs gcc-arm-none-eabi,
#        libnewlib-arm-none-eabi, a host cc)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
CC="arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os -std=c99 -ffunction-sections -fdata-sections -I$SRC/include"

cat > "$W/app.c" <<'C'
#include "iothub/storage_flash.h"
struct iothub_flash_storage ctx;
struct iothub_flash fl;
struct iothub_storage st;
volatile int sink;
int main(void)
{
#ifdef WITH_FLASH
    uint8_t buf[64];
    size_t n;
    uint32_t seq;
    struct tma_span s = {buf, sizeof buf};
    if (iothub_flash_storage_open(&ctx, &fl, &st) == TMA_OK) {
        sink = st.put(st.ctx, st.seq_end(st.ctx), &s, 1);
        sink += st.next(st.ctx, 0, &seq);
        sink += st.get(st.ctx, seq, buf, sizeof buf, &n);
        sink += st.del(st.ctx, seq);
    }
#endif
    return 0;
}
void _exit(int x); void _exit(int x) { (void)x; for (;;) {} }
C
$CC -fstack-usage -c "$SRC/src/iothub/storage_flash.c" -o "$W/storage_flash.o"
own_of() {
  awk -v OBJ='^storage_flash' -f "$SRC/bench/map_own.awk" "$1"
}
printf '%-40s %8s %6s %6s %8s %8s\n' "Cortex-M4 -Os" "text" "data" "bss" "net" "own"
for feat in "" "-DWITH_FLASH"; do
  # shellcheck disable=SC2086
  $CC $feat "$W/app.c" "$W/storage_flash.o" -Wl,--gc-sections -Wl,-Map="$W/app.map" \
    -specs=nano.specs -specs=nosys.specs -o "$W/app.elf"
  read -r text data bss _ < <(arm-none-eabi-size "$W/app.elf" | awk 'NR==2 {print $1, $2, $3}')
  [ -n "$feat" ] || base=$text
  name=${feat:+flash log: open + the 5 calls}
  printf '%-40s %8s %6s %6s %8s %8s\n' "${name:-(empty application)}" "$text" "$data" "$bss" \
    "$((text - base))" "$(own_of "$W/app.map")"
done
ctx=$((16#$(arm-none-eabi-nm -S "$W/app.elf" | awk '$4 == "ctx" {print $2}')))
echo "RAM: sizeof(struct iothub_flash_storage) = $ctx B (no other static RAM; bss above is the app's)"
echo "largest stack frames (bytes, per function after inlining, -fstack-usage; the port's read/program/erase come on top):"
sort -t$'\t' -k2 -n -r "$W"/storage_flash.su | head -5 | awk -F'\t' '{n = split($1, a, ":"); printf "  %-22s %s\n", a[n], $2}'

# 2. wear
cat > "$W/wear.c" <<'C'
#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
#include "test_iothub_flash_sim.h"
static uint32_t rnd(uint32_t *s) { *s ^= *s << 13; *s ^= *s >> 17; *s ^= *s << 5; return *s; }
int main(void)
{
    static const struct { uint32_t size, count, unit; const char *part; } g[] = {
        {4096, 8, 16, "ESP32, flash encryption (32 KB)"}, {4096, 8, 1, "ESP32 / SPI NOR (32 KB)"},
        {2048, 16, 8, "STM32L4 pages (32 KB)"}, {4096, 4, 4, "nRF52 pages (16 KB)"},
        {16384, 2, 1, "STM32F4 16 KB sectors (32 KB)"}, {131072, 2, 32, "STM32H7 128 KB sectors (256 KB)"}};
    static uint8_t payload[100];
    size_t i;
    printf("%-32s %8s %8s %8s %10s %10s %12s\n", "geometry (10,000 msgs x 100 B)", "erases", "per sec",
           "max sec", "prog B/sec", "prog B/msg", "msgs to 100k");
    for (i = 0; i < sizeof g / sizeof g[0]; i++) {
        struct nor_sim n;
        struct iothub_flash fl;
        struct iothub_flash_storage fs;
        struct iothub_storage st;
        struct iothub_outbox ob;
        uint32_t r = 12345, msgs = 0, s, emax = 0, etot = 0, acked = 0, seq;
        uint64_t ptot = 0;
        int down = 0;
        if (nor_init(&n, g[i].size, g[i].count, g[i].unit) != 0) return 1;
        fl = nor_flash(&n);
        if (iothub_flash_storage_open(&fs, &fl, &st) != TMA_OK ||
            iothub_outbox_init(&ob, &st, 1000, IOTHUB_OUTBOX_DROP_OLDEST) != TMA_OK) return 1;
        while (msgs < 10000) {
            /* the link goes down for 50..150 messages once in every ~1,000 */
            if (!down && rnd(&r) % 1000u == 0) down = 50 + (int)(rnd(&r) % 100u);
            memset(payload, (int)msgs, sizeof payload);
            if (iothub_outbox_push(&ob, "devices/dev-1/messages/events/", payload, sizeof payload, &seq) != TMA_OK) return 2;
            msgs++;
            if (down) { down--; continue; }
            /* online: PUBACKs keep up with an in-flight window of up to 8 */
            while (iothub_outbox_count(&ob) > rnd(&r) % 8u) {
                if (iothub_outbox_ack(&ob, ob.head) != TMA_OK) return 3;
                acked++;
            }
        }
        if (n.v) { printf("flash rule broken: %s\n", n.why); return 4; }
        for (s = 0; s < g[i].count; s++) {
            etot += n.erases[s];
            emax = n.erases[s] > emax ? n.erases[s] : emax;
            ptot += n.programmed_bytes[s];
        }
        printf("%-32s %8u %8.1f %8u %10.0f %10.1f %12.2e   (dropped %u)\n", g[i].part, etot,
               (double)etot / g[i].count, emax, (double)ptot / g[i].count, (double)ptot / msgs,
               emax ? 100000.0 * msgs / emax : 0.0, iothub_outbox_stats(&ob).dropped);
        nor_free(&n);
    }
    return 0;
}
C
cc -std=c11 -O2 -I"$SRC/include" -I"$SRC/tests/unit" -I"$SRC/tests/lib" -I"$SRC/src/iothub" "$W/wear.c" "$SRC/src/iothub/storage_flash.c" \
  "$SRC/src/iothub/outbox.c" "$SRC/src/common/status.c" -o "$W/wear"
echo
"$W/wear"
echo "(msgs to 100k: messages of this kind until the most-erased sector reaches 100,000 erase cycles)"
