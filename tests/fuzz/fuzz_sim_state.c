/*
 * Fuzz target: the simulator's state file (its NVM, sim/app_persist.c).
 * A state file is local, but a damaged or hand-edited one must be refused
 * with a status, never read past its end or half-trusted.
 *
 * Input = mode(1) then bytes. Mode bit 0 set: the bytes are the whole file.
 * Clear: the bytes are the body only and the target wraps them in a valid
 * envelope (magic, format version, length, SHA-256), so the mutations reach
 * the field decoder behind the integrity check instead of dying at it.
 *
 * Invariants: a file that loads serialises again, that image loads, and its
 * own image is identical (the decoder and encoder agree); the chip it defines
 * still answers a command with a well-formed response; and after every input
 * the pristine chip state restores cleanly (a refused file leaves nothing the
 * next load cannot replace).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "app_int.h"
#include "sim_app.h"

static struct sim_app *app;
static uint8_t *pristine;
static size_t pristine_len;
static uint8_t file[64 * 1024];

static void init(void)
{
    struct sim_app_config cfg = {NULL, 0x5EED, 3};
    if (sim_app_open(&app, &cfg) != TMA_OK ||
        app_persist_snapshot(app, &pristine, &pristine_len) != TMA_OK || pristine_len < 48) {
        abort();
    }
}

static void check_roundtrip(void)
{
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    if (app_persist_snapshot(app, &a, &al) != TMA_OK || app_persist_restore(app, a, al) != TMA_OK ||
        app_persist_snapshot(app, &b, &bl) != TMA_OK || al != bl || memcmp(a, b, al) != 0) {
        abort();
    }
    free(a);
    free(b);
}

static void check_answers(void)
{
    /* OpenApplication, then read the coprocessor UID (0xE0C2) */
    static const uint8_t open_app[] = {0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                       0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
    static const uint8_t get_uid[] = {0x01, 0x00, 0x00, 0x06, 0xE0, 0xC2, 0x00, 0x00, 0x00, 0x1B};
    static const struct {
        const uint8_t *p;
        size_t n;
    } apdus[] = {{open_app, sizeof open_app}, {get_uid, sizeof get_uid}};
    static uint8_t rsp[SIM_APDU_MAX];
    struct sim_sec sec = {false, false, false, false};
    sim_app_reset(app, true);
    for (size_t i = 0; i < sizeof apdus / sizeof apdus[0]; i++) {
        size_t rl = 0;
        uint32_t busy = 0;
        (void)sim_app_execute(app, &sec, 1000000 + i * 100000, apdus[i].p, apdus[i].n, rsp,
                              sizeof rsp, &rl, &busy);
        /* response APDU: status, undefined, length(2), data */
        if (rl < 4 || rl > sizeof rsp || (size_t)((rsp[2] << 8) | rsp[3]) != rl - 4) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!app) {
        init();
    }
    if (size == 0) {
        return 0;
    }
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    size_t len;
    if (data[0] & 1) {
        len = n;
        memcpy(file, in, n < sizeof file ? n : sizeof file);
        if (len > sizeof file) {
            return 0;
        }
    } else {
        if (n > sizeof file - 48) {
            return 0;
        }
        memcpy(file, pristine, 12); /* magic and format version */
        file[12] = (uint8_t)(n >> 24);
        file[13] = (uint8_t)(n >> 16);
        file[14] = (uint8_t)(n >> 8);
        file[15] = (uint8_t)n;
        memcpy(file + 16, in, n);
        mbedtls_sha256_ret(file, 16 + n, file + 16 + n, 0);
        len = 16 + n + 32;
    }
    if (app_persist_restore(app, file, len) == TMA_OK) {
        check_roundtrip();
        check_answers();
    }
    if (app_persist_restore(app, pristine, pristine_len) != TMA_OK) {
        abort();
    }
    return 0;
}
