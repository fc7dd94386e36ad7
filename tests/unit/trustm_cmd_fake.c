/* Scripted trustm_transceive() for command-layer unit tests and fuzzing. */
#include "trustm_cmd_fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tma_test.h"
#include "trustm/transceive.h"

#define MAX_X 24
#define MAX_B 4096

struct xchg {
    uint8_t cmd[MAX_B];
    size_t cmd_len;
    int any;
    uint8_t rsp[MAX_B];
    size_t rsp_len;
    tma_status st;
};

static struct xchg script[MAX_X];
static size_t n_script;
static size_t next;
static int mismatch;
static int lenient;
static int dummy;

struct trustm *const fake_t = (struct trustm *)&dummy;
uint8_t fake_last_protect;
size_t fake_last_nseg;

void fake_reset(void)
{
    n_script = 0;
    next = 0;
    mismatch = 0;
    lenient = 0;
}

static struct xchg *add(void)
{
    if (n_script == MAX_X) {
        fprintf(stderr, "fake: script full\n");
        abort();
    }
    memset(&script[n_script], 0, sizeof(script[0]));
    return &script[n_script++];
}

void fake_expect(const uint8_t *cmd, size_t cmd_len, const uint8_t *rsp, size_t rsp_len)
{
    struct xchg *x = add();
    if (cmd_len > MAX_B || rsp_len > MAX_B) {
        abort();
    }
    x->any = cmd == NULL;
    if (cmd != NULL) {
        memcpy(x->cmd, cmd, cmd_len);
    }
    x->cmd_len = cmd_len;
    memcpy(x->rsp, rsp, rsp_len);
    x->rsp_len = rsp_len;
}

void fake_expect_hex(const char *cmd_hex, const char *rsp_hex)
{
    struct xchg *x = add();
    long c = tma_test_hex(cmd_hex, x->cmd, MAX_B);
    long r = tma_test_hex(rsp_hex, x->rsp, MAX_B);
    if (c < 0 || r < 0) {
        fprintf(stderr, "fake: bad hex\n");
        abort();
    }
    x->cmd_len = (size_t)c;
    x->rsp_len = (size_t)r;
}

void fake_expect_fail(const char *cmd_hex, tma_status st)
{
    struct xchg *x = add();
    long c = tma_test_hex(cmd_hex, x->cmd, MAX_B);
    if (c < 0) {
        abort();
    }
    x->cmd_len = (size_t)c;
    x->st = st;
}

void fake_lenient(const uint8_t *rsp, size_t len)
{
    fake_reset();
    lenient = 1;
    if (len > MAX_B) {
        len = MAX_B;
    }
    memcpy(script[0].rsp, rsp, len);
    script[0].rsp_len = len;
}

int fake_ok(void)
{
    if (next != n_script) {
        fprintf(stderr, "fake: %zu of %zu exchanges used\n", next, n_script);
    }
    return !mismatch && next == n_script;
}

tma_status trustm_transceive(struct trustm *t, uint8_t protect, const struct tma_span *seg,
                             size_t nseg, uint8_t *out, size_t out_cap,
                             struct trustm_rsp *out_rsp)
{
    static uint8_t got[MAX_B];
    size_t n = 0;
    size_t i;
    struct xchg *x;
    const uint8_t *rsp;
    size_t rsp_len;

    if (t != fake_t || seg == NULL || nseg == 0 || nseg > TRUSTM_MAX_SEGMENTS ||
        out_rsp == NULL || (out == NULL && out_cap != 0)) {
        fprintf(stderr, "fake: contract violated (nseg %zu)\n", nseg);
        mismatch = 1;
        return TMA_ERR(TMA_LAYER_GENERIC, TMA_C_INTERNAL);
    }
    for (i = 0; i < nseg; i++) {
        if (seg[i].len > MAX_B - n || (seg[i].ptr == NULL && seg[i].len != 0)) {
            mismatch = 1;
            return TMA_ERR(TMA_LAYER_GENERIC, TMA_C_INTERNAL);
        }
        if (seg[i].len != 0) {
            memcpy(got + n, seg[i].ptr, seg[i].len);
        }
        n += seg[i].len;
    }
    fake_last_protect = protect;
    fake_last_nseg = nseg;
    /* the header's InLen must match what was sent */
    if (n < 4 || (((size_t)got[2] << 8) | got[3]) != n - 4) {
        fprintf(stderr, "fake: InLen mismatch\n");
        mismatch = 1;
        return TMA_ERR(TMA_LAYER_GENERIC, TMA_C_INTERNAL);
    }
    if (lenient) {
        /* Error-code reads get a plain answer so fuzzing reaches the parser. */
        static const uint8_t err[] = {0x00, 0x00, 0x00, 0x01, 0x05};
        int is_err = n == 10 && got[0] == 0x01 && got[4] == 0xF1 && got[5] == 0xC2;
        rsp = is_err ? err : script[0].rsp;
        rsp_len = is_err ? sizeof(err) : script[0].rsp_len;
    } else {
        if (next == n_script) {
            tma_test_dump("fake: unexpected command", got, n);
            mismatch = 1;
            return TMA_ERR(TMA_LAYER_GENERIC, TMA_C_INTERNAL);
        }
        x = &script[next++];
        if (!x->any && tma_test_memcmp("command APDU", got, n, x->cmd, x->cmd_len) != 0) {
            mismatch = 1;
            return TMA_ERR(TMA_LAYER_GENERIC, TMA_C_INTERNAL);
        }
        if (x->st != TMA_OK) {
            return x->st;
        }
        rsp = x->rsp;
        rsp_len = x->rsp_len;
    }
    if (rsp_len < 4) {
        return TMA_ERR(TMA_LAYER_NET, TMA_C_MALFORMED);
    }
    out_rsp->sta = rsp[0];
    out_rsp->undef = rsp[1];
    out_rsp->out_len = (uint16_t)((rsp[2] << 8) | rsp[3]);
    if (out_rsp->out_len != rsp_len - 4) {
        if (!lenient) {
            fprintf(stderr, "fake: canned response OutLen wrong\n");
            abort();
        }
        out_rsp->out_len = (uint16_t)(rsp_len - 4);
    }
    if (out_rsp->out_len > out_cap) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL);
    }
    if (out_rsp->out_len != 0) {
        memcpy(out, rsp + 4, out_rsp->out_len);
    }
    return TMA_OK;
}
