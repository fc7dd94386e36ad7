/*
 * Fuzz target: arbitrary command APDUs into sim_app_execute.
 * Input = flags(1) then a sequence of [len(2, BE) | APDU bytes]; flags pick
 * the presentation-layer facts (struct sim_sec) and a time step. Every input
 * starts from the same freshly provisioned, volatile chip (fixed seed).
 * Invariants checked: the response is always a well-formed response APDU.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"
#include "sim_app.h"

static struct sim_app *app;
static uint8_t *snapshot;
static size_t snapshot_len;

static void init(void)
{
    struct sim_app_config cfg = {NULL, 0x5EED, 3};
    if (sim_app_open(&app, &cfg) != TMA_OK ||
        app_persist_snapshot(app, &snapshot, &snapshot_len) != TMA_OK) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!app) {
        init();
    }
    if (app_persist_restore(app, snapshot, snapshot_len) != TMA_OK) {
        abort();
    }
    sim_app_reset(app, true);
    static const uint8_t open_apdu[] = {0xF0, 0,    0,    0x10, 0xD2, 0x76, 0,    0,    4,    0x47,
                                        0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
    static uint8_t rsp[SIM_APDU_MAX];
    static uint8_t apdu[SIM_APDU_MAX + 64];
    size_t rl;
    uint32_t busy;
    uint64_t now = 1000000;
    uint8_t flags = size ? data[0] : 0;
    struct sim_sec sec = {(flags & 1) != 0, (flags & 2) != 0, (flags & 6) == 6, (flags & 10) == 10};
    if (!(flags & 0x80)) {
        sim_app_execute(app, &sec, now, open_apdu, sizeof open_apdu, rsp, sizeof rsp, &rl, &busy);
    }
    size_t i = size ? 1 : 0;
    int count = 0;
    while (i < size && count++ < 32) {
        size_t n = size - i >= 2 ? (size_t)((data[i] << 8) | data[i + 1]) : 0;
        i += size - i >= 2 ? 2 : size - i;
        if (n > size - i) {
            n = size - i;
        }
        if (n > sizeof apdu) {
            n = sizeof apdu;
        }
        memcpy(apdu, data + i, n);
        i += n;
        /* keep RSA-2048 generation (seconds under ASan) out of the loop */
        if (n >= 2 && (apdu[0] & 0x7F) == 0x38 && apdu[1] == 0x42) {
            apdu[1] = 0x41;
        }
        size_t cap = (flags & 0x40) ? 64 : sizeof rsp; /* small buffers too */
        tma_status st = sim_app_execute(app, &sec, now, apdu, n, rsp, cap, &rl, &busy);
        if (st != TMA_OK || rl < 4 || rl > cap) {
            abort();
        }
        if ((size_t)((rsp[2] << 8) | rsp[3]) + 4 != rl || (rsp[0] != 0x00 && rsp[0] != 0xFF) ||
            (rsp[0] == 0xFF && rl != 4)) {
            abort();
        }
        now += busy + (uint64_t)(flags & 0x30) * 100000u;
    }
    return 0;
}
