#!/usr/bin/env bash
# Flash wear of the outbox's MCU flash log (src/iothub/storage_flash.c) as a
# lifetime rule (wrap13 F5): every telemetry message is put into the log and
# deleted at its PUBACK, connected or not, so the log erases one sector per
# sector's worth of records. The rule this bench checks:
#
#   messages per lifetime = sectors x records per sector x erase cycles
#
# and the average message rate that keeps the most-erased sector within its
# rated cycles for 20 years. Per geometry of docs/porting.md: the outbox on
# the simulated NOR flash of the tests (tests/unit/test_iothub_flash_sim.h),
# messages pushed and acknowledged with up to 4 in flight; erases counted per
# sector. "predicted" is sectors x records per sector (records per sector
# from the record size); "measured" is messages / erases of the most-erased
# sector, what the lifetime is made of. Rated cycles: the typical figure of
# each kind of part (SPI NOR 100,000; the internal flash of STM32 and nRF52
# 10,000; check your part's datasheet), not measured here.
# Usage: bench/flash_wear.sh [PAYLOAD_BYTES]   (default 100; needs a host cc)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
PAYLOAD=${1:-100}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cat > "$W/wear.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
#include "test_iothub_flash_sim.h"

#define TOPIC "devices/dev-1/messages/events/"

int main(int argc, char **argv)
{
    static const struct {
        uint32_t size, count, unit, cycles;
        const char *part;
    } g[] = {
        {4096, 8, 1, 100000, "ESP32 / SPI NOR, 8 x 4 KB"},
        {4096, 8, 16, 100000, "ESP32 flash encryption, 8 x 4 KB"},
        {4096, 64, 1, 100000, "SPI NOR, 64 x 4 KB (256 KB)"},
        {2048, 16, 8, 10000, "STM32L4, 16 x 2 KB"},
        {4096, 4, 4, 10000, "nRF52, 4 x 4 KB"},
        {16384, 2, 1, 10000, "STM32F4, 2 x 16 KB"},
        {131072, 2, 32, 10000, "STM32H7, 2 x 128 KB"},
        {1024, 8, 8, 10000, "8 x 1 KB (tests/qemu hub_fw)"},
    };
    static uint8_t payload[2048];
    size_t plen = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 100u, i;
    const double life_s = 20.0 * 365.25 * 86400.0;
    if (plen > sizeof payload) {
        fprintf(stderr, "payload at most %zu bytes\n", sizeof payload);
        return 2;
    }
    printf("record: 2 + %zu B topic + %zu B payload = %zu B of data\n", sizeof(TOPIC) - 1u, plen,
           2u + sizeof(TOPIC) - 1u + plen);
    printf("%-34s %7s %8s %9s %9s %10s %10s %9s %12s\n", "geometry", "cycles", "rec/sect", "predicted",
           "measured", "msgs", "lifetime", "20 y: 1", "20 y: msgs");
    printf("%-34s %7s %8s %9s %9s %10s %10s %9s %12s\n", "", "", "", "msg/erase", "msg/erase", "",
           "msgs", "msg per", "per day");
    for (i = 0; i < sizeof g / sizeof g[0]; i++) {
        struct nor_sim n;
        struct iothub_flash fl;
        struct iothub_flash_storage fs;
        struct iothub_storage st;
        struct iothub_outbox ob;
        uint32_t s, emax = 0, seq, rec, hdr, per, msgs, m;
        double life;
        hdr = (20u + g[i].unit - 1u) / g[i].unit * g[i].unit + g[i].unit;
        rec = (g[i].unit > 16u ? g[i].unit : 16u) + 2u * g[i].unit +
              (uint32_t)((2u + sizeof(TOPIC) - 1u + plen + g[i].unit - 1u) / g[i].unit * g[i].unit);
        per = (g[i].size - hdr) / rec;
        /* enough laps of the ring for the count to settle: 50 erases of every sector */
        msgs = 50u * g[i].count * (per > 0u ? per : 1u);
        if (nor_init(&n, g[i].size, g[i].count, g[i].unit) != 0) return 1;
        fl = nor_flash(&n);
        if (iothub_flash_storage_open(&fs, &fl, &st) != TMA_OK ||
            iothub_outbox_init(&ob, &st, 1000, IOTHUB_OUTBOX_REFUSE_NEW) != TMA_OK) {
            return 1;
        }
        for (m = 0; m < msgs; m++) {
            memset(payload, (int)m, plen);
            if (iothub_outbox_push(&ob, TOPIC, payload, plen, &seq) != TMA_OK) {
                printf("%-34s push %u failed\n", g[i].part, m);
                return 3;
            }
            while (iothub_outbox_count(&ob) > 4u) {
                if (iothub_outbox_ack(&ob, ob.head) != TMA_OK) return 3;
            }
        }
        if (n.v) {
            printf("flash rule broken: %s\n", n.why);
            return 4;
        }
        for (s = 0; s < g[i].count; s++) {
            emax = n.erases[s] > emax ? n.erases[s] : emax;
        }
        life = (double)g[i].cycles * msgs / emax;
        printf("%-34s %7u %8u %9u %9.1f %10u %10.3g %7.0f s %12.0f\n", g[i].part, g[i].cycles, per,
               g[i].count * per, (double)msgs / emax, msgs, life, life_s / life, life / (20.0 * 365.25));
        nor_free(&n);
    }
    printf("(rec/sect: records per sector; predicted: sectors x rec/sect; measured: messages per erase of the\n"
           " most-erased sector; lifetime msgs = cycles x measured; 20 y: the average interval between\n"
           " messages, and messages per day, that reach the rated cycles in 20 years)\n");
    return 0;
}
C
cc -std=c11 -O2 -I"$SRC/include" -I"$SRC/tests/unit" -I"$SRC/tests/lib" -I"$SRC/src/iothub" "$W/wear.c" \
  "$SRC/src/iothub/storage_flash.c" "$SRC/src/iothub/outbox.c" "$SRC/src/common/status.c" -o "$W/wear"
"$W/wear" "$PAYLOAD"
