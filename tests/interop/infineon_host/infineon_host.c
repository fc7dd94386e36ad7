/* Interop driver: Infineon's OPTIGA Trust M host library comms stack
 * (optiga_comms_* over ifx_i2c, its Linux i2c-dev pal_i2c.c) against
 * trustm-sim. The APDUs are ours, built from the SRM/our spec sheet in the
 * form the library's command layer sends (command code | 0x80, GetDataObject
 * with offset and length 0x0611, F1C2 read after an error).
 * Usage: infineon_host all|hibernate|restore|bound|open  (env: see pal_glue.c;
 * INTEROP_CHIP_V1 = the daemon runs --chip-version 1;
 * INTEROP_OUT = folder for e0e0.bin, pub.bin, sig.bin, uid.bin, digest.bin,
 * INTEROP_HANDLE_FILE = file for the hibernate handle).
 * Prints "ok <step> ..." / "FAIL <step> ..."; exit 1 on any failure.
 * No Infineon code in this file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/bignum.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecdh.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/entropy.h"
#include "mbedtls/hkdf.h"
#include "mbedtls/md.h"
#include "mbedtls/ssl.h"
#include "mbedtls/pk.h"
#include "mbedtls/sha256.h"
#include "optiga_comms.h"
#include "ifx_i2c_config.h"
#include "pal_os_event.h"
#include "pal_os_timer.h"

int interop_run(volatile int *done, unsigned limit_ms);
extern int interop_gpio_events[4];
extern unsigned long interop_event_count;

static optiga_comms_t *comms;
static volatile int done;
static volatile optiga_lib_status_t last_event;
static int failures;
static int chip_v1; /* $INTEROP_CHIP_V1: the daemon runs --chip-version 1 (no AES, HMAC, HKDF) */

#define OFS OPTIGA_COMMS_DATA_OFFSET
#define BUFSZ (OFS + 0x615 + 32)
static uint8_t txb[BUFSZ], rxb[BUFSZ];
static uint8_t resp[0x700];
static uint16_t resp_len;

static void cb(void *ctx, optiga_lib_status_t ev)
{
    (void)ctx;
    last_event = ev;
    done = 1;
}

static void hex(const char *tag, const uint8_t *p, size_t n, size_t max)
{
    printf("   %s (%zu):", tag, n);
    for (size_t i = 0; i < n && i < max; i++) {
        printf(" %02X", p[i]);
    }
    printf("%s\n", n > max ? " ..." : "");
}

static void report(int ok, const char *step, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(int ok, const char *step, const char *fmt, ...)
{
    va_list ap;
    printf("%s %s", ok ? "ok" : "FAIL", step);
    if (fmt && *fmt) {
        printf(": ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
    if (!ok) {
        failures++;
    }
}

static int wait_done(const char *what)
{
    if (interop_run(&done, 60000) != 0) {
        report(0, what, "stack stalled (no pending event, no completion)");
        return -1;
    }
    return 0;
}

static int comms_open(uint8_t manage)
{
    comms = optiga_comms_create(cb, NULL);
    if (!comms) {
        report(0, "comms_create", "NULL");
        return -1;
    }
    comms->p_pal_os_event_ctx = pal_os_event_create(NULL, NULL);
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    comms->manage_context_operation = manage;
#else
    (void)manage;
#endif
    done = 0;
    if (optiga_comms_open(comms) != OPTIGA_COMMS_SUCCESS) {
        report(0, "comms_open", "call refused");
        return -1;
    }
    if (wait_done("comms_open") != 0) {
        return -1;
    }
    if (last_event != OPTIGA_COMMS_SUCCESS) {
        report(0, "comms_open", "status 0x%04X", last_event);
        return -1;
    }
    report(1, "comms_open", "reset type %u, frame size %u, gpio power cycles %d warm resets %d",
           (unsigned)OPTIGA_COMMS_DEFAULT_RESET_TYPE, (unsigned)ifx_i2c_context_0.frame_size,
           interop_gpio_events[0], interop_gpio_events[1]);
    return 0;
}

/* One APDU through optiga_comms_transceive. Returns the comms status;
 * the response APDU is in resp/resp_len. */
static optiga_lib_status_t xfer(uint8_t prot, const uint8_t *apdu, uint16_t len)
{
    uint16_t rl = (uint16_t)(sizeof rxb - OFS - 16);
    memcpy(txb + OFS, apdu, len);
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    comms->protection_level = prot;
    comms->protocol_version = 1;
#else
    (void)prot;
#endif
    done = 0;
    resp_len = 0;
    if (optiga_comms_transceive(comms, txb, len, rxb, &rl) != OPTIGA_COMMS_SUCCESS) {
        return 0xFFFF;
    }
    if (interop_run(&done, 60000) != 0) {
        return 0xFFFE;
    }
    if (last_event == OPTIGA_COMMS_SUCCESS) {
        memcpy(resp, rxb + OFS, rl);
        resp_len = rl;
    }
    return last_event;
}

/* the library's error path: Sta 0xFF, then GetDataObject F1C2 (no flush bit) */
static int last_error(void)
{
    static const uint8_t rd[] = {0x01, 0x00, 0x00, 0x06, 0xF1, 0xC2, 0x00, 0x00, 0x00, 0x01};
    if (xfer(0, rd, sizeof rd) != 0 || resp_len != 5 || resp[0] != 0) {
        return -1;
    }
    return resp[4];
}

/* APDU with Sta 0x00 expected; returns OutLen or -1 */
static int cmd(const char *step, uint8_t prot, const uint8_t *apdu, uint16_t len)
{
    optiga_lib_status_t st = xfer(prot, apdu, len);
    if (st != OPTIGA_COMMS_SUCCESS) {
        report(0, step, "comms status 0x%04X", st);
        return -1;
    }
    if (resp_len < 4 || (uint16_t)(resp[2] << 8 | resp[3]) + 4 != resp_len) {
        report(0, step, "malformed response (%u bytes)", resp_len);
        hex("resp", resp, resp_len, 16);
        return -1;
    }
    if (resp[0] != 0x00) {
        int sta = resp[0];
        report(0, step, "Sta 0x%02X, F1C2 0x%02X", sta, last_error());
        return -1;
    }
    return resp_len - 4;
}

static int expect_error(const char *step, uint8_t prot, const uint8_t *apdu, uint16_t len, int code)
{
    optiga_lib_status_t st = xfer(prot, apdu, len);
    int e;
    if (st != OPTIGA_COMMS_SUCCESS) {
        report(0, step, "comms status 0x%04X", st);
        return -1;
    }
    if (resp_len != 4 || resp[0] != 0xFF || resp[2] || resp[3]) {
        report(0, step, "expected FF xx 00 00");
        hex("resp", resp, resp_len, 16);
        return -1;
    }
    e = last_error();
    report(e == code, step, "Sta FF, F1C2 = 0x%02X (expected 0x%02X)", e, code);
    return e == code ? 0 : -1;
}

static void save(const char *name, const uint8_t *p, size_t n)
{
    const char *dir = getenv("INTEROP_OUT");
    char path[512];
    FILE *f;
    if (!dir) {
        return;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static const uint8_t aid[16] = {0xD2, 0x76, 0x00, 0x00, 0x04, 0x47, 0x65, 0x6E,
                                0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

static int open_app(const uint8_t *handle)
{
    uint8_t a[4 + 16 + 8] = {0xF0, 0x00, 0x00, 0x10};
    uint16_t n = 20;
    memcpy(a + 4, aid, 16);
    if (handle) {
        a[1] = 0x01;
        a[3] = 0x18;
        memcpy(a + 20, handle, 8);
        n = 28;
    }
    int r = cmd(handle ? "OpenApplication(restore)" : "OpenApplication", 0, a, n);
    if (r == 0) {
        report(1, handle ? "OpenApplication(restore)" : "OpenApplication", "00 00 00 00");
        return 0;
    }
    return -1;
}

/* GetDataObject the way the library's util layer reads: offset + length 0x0611
 * per chunk, until a chunk comes back shorter than asked */
static int read_object(const char *step, uint16_t oid, uint8_t prot, uint8_t *out, size_t cap)
{
    size_t got = 0;
    for (;;) {
        uint16_t want = 0x0611;
        uint8_t a[10] = {0x81, 0x00, 0x00, 0x06, (uint8_t)(oid >> 8), (uint8_t)oid,
                         (uint8_t)(got >> 8), (uint8_t)got, (uint8_t)(want >> 8), (uint8_t)want};
        optiga_lib_status_t st = xfer(prot, a, sizeof a);
        if (st != 0) {
            report(0, step, "comms status 0x%04X at offset %zu", st, got);
            return -1;
        }
        if (resp_len >= 4 && resp[0] == 0xFF && got > 0) {
            int e = last_error();
            if (e == 0x08) { /* offset past the end on a follow-up chunk: the library's end */
                break;
            }
            report(0, step, "Sta FF at offset %zu, F1C2 0x%02X", got, e);
            return -1;
        }
        if (resp_len < 4 || resp[0] != 0 || (size_t)(resp[2] << 8 | resp[3]) + 4 != resp_len) {
            report(0, step, "bad response at offset %zu", got);
            hex("resp", resp, resp_len, 16);
            return -1;
        }
        if (got + resp_len - 4 > cap) {
            report(0, step, "object larger than %zu", cap);
            return -1;
        }
        memcpy(out + got, resp + 4, resp_len - 4u);
        got += resp_len - 4u;
        if (resp_len - 4u < want) {
            break;
        }
    }
    return (int)got;
}

static const uint8_t abc_sha256[32] = {0xBA, 0x78, 0x16, 0xBF, 0x8F, 0x01, 0xCF, 0xEA, 0x41, 0x41, 0x40,
                                       0xDE, 0x5D, 0xAE, 0x22, 0x23, 0xB0, 0x03, 0x61, 0xA3, 0x96, 0x17,
                                       0x7A, 0x9C, 0xB4, 0x10, 0xFF, 0x61, 0xF2, 0x00, 0x15, 0xAD};

static int host_verify_ecdsa(const uint8_t *pub, size_t publen, const uint8_t *dg, const uint8_t *sig,
                             size_t siglen)
{
    mbedtls_ecdsa_context e;
    uint8_t der[160];
    int ok;
    if (publen != 68 || pub[0] != 0x03 || pub[1] != 0x42 || pub[2] != 0 || siglen + 2 > sizeof der ||
        siglen > 127) {
        return 0;
    }
    der[0] = 0x30;
    der[1] = (uint8_t)siglen;
    memcpy(der + 2, sig, siglen);
    mbedtls_ecdsa_init(&e);
    ok = mbedtls_ecp_group_load(&e.grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
         mbedtls_ecp_point_read_binary(&e.grp, &e.Q, pub + 3, 65) == 0 &&
         mbedtls_ecdsa_read_signature(&e, dg, 32, der, siglen + 2) == 0;
    mbedtls_ecdsa_free(&e);
    return ok;
}

static mbedtls_ctr_drbg_context drbg;
static mbedtls_entropy_context entropy;

static void step_crypto(void)
{
    uint8_t a[600], pub[80], sig[80];
    int n, publen, siglen;

    /* GetRandom TRNG 32 and DRNG 256 */
    {
        uint8_t r[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
        n = cmd("GetRandom TRNG 32", 0, r, sizeof r);
        if (n >= 0) {
            report(n == 32, "GetRandom TRNG 32", "%d bytes", n);
        }
        r[1] = 0x01;
        r[5] = 0x00;
        r[4] = 0x01;
        n = cmd("GetRandom DRNG 256", 0, r, sizeof r);
        if (n >= 0) {
            report(n == 256, "GetRandom DRNG 256", "%d bytes (chained response)", n);
        }
        r[4] = 0x01;
        r[5] = 0x01; /* 257: above the 0x100 limit */
        /* the sheet does not say which code; the simulator answers 0x05 (parameter in data field) */
        expect_error("GetRandom 257 refused", 0, r, sizeof r, 0x05);
    }
    /* GenKeyPair P-256 into E0F1, usage Sign */
    {
        static const uint8_t g[] = {0xB8, 0x03, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE0, 0xF1, 0x02, 0x00, 0x01, 0x10};
        n = cmd("GenKeyPair P-256 E0F1", 0, g, sizeof g);
        publen = 0;
        if (n == 71 && resp[4] == 0x02 && resp[5] == 0x00 && resp[6] == 0x44) {
            publen = 68;
            memcpy(pub, resp + 7, 68);
            save("pub.bin", pub, 68);
            report(1, "GenKeyPair P-256 E0F1", "public key BIT STRING %02X %02X %02X %02X", pub[0], pub[1],
                   pub[2], pub[3]);
        } else if (n >= 0) {
            report(0, "GenKeyPair P-256 E0F1", "OutLen %d", n);
        }
    }
    /* CalcSign ECDSA with E0F1 over SHA-256("abc") */
    siglen = 0;
    {
        a[0] = 0xB1;
        a[1] = 0x11;
        a[2] = 0x00;
        a[3] = 0x28;
        a[4] = 0x01;
        a[5] = 0x00;
        a[6] = 0x20;
        memcpy(a + 7, abc_sha256, 32);
        memcpy(a + 39, (const uint8_t[]){0x03, 0x00, 0x02, 0xE0, 0xF1}, 5);
        n = cmd("CalcSign ECDSA E0F1", 0, a, 44);
        if (n > 0 && n <= 72) {
            siglen = n;
            memcpy(sig, resp + 4, (size_t)n);
            save("sig.bin", sig, (size_t)n);
            save("digest.bin", abc_sha256, 32);
            report(publen && host_verify_ecdsa(pub, 68, abc_sha256, sig, (size_t)siglen), "CalcSign ECDSA E0F1",
                   "%d-byte r||s, verified on the host with mbedTLS", n);
        } else if (n >= 0) {
            report(0, "CalcSign ECDSA E0F1", "OutLen %d", n);
        }
    }
    /* VerifySign on the chip with the host-supplied public key, then a bad digest */
    if (siglen && publen) {
        uint16_t L = 0;
        a[L++] = 0xB2;
        a[L++] = 0x11;
        L += 2;
        a[L++] = 0x01;
        a[L++] = 0x00;
        a[L++] = 0x20;
        memcpy(a + L, abc_sha256, 32);
        L += 32;
        a[L++] = 0x02;
        a[L++] = 0x00;
        a[L++] = (uint8_t)siglen;
        memcpy(a + L, sig, (size_t)siglen);
        L += (uint16_t)siglen;
        memcpy(a + L, (const uint8_t[]){0x05, 0x00, 0x01, 0x03, 0x06, 0x00, 0x44}, 7);
        L += 7;
        memcpy(a + L, pub, 68);
        L += 68;
        a[2] = (uint8_t)((L - 4) >> 8);
        a[3] = (uint8_t)(L - 4);
        n = cmd("VerifySign host key", 0, a, L);
        if (n >= 0) {
            report(n == 0, "VerifySign host key", "OutLen %d", n);
        }
        a[7] ^= 0x01;
        expect_error("VerifySign wrong digest", 0, a, L, 0x2C);
    }
    /* CalcHash SHA-256("abc") start&final */
    {
        static const uint8_t h[] = {0xB0, 0xE2, 0x00, 0x06, 0x01, 0x00, 0x03, 'a', 'b', 'c'};
        n = cmd("CalcHash SHA-256", 0, h, sizeof h);
        if (n >= 0) {
            report(n == 35 && resp[4] == 0x01 && resp[5] == 0x00 && resp[6] == 0x20 &&
                       memcmp(resp + 7, abc_sha256, 32) == 0,
                   "CalcHash SHA-256", "OutLen %d, digest %s", n,
                   n == 35 && memcmp(resp + 7, abc_sha256, 32) == 0 ? "matches" : "differs");
        }
    }
    /* CalcHash with the host holding the context, as optiga_crypt_hash_start/update/finalize
     * send it (read for facts): data TLV first, then 06 (context in), then 07 00 00
     * (export); start is "00 00 00", final "03 00 00". A one-shot hash in between must
     * not disturb it (the context travels with the host). */
    {
        uint8_t a[8 + 3 + 3 + 209 + 3], ctx[209];
        static const uint8_t st[] = {0xB0, 0xE2, 0x00, 0x06, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00};
        static const uint8_t other[] = {0xB0, 0xE2, 0x00, 0x06, 0x01, 0x00, 0x03, 'x', 'y', 'z'};
        const char *parts[2] = {"ab", "c"};
        int ok = 1;
        n = cmd("CalcHash start, context exported", 0, st, sizeof st);
        ok = n == 212 && resp[4] == 0x06 && resp[5] == 0x00 && resp[6] == 209;
        for (int i = 0; ok && i < 2; i++) {
            size_t L = strlen(parts[i]), o = 4;
            memcpy(ctx, resp + 7, 209);
            ok = cmd("CalcHash one-shot in between", 0, other, sizeof other) == 35;
            a[0] = 0xB0;
            a[1] = 0xE2;
            a[o++] = 0x02;
            a[o++] = 0x00;
            a[o++] = (uint8_t)L;
            memcpy(a + o, parts[i], L);
            o += L;
            a[o++] = 0x06;
            a[o++] = 0x00;
            a[o++] = 209;
            memcpy(a + o, ctx, 209);
            o += 209;
            a[o++] = 0x07;
            a[o++] = 0x00;
            a[o++] = 0x00;
            a[2] = (uint8_t)((o - 4) >> 8);
            a[3] = (uint8_t)(o - 4);
            n = ok ? cmd("CalcHash continue, context in and out", 0, a, (uint16_t)o) : -1;
            ok = n == 212 && resp[4] == 0x06;
        }
        if (ok) {
            size_t o = 4;
            memcpy(ctx, resp + 7, 209);
            a[o++] = 0x03;
            a[o++] = 0x00;
            a[o++] = 0x00;
            a[o++] = 0x06;
            a[o++] = 0x00;
            a[o++] = 209;
            memcpy(a + o, ctx, 209);
            o += 209;
            a[2] = (uint8_t)((o - 4) >> 8);
            a[3] = (uint8_t)(o - 4);
            n = cmd("CalcHash final from the context", 0, a, (uint16_t)o);
            ok = n == 35 && resp[4] == 0x01 && memcmp(resp + 7, abc_sha256, 32) == 0;
        }
        report(ok, "CalcHash with host-held context (start, 2 updates, final)",
               "209-byte contexts, one-shot hashes in between, digest %s", ok ? "= SHA-256(\"abc\")" : "wrong");
    }
    /* ECDH: key agreement key in E0F2, peer key from mbedTLS */
    {
        static const uint8_t g[] = {0xB8, 0x03, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE0, 0xF2, 0x02, 0x00, 0x01, 0x20};
        mbedtls_ecdh_context h;
        uint8_t peer[65], chippub[68], ours[32];
        size_t plen;
        int ok = 0;
        n = cmd("GenKeyPair P-256 E0F2 (KeyAgree)", 0, g, sizeof g);
        if (n == 71) {
            memcpy(chippub, resp + 7, 68);
            mbedtls_ecdh_init(&h);
            if (mbedtls_ecp_group_load(&h.grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
                mbedtls_ecdh_gen_public(&h.grp, &h.d, &h.Q, mbedtls_ctr_drbg_random, &drbg) == 0 &&
                mbedtls_ecp_point_write_binary(&h.grp, &h.Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &plen, peer,
                                               sizeof peer) == 0 &&
                mbedtls_ecp_point_read_binary(&h.grp, &h.Qp, chippub + 3, 65) == 0 &&
                mbedtls_ecdh_compute_shared(&h.grp, &h.z, &h.Qp, &h.d, mbedtls_ctr_drbg_random, &drbg) == 0 &&
                mbedtls_mpi_write_binary(&h.z, ours, 32) == 0) {
                uint16_t L = 0;
                a[L++] = 0xB3;
                a[L++] = 0x01;
                L += 2;
                memcpy(a + L, (const uint8_t[]){0x01, 0x00, 0x02, 0xE0, 0xF2, 0x05, 0x00, 0x01, 0x03, 0x06,
                                                0x00, 0x44, 0x03, 0x42, 0x00},
                       15);
                L += 15;
                memcpy(a + L, peer, 65);
                L += 65;
                memcpy(a + L, (const uint8_t[]){0x07, 0x00, 0x00}, 3);
                L += 3;
                a[2] = (uint8_t)((L - 4) >> 8);
                a[3] = (uint8_t)(L - 4);
                n = cmd("CalcSSec ECDH export", 0, a, L);
                ok = n == 32 && memcmp(resp + 4, ours, 32) == 0;
                if (n >= 0) {
                    report(ok, "CalcSSec ECDH export", "OutLen %d, shared secret %s the host's", n,
                           ok ? "equals" : "differs from");
                }
            } else {
                report(0, "CalcSSec ECDH export", "host ECDH setup failed");
            }
            mbedtls_ecdh_free(&h);
        }
    }
    /* DeriveKey TLS1.2 PRF SHA-256 from a session secret: a session key pair in E100, ECDH of it with
     * its own public key stored in session E101, then the PRF over E101 (exported) */
    {
        uint16_t L = 0;
        static const uint8_t g[] = {0xB8, 0x03, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE1, 0x00, 0x02, 0x00, 0x01, 0x20};
        n = cmd("GenKeyPair P-256 session E100", 0, g, sizeof g);
        if (n == 71) {
            uint8_t chippub[68];
            memcpy(chippub, resp + 7, 68);
            a[L++] = 0xB3;
            a[L++] = 0x01;
            L += 2;
            memcpy(a + L, (const uint8_t[]){0x01, 0x00, 0x02, 0xE1, 0x00, 0x05, 0x00, 0x01, 0x03, 0x06, 0x00, 0x44},
                   12);
            L += 12;
            memcpy(a + L, chippub, 68);
            L += 68;
            memcpy(a + L, (const uint8_t[]){0x08, 0x00, 0x02, 0xE1, 0x01}, 5);
            L += 5;
            a[2] = (uint8_t)((L - 4) >> 8);
            a[3] = (uint8_t)(L - 4);
            n = cmd("CalcSSec ECDH into session E101", 0, a, L);
            if (n >= 0) {
                report(n == 0, "CalcSSec ECDH into session E101", "OutLen %d", n);
                L = 0;
                a[L++] = 0xB4;
                a[L++] = 0x01;
                L += 2;
                memcpy(a + L, (const uint8_t[]){0x01, 0x00, 0x02, 0xE1, 0x01, 0x03, 0x00, 0x02, 0x00, 0x20, 0x02,
                                                0x00, 0x10},
                       13);
                L += 13;
                memcpy(a + L, "label-and-seed!!", 16);
                L += 16;
                memcpy(a + L, (const uint8_t[]){0x07, 0x00, 0x00}, 3);
                L += 3;
                a[2] = (uint8_t)((L - 4) >> 8);
                a[3] = (uint8_t)(L - 4);
                /* a session secret must be used under command protection when the shield is in use */
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
                n = cmd("DeriveKey TLS-PRF from session (protected)", 3, a, L);
#else
                n = cmd("DeriveKey TLS-PRF from session", 0, a, L);
#endif
                if (n >= 0) {
                    report(n == 32, "DeriveKey TLS-PRF from session", "OutLen %d", n);
                }
            }
        }
    }
}

static void step_objects(void)
{
    static uint8_t big[1600], back[1800];
    int n;
    /* UID */
    n = read_object("GetDataObject E0C2 (UID)", 0xE0C2, 0, back, sizeof back);
    if (n >= 0) {
        save("uid.bin", back, (size_t)n);
        report(n == 27, "GetDataObject E0C2 (UID)", "%d bytes", n);
        hex("uid", back, (size_t)n, 27);
    }
    /* device certificate */
    n = read_object("GetDataObject E0E0 (certificate)", 0xE0E0, 0, back, sizeof back);
    if (n >= 0) {
        save("e0e0.bin", back, (size_t)n);
        report(n > 9 && back[0] == 0xC0, "GetDataObject E0E0 (certificate)", "%d bytes, first %02X", n, back[0]);
    }
    /* metadata */
    {
        static const uint8_t m[] = {0x81, 0x01, 0x00, 0x02, 0xE0, 0xE0};
        n = cmd("GetDataObject E0E0 metadata", 0, m, sizeof m);
        if (n > 2) {
            report(resp[4] == 0x20 && resp[5] + 2 == n, "GetDataObject E0E0 metadata", "%d bytes", n);
            hex("meta", resp + 4, (size_t)n, 32);
        }
    }
    /* chained write of 1500 bytes into F1E0 (6 command frames), read back (6 response frames) */
    for (int i = 0; i < 1500; i++) {
        big[8 + i] = (uint8_t)(i * 7 + 3);
    }
    memcpy(big, (const uint8_t[]){0x82, 0x40, 0x05, 0xE0, 0xF1, 0xE0, 0x00, 0x00}, 8);
    n = cmd("SetDataObject F1E0 1500 B (chained)", 0, big, 1508);
    if (n >= 0) {
        report(n == 0, "SetDataObject F1E0 1500 B (chained)", "OutLen %d", n);
    }
    n = read_object("GetDataObject F1E0 (chained)", 0xF1E0, 0, back, sizeof back);
    if (n >= 0) {
        report(n == 1500 && memcmp(back, big + 8, 1500) == 0, "GetDataObject F1E0 (chained)",
               "%d bytes, %s", n, n == 1500 && memcmp(back, big + 8, 1500) == 0 ? "equal" : "differ");
    }
    /* SetDataObject the way the library's command layer splits a long write: at most 1549 data
     * bytes per APDU (InLen 1553), the first with the caller's Param (0x40 erase&write), the rest
     * Param 0x00 (write) at the next offset. 1728 B into E0E1 (its maximum), 1553 B into E0E2
     * (exactly one read chunk: the library then reads at offset 1553 and takes 0x08 as the end) */
    {
        static const struct {
            uint16_t oid, len;
        } objs[] = {{0xE0E1, 1728}, {0xE0E2, 1553}};
        for (unsigned k = 0; k < 2; k++) {
            static uint8_t w[1600], img[1728];
            char step[96];
            uint16_t done_len = 0, oid = objs[k].oid, total = objs[k].len;
            int ok = 1;
            for (unsigned i = 0; i < total; i++) {
                img[i] = (uint8_t)(i * 13 + k);
            }
            while (ok && done_len < total) {
                uint16_t part = (uint16_t)(total - done_len > 1549 ? 1549 : total - done_len);
                w[0] = 0x82;
                w[1] = done_len ? 0x00 : 0x40;
                w[2] = (uint8_t)((part + 4) >> 8);
                w[3] = (uint8_t)(part + 4);
                w[4] = (uint8_t)(oid >> 8);
                w[5] = (uint8_t)oid;
                w[6] = (uint8_t)(done_len >> 8);
                w[7] = (uint8_t)done_len;
                memcpy(w + 8, img + done_len, part);
                snprintf(step, sizeof step, "SetDataObject %04X %u B at offset %u", oid, part, done_len);
                n = cmd(step, 0, w, (uint16_t)(part + 8));
                ok = n == 0;
                if (n > 0) {
                    report(0, step, "OutLen %d", n);
                }
                done_len = (uint16_t)(done_len + part);
            }
            snprintf(step, sizeof step, "GetDataObject %04X (%u B, library chunking)", oid, total);
            n = ok ? read_object(step, oid, 0, back, sizeof back) : -1;
            if (n >= 0) {
                report(n == total && memcmp(back, img, total) == 0, step, "%d bytes, %s", n,
                       n == total && memcmp(back, img, total) == 0 ? "equal" : "differ");
            }
        }
    }
    /* metadata write and read back */
    {
        static const uint8_t w[] = {0x82, 0x01, 0x00, 0x09, 0xF1, 0xE1, 0x00, 0x00, 0x20, 0x03, 0xD1, 0x01, 0x00};
        static const uint8_t r[] = {0x81, 0x01, 0x00, 0x02, 0xF1, 0xE1};
        n = cmd("SetDataObject F1E1 metadata (D1 := ALW)", 0, w, sizeof w);
        if (n >= 0) {
            report(n == 0, "SetDataObject F1E1 metadata (D1 := ALW)", "OutLen %d", n);
        }
        n = cmd("GetDataObject F1E1 metadata", 0, r, sizeof r);
        if (n > 0) {
            int found = 0;
            for (int i = 6; i + 2 < 4 + n; i++) {
                if (resp[i] == 0xD1 && resp[i + 1] == 0x01 && resp[i + 2] == 0x00) {
                    found = 1;
                }
            }
            report(found, "GetDataObject F1E1 metadata", "D1 01 00 %s", found ? "present" : "missing");
            hex("meta", resp + 4, (size_t)n, 32);
        }
    }
    /* errors the library handles through F1C2 */
    {
        static const uint8_t k[] = {0x81, 0x00, 0x00, 0x06, 0xE0, 0xF0, 0x00, 0x00, 0x06, 0x11};
        static const uint8_t u[] = {0x81, 0x00, 0x00, 0x06, 0xAB, 0xCD, 0x00, 0x00, 0x06, 0x11};
        static const uint8_t bad[] = {0xEE, 0x00, 0x00, 0x00};
        expect_error("GetDataObject E0F0 (private key) refused", 0, k, sizeof k, 0x07);
        expect_error("GetDataObject unknown OID", 0, u, sizeof u, 0x01);
        expect_error("unknown command 0x6E", 0, bad, sizeof bad, 0x0A);
    }
}

/* monotonic counter, a PRESSEC secret in F1D0, and what the chip derives from it
 * (HKDF, TLS PRF, HMAC) compared with mbedTLS on the host */
static void step_secrets(void)
{
    static const uint8_t secret[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB,
                                       0xCC, 0xDD, 0xEE, 0xF0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                       0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x12};
    static const uint8_t salt[13] = "interop-salt!";
    static const uint8_t info[9] = "info-text";
    static const uint8_t seed[24] = "label-and-seed-24-bytes!";
    uint8_t a[200], want[64];
    uint16_t L;
    int n;
    {
        static const uint8_t inc[] = {0x82, 0x02, 0x00, 0x05, 0xE1, 0x20, 0x00, 0x00, 0x03};
        uint8_t c[16];
        n = cmd("SetDataObject E120 count +3", 0, inc, sizeof inc);
        if (n >= 0) {
            report(n == 0, "SetDataObject E120 count +3", "OutLen %d", n);
        }
        n = read_object("GetDataObject E120 (counter)", 0xE120, 0, c, sizeof c);
        if (n >= 0) {
            report(n == 8 && optiga_common_get_uint32(c) == 3, "GetDataObject E120 (counter)",
                   "%d bytes, value %u, threshold %08X", n, n >= 4 ? (unsigned)optiga_common_get_uint32(c) : 0u,
                   n == 8 ? (unsigned)optiga_common_get_uint32(c + 4) : 0u);
        }
    }
    {
        static const uint8_t meta[] = {0x82, 0x01, 0x00, 0x0C, 0xF1, 0xD0, 0x00, 0x00,
                                       0x20, 0x06, 0xE8, 0x01, 0x21, 0xD3, 0x01, 0x00};
        n = cmd("SetDataObject F1D0 metadata (type PRESSEC, Execute ALW)", 0, meta, sizeof meta);
        if (n >= 0) {
            report(n == 0, "SetDataObject F1D0 metadata (type PRESSEC, Execute ALW)", "OutLen %d", n);
        }
        memcpy(a, (const uint8_t[]){0x82, 0x40, 0x00, 0x24, 0xF1, 0xD0, 0x00, 0x00}, 8);
        memcpy(a + 8, secret, 32);
        n = cmd("SetDataObject F1D0 secret (32 B)", 0, a, 40);
        if (n >= 0) {
            report(n == 0, "SetDataObject F1D0 secret (32 B)", "OutLen %d", n);
        }
    }
    /* HKDF-SHA256 export: tags 01, 03, 04, 02, 07 as the library orders them */
    L = 0;
    a[L++] = 0xB4;
    a[L++] = 0x08;
    L += 2;
    memcpy(a + L, (const uint8_t[]){0x01, 0x00, 0x02, 0xF1, 0xD0, 0x03, 0x00, 0x02, 0x00, 0x20, 0x04, 0x00,
                                    sizeof info},
           13);
    L += 13;
    memcpy(a + L, info, sizeof info);
    L += sizeof info;
    memcpy(a + L, (const uint8_t[]){0x02, 0x00, sizeof salt}, 3);
    L += 3;
    memcpy(a + L, salt, sizeof salt);
    L += sizeof salt;
    memcpy(a + L, (const uint8_t[]){0x07, 0x00, 0x00}, 3);
    L += 3;
    a[2] = (uint8_t)((L - 4) >> 8);
    a[3] = (uint8_t)(L - 4);
    if (chip_v1) {
        expect_error("DeriveKey HKDF on V1 refused (Param)", 0, a, L, 0x03);
        n = -1;
    } else {
        n = cmd("DeriveKey HKDF-SHA256 from F1D0", 0, a, L);
    }
    if (n >= 0) {
        int ok = n == 32 &&
                 mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt, sizeof salt, secret, 32, info,
                              sizeof info, want, 32) == 0 &&
                 memcmp(want, resp + 4, 32) == 0;
        report(ok, "DeriveKey HKDF-SHA256 from F1D0", "OutLen %d, %s mbedTLS HKDF", n, ok ? "equals" : "differs from");
    }
    /* TLS 1.2 PRF SHA-256 export: derivation data = label || seed */
    L = 0;
    a[L++] = 0xB4;
    a[L++] = 0x01;
    L += 2;
    memcpy(a + L, (const uint8_t[]){0x01, 0x00, 0x02, 0xF1, 0xD0, 0x03, 0x00, 0x02, 0x00, 0x30, 0x02, 0x00,
                                    sizeof seed},
           13);
    L += 13;
    memcpy(a + L, seed, sizeof seed);
    L += sizeof seed;
    memcpy(a + L, (const uint8_t[]){0x07, 0x00, 0x00}, 3);
    L += 3;
    a[2] = (uint8_t)((L - 4) >> 8);
    a[3] = (uint8_t)(L - 4);
    n = cmd("DeriveKey TLS-PRF SHA-256 from F1D0", 0, a, L);
    if (n >= 0) {
        int ok = n == 48 && mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, secret, 32, "", seed, sizeof seed, want,
                                                48) == 0 &&
                 memcmp(want, resp + 4, 48) == 0;
        report(ok, "DeriveKey TLS-PRF SHA-256 from F1D0", "OutLen %d, %s mbedTLS's PRF", n,
               ok ? "equals" : "differs from");
    }
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    /* HMAC-SHA256 with the F1D0 secret (EncryptSym mode 0x20, start&final), command-protected as the library sends it */
    L = 0;
    memcpy(a, (const uint8_t[]){0x94, 0x20, 0x00, 0x00, 0xF1, 0xD0, 0x01, 0x00, sizeof seed}, 9);
    L = 9;
    memcpy(a + L, seed, sizeof seed);
    L += sizeof seed;
    a[3] = (uint8_t)(L - 4);
    if (chip_v1) {
        expect_error("EncryptSym on V1 refused (no such command)", 1, a, L, 0x0A);
        n = -1;
    } else {
        n = cmd("EncryptSym HMAC-SHA256 with F1D0 (command protection)", 1, a, L);
    }
    if (n >= 0) {
        int ok = n == 35 && resp[4] == 0x61 && resp[6] == 32 &&
                 mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret, 32, seed, sizeof seed,
                                 want) == 0 &&
                 memcmp(want, resp + 7, 32) == 0;
        report(ok, "EncryptSym HMAC-SHA256 with F1D0 (command protection)", "OutLen %d, %s mbedTLS's HMAC", n,
               ok ? "equals" : "differs from");
    }
#endif
}

#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
static void step_shield(void)
{
    static const uint8_t r[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    static const uint8_t uid[] = {0x81, 0x00, 0x00, 0x06, 0xE0, 0xC2, 0x00, 0x00, 0x06, 0x11};
    static const uint8_t pbs[] = {0x81, 0x00, 0x00, 0x06, 0xE1, 0x40, 0x00, 0x00, 0x06, 0x11};
    int n;
    n = cmd("GetRandom, full protection (handshake)", 3, r, sizeof r);
    if (n >= 0) {
        report(n == 32, "GetRandom, full protection (handshake)", "%d bytes", n);
    }
    n = cmd("GetDataObject E0C2, response protection", 2, uid, sizeof uid);
    if (n >= 0) {
        report(n == 27, "GetDataObject E0C2, response protection", "%d bytes", n);
    }
    n = cmd("GetRandom, command protection", 1, r, sizeof r);
    if (n >= 0) {
        report(n == 32, "GetRandom, command protection", "%d bytes", n);
    }
    n = cmd("GetRandom, plain record after handshake", 0, r, sizeof r);
    if (n >= 0) {
        report(n == 32, "GetRandom, plain record after handshake", "%d bytes", n);
    }
    /* factory E140: Read = LcsO < op, so the secret is readable until the object is locked */
    n = cmd("GetDataObject E140 (PBS, factory read access)", 2, pbs, sizeof pbs);
    if (n >= 0) {
        int ok = n == 64;
        for (int i = 0; ok && i < 64; i++) {
            ok = resp[4 + i] == (uint8_t)(i + 1);
        }
        report(ok, "GetDataObject E140 (PBS, factory read access)", "%d bytes %s", n,
               ok ? "= the harness's secret" : "differ");
    }
    n = cmd("GetRandom, re-establish (0x83)", 0x83, r, sizeof r);
    if (n >= 0) {
        report(n == 32, "GetRandom, re-establish (0x83)", "%d bytes", n);
    }
    /* AES: GenSymKey into E200, EncryptSym ECB under command protection, DecryptSym under response protection */
    {
        static const uint8_t g[] = {0xB9, 0x81, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE2, 0x00, 0x02, 0x00, 0x01, 0x02};
        uint8_t e[64] = {0x94, 0x08, 0x00, 0x15, 0xE2, 0x00, 0x01, 0x00, 0x10};
        uint8_t ct[16];
        for (int i = 0; i < 16; i++) {
            e[9 + i] = (uint8_t)(0xA0 + i);
        }
        if (chip_v1) {
            expect_error("GenSymKey on V1 refused (no such command)", 0, g, sizeof g, 0x0A);
            return;
        }
        n = cmd("GenSymKey AES-128 E200", 0, g, sizeof g);
        if (n >= 0) {
            report(n == 0, "GenSymKey AES-128 E200", "OutLen %d", n);
        }
        n = cmd("EncryptSym ECB (command protection)", 1, e, 25);
        if (n == 19 && resp[4] == 0x61 && resp[5] == 0 && resp[6] == 16) {
            memcpy(ct, resp + 7, 16);
            report(1, "EncryptSym ECB (command protection)", "61 00 10 + 16 bytes");
            e[0] = 0x95;
            memcpy(e + 9, ct, 16);
            n = cmd("DecryptSym ECB (response protection)", 2, e, 25);
            if (n >= 0) {
                int ok = n == 19 && resp[4] == 0x61;
                for (int i = 0; ok && i < 16; i++) {
                    ok = resp[7 + i] == (uint8_t)(0xA0 + i);
                }
                report(ok, "DecryptSym ECB (response protection)", "plaintext %s", ok ? "round-trips" : "differs");
            }
        } else if (n >= 0) {
            report(0, "EncryptSym ECB (command protection)", "OutLen %d", n);
        }
        e[0] = 0x94;
        for (int i = 0; i < 16; i++) {
            e[9 + i] = (uint8_t)(0xA0 + i);
        }
        expect_error("EncryptSym ECB unprotected refused", 0, e, 25, 0x07);
    }
}
#endif

static void step_rsa(void)
{
    static const uint8_t g[] = {0xB8, 0x41, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE0, 0xFC, 0x02, 0x00, 0x01, 0x10};
    uint8_t a[64], spki[200], pub[160];
    int n, publen;
    n = cmd("GenKeyPair RSA-1024 E0FC", 0, g, sizeof g);
    if (n < 0) {
        return;
    }
    if (n < 4 || resp[4] != 0x02) {
        report(0, "GenKeyPair RSA-1024 E0FC", "OutLen %d", n);
        return;
    }
    publen = resp[5] << 8 | resp[6];
    if (publen > (int)sizeof pub || publen + 3 != n) {
        report(0, "GenKeyPair RSA-1024 E0FC", "public key length %d", publen);
        return;
    }
    memcpy(pub, resp + 7, (size_t)publen);
    report(1, "GenKeyPair RSA-1024 E0FC", "public key BIT STRING, %d bytes", publen);
    hex("rsa pub", pub, (size_t)publen, 12);
    memcpy(a, (const uint8_t[]){0xB1, 0x01, 0x00, 0x28, 0x01, 0x00, 0x20}, 7);
    memcpy(a + 7, abc_sha256, 32);
    memcpy(a + 39, (const uint8_t[]){0x03, 0x00, 0x02, 0xE0, 0xFC}, 5);
    n = cmd("CalcSign RSA PKCS#1 v1.5 SHA-256", 0, a, 44);
    if (n == 128) {
        /* SPKI = SEQ { SEQ { rsaEncryption, NULL }, BIT STRING } */
        static const uint8_t alg[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00};
        size_t L = sizeof alg + (size_t)publen, o = 0;
        mbedtls_pk_context pk;
        int ok;
        spki[o++] = 0x30;
        spki[o++] = 0x81;
        spki[o++] = (uint8_t)L;
        memcpy(spki + o, alg, sizeof alg);
        o += sizeof alg;
        memcpy(spki + o, pub, (size_t)publen);
        o += (size_t)publen;
        mbedtls_pk_init(&pk);
        ok = mbedtls_pk_parse_public_key(&pk, spki, o) == 0 &&
             mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, abc_sha256, 32, resp + 4, 128) == 0;
        mbedtls_pk_free(&pk);
        report(ok, "CalcSign RSA PKCS#1 v1.5 SHA-256", "128 bytes, %s with mbedTLS", ok ? "verified" : "NOT verified");
    } else if (n >= 0) {
        report(0, "CalcSign RSA PKCS#1 v1.5 SHA-256", "OutLen %d", n);
    }
}

/* Authorization reference (V3), built as the spec sheet describes the library's
 * optiga_crypt_generate_auth_code / optiga_crypt_hmac_verify / optiga_crypt_clear_auto_state:
 * GetRandom with session OID and tag 41 stores a random in the session; DecryptSym
 * HMAC-SHA256 with key OID = the AUTOREF object, data = session OID || M (M starts with
 * that random) and 43 = HMAC(secret, M) sets Auto(key OID); the same with empty data and
 * an empty 43 clears it (the chip answers with an error). F1D2 gets Read = Auto(F1D1). */
static int set_object(const char *step, const uint8_t *head, const uint8_t *body, size_t blen)
{
    uint8_t a[64];
    int n;
    memcpy(a, head, 8);
    memcpy(a + 8, body, blen);
    a[3] = (uint8_t)(4 + blen);
    n = cmd(step, 0, a, (uint16_t)(8 + blen));
    if (n >= 0) {
        report(n == 0, step, "OutLen %d", n);
    }
    return n == 0 ? 0 : -1;
}

/* DecryptSym HMAC verify over a fresh session random; bad != 0 flips one MAC bit */
static int hmac_verify_apdu(const uint8_t *secret, size_t slen, int bad, uint8_t *a)
{
    static const uint8_t gr[] = {0x8C, 0x00, 0x00, 0x07, 0x00, 0x20, 0xE1, 0x00, 0x41, 0x00, 0x00};
    static const uint8_t arb[] = "arbitrary data";
    uint8_t m[32 + sizeof arb], mac[32];
    size_t ml = 0, o = 4;
    if (cmd("GetRandom 32 into session E100 (auth code)", 0, gr, sizeof gr) != 32) {
        return -1;
    }
    memcpy(m, resp + 4, 32);
    ml = 32;
    memcpy(m + ml, arb, sizeof arb - 1);
    ml += sizeof arb - 1;
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret, slen, m, ml, mac) != 0) {
        return -1;
    }
    mac[5] ^= (uint8_t)(bad ? 0x01 : 0x00);
    a[0] = 0x95;
    a[1] = 0x20;
    a[o++] = 0xF1;
    a[o++] = 0xD1;
    a[o++] = 0x01;
    a[o++] = 0x00;
    a[o++] = (uint8_t)(2 + ml);
    a[o++] = 0xE1;
    a[o++] = 0x00;
    memcpy(a + o, m, ml);
    o += ml;
    a[o++] = 0x43;
    a[o++] = 0x00;
    a[o++] = 0x20;
    memcpy(a + o, mac, 32);
    o += 32;
    a[2] = (uint8_t)((o - 4) >> 8);
    a[3] = (uint8_t)(o - 4);
    return (int)o;
}

static void step_auto(void)
{
    static const uint8_t secret[32] = "interop: authorization reference";
    static const uint8_t rd[] = {0x81, 0x00, 0x00, 0x06, 0xF1, 0xD2, 0x00, 0x00, 0x00, 0x04};
    static const uint8_t clr[] = {0x95, 0x20, 0x00, 0x08, 0xF1, 0xD1, 0x01, 0x00, 0x00, 0x43, 0x00, 0x00};
    static const uint8_t clr_lib[] = {0x95, 0x20, 0x00, 0x07, 0xF1, 0xD1, 0x01, 0x00, 0x02, 0x00, 0x00};
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    const uint8_t rprot = 2;
#else
    const uint8_t rprot = 0;
#endif
    uint8_t a[160];
    int n, L;
    if (set_object("SetDataObject F1D1 secret (32 B)", (const uint8_t[]){0x82, 0x40, 0x00, 0, 0xF1, 0xD1, 0x00, 0x00},
                   secret, 32) ||
        set_object("SetDataObject F1D1 metadata (type AUTOREF, Execute ALW)",
                   (const uint8_t[]){0x82, 0x01, 0x00, 0, 0xF1, 0xD1, 0x00, 0x00},
                   (const uint8_t[]){0x20, 0x06, 0xE8, 0x01, 0x31, 0xD3, 0x01, 0x00}, 8) ||
        set_object("SetDataObject F1D2 data (4 B)", (const uint8_t[]){0x82, 0x40, 0x00, 0, 0xF1, 0xD2, 0x00, 0x00},
                   (const uint8_t[]){0xCA, 0xFE, 0xF0, 0x0D}, 4) ||
        set_object("SetDataObject F1D2 metadata (Read = Auto(F1D1))",
                   (const uint8_t[]){0x82, 0x01, 0x00, 0, 0xF1, 0xD2, 0x00, 0x00},
                   (const uint8_t[]){0x20, 0x05, 0xD1, 0x03, 0x23, 0xF1, 0xD1}, 7)) {
        return;
    }
    expect_error("F1D2 read before HMAC verify", 0, rd, sizeof rd, 0x07);
    L = hmac_verify_apdu(secret, sizeof secret, 1, a);
    if (L > 0) {
        expect_error("HMAC verify with a wrong MAC", rprot, a, (uint16_t)L, 0x2F);
        expect_error("F1D2 read after the failed verify", 0, rd, sizeof rd, 0x07);
    }
    L = hmac_verify_apdu(secret, sizeof secret, 0, a);
    if (L <= 0) {
        return;
    }
    n = cmd("HMAC verify (DecryptSym 0x20, AUTOREF F1D1)", rprot, a, (uint16_t)L);
    if (n >= 0) {
        report(n == 0, "HMAC verify (DecryptSym 0x20, AUTOREF F1D1)", "OutLen %d", n);
    }
    n = cmd("F1D2 read in Auto(F1D1) state", 0, rd, sizeof rd);
    if (n >= 0) {
        report(n == 4 && resp[4] == 0xCA && resp[7] == 0x0D, "F1D2 read in Auto(F1D1) state", "%d bytes", n);
    }
    /* the session random is single-use: the same APDU again fails and clears the state */
    expect_error("HMAC verify replayed (random used up)", rprot, a, (uint16_t)L, 0x2F);
    expect_error("F1D2 read after the replay", 0, rd, sizeof rd, 0x07);
    /* clearing the state: first as the library's optiga_crypt_clear_auto_state sends it
     * (optiga_cmd.c 03a3ebe: KeyOID, 01 00 02 <its session OID, here none>, no 43; it
     * ignores the answer), then as libtrustm sends it (01 00 00, 43 00 00) */
    for (int form = 0; form < 2; form++) {
        const uint8_t *c = form ? clr : clr_lib;
        uint16_t cl = form ? (uint16_t)sizeof clr : (uint16_t)sizeof clr_lib;
        const char *step = form ? "clear Auto state, libtrustm's form" : "clear Auto state, the library's form";
        L = hmac_verify_apdu(secret, sizeof secret, 0, a);
        n = L > 0 ? cmd("HMAC verify again", rprot, a, (uint16_t)L) : -1;
        if (n != 0 || cmd("F1D2 read in Auto(F1D1) state again", 0, rd, sizeof rd) != 4) {
            report(0, step, "no Auto state to clear");
            continue;
        }
        optiga_lib_status_t st = xfer(rprot, c, cl);
        int sta = st == OPTIGA_COMMS_SUCCESS && resp_len == 4 ? resp[0] : -1;
        int code = last_error();
        report(sta == 0xFF, step, "Sta 0x%02X, F1C2 0x%02X (the chip answers with an error and clears the state)",
               (unsigned)sta & 0xFFu, (unsigned)code & 0xFFu);
        expect_error(form ? "F1D2 read after libtrustm's clear" : "F1D2 read after the library's clear", 0, rd,
                     sizeof rd, 0x07);
    }
}

/* RSA key exchange as optiga_crypt_rsa_generate_pre_master_secret /
 * rsa_encrypt_session / tls_prf build it (read for facts: GetRandom Param 04 with length,
 * session OID, 41 prefix; EncryptAsym 02 00 02 session OID then the key; DeriveKey 01 OID,
 * 03 length, 02 data, 07 export). The session secret never leaves the chip in the
 * library's flow; here E0FD (usage Enc) decrypts the chip's ciphertext so the host can
 * check the PRF output against mbedTLS. The library protects the command of an
 * EncryptAsym or DeriveKey on a session secret. */
static void step_rsa_key_exchange(const uint8_t *pub, int publen)
{
    static const uint8_t gr[] = {0x8C, 0x04, 0x00, 0x09, 0x00, 0x2E, 0xE1, 0x00, 0x41, 0x00, 0x02, 0x03, 0x03};
    static const uint8_t seed[] = "master secretinterop client+server random";
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    const uint8_t cprot = 1, rprot = 2;
#else
    const uint8_t cprot = 0, rprot = 0;
#endif
    uint8_t a[400], pms[48], want[48];
    size_t o;
    int n = cmd("GetRandom pre-master secret into E100 (Param 04, prefix 03 03)", 0, gr, sizeof gr);
    if (n != 0) {
        if (n > 0) {
            report(0, "GetRandom pre-master secret into E100 (Param 04, prefix 03 03)", "OutLen %d", n);
        }
        return;
    }
    o = 4;
    a[0] = 0x9E;
    a[1] = 0x11;
    memcpy(a + o, (const uint8_t[]){0x02, 0x00, 0x02, 0xE1, 0x00, 0x05, 0x00, 0x01, 0x41, 0x06, 0x00, (uint8_t)publen},
           12);
    o += 12;
    memcpy(a + o, pub, (size_t)publen);
    o += (size_t)publen;
    a[2] = (uint8_t)((o - 4) >> 8);
    a[3] = (uint8_t)(o - 4);
    n = cmd("EncryptAsym of session E100", cprot, a, (uint16_t)o);
    if (n != 131) {
        if (n >= 0) {
            report(0, "EncryptAsym of session E100", "OutLen %d", n);
        }
        return;
    }
    memmove(a + 7, resp + 7, 128);
    a[0] = 0x9F;
    a[1] = 0x11;
    a[2] = 0x00;
    a[3] = 3 + 128 + 5;
    a[4] = 0x61;
    a[5] = 0x00;
    a[6] = 0x80;
    memcpy(a + 7 + 128, (const uint8_t[]){0x03, 0x00, 0x02, 0xE0, 0xFD}, 5);
    n = cmd("DecryptAsym of the session's ciphertext", rprot, a, 4 + 3 + 128 + 5);
    if (n != 51 || resp[4] != 0x61 || resp[6] != 48 || resp[7] != 0x03 || resp[8] != 0x03) {
        if (n >= 0) {
            report(0, "DecryptAsym of the session's ciphertext", "OutLen %d", n);
        }
        return;
    }
    memcpy(pms, resp + 7, 48);
    report(1, "EncryptAsym of session E100", "ciphertext decrypts to 48 bytes starting 03 03");
    /* the same ciphertext decrypted into session E101 (rsa_decrypt_and_store: 02 00 02 after the key OID) */
    a[3] = 3 + 128 + 5 + 5;
    memcpy(a + 7 + 128 + 5, (const uint8_t[]){0x02, 0x00, 0x02, 0xE1, 0x01}, 5);
    n = cmd("DecryptAsym into session E101", 0, a, 4 + 3 + 128 + 5 + 5);
    if (n >= 0) {
        report(n == 0, "DecryptAsym into session E101", "OutLen %d", n);
    }
    o = 4;
    a[0] = 0xB4;
    a[1] = 0x01;
    memcpy(a + o, (const uint8_t[]){0x01, 0x00, 0x02, 0xE1, 0x00, 0x03, 0x00, 0x02, 0x00, 0x30, 0x02, 0x00,
                                    (uint8_t)(sizeof seed - 1)},
           13);
    o += 13;
    memcpy(a + o, seed, sizeof seed - 1);
    o += sizeof seed - 1;
    memcpy(a + o, (const uint8_t[]){0x07, 0x00, 0x00}, 3);
    o += 3;
    a[2] = (uint8_t)((o - 4) >> 8);
    a[3] = (uint8_t)(o - 4);
    for (int sess = 0; sess < 2; sess++) {
        const char *step = sess ? "DeriveKey TLS-PRF SHA-256 from session E101" : "DeriveKey TLS-PRF SHA-256 from session E100";
        a[8] = (uint8_t)sess;
        n = cmd(step, cprot, a, (uint16_t)o);
        if (n >= 0) {
            int ok = n == 48 &&
                     mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, pms, 48, "master secret", seed + 13,
                                         sizeof seed - 1 - 13, want, 48) == 0 &&
                     memcmp(want, resp + 4, 48) == 0;
            report(ok, step, "OutLen %d, %s mbedTLS's PRF over the decrypted secret", n, ok ? "equals" : "differs from");
        }
    }
}

/* RSA encryption as optiga_crypt_rsa_encrypt_message / rsa_decrypt_and_export build it
 * (read for facts): EncryptAsym 61 message, 05 00 01 algo, 06 public key; DecryptAsym
 * 61 ciphertext, 03 00 02 key OID. The exported plaintext needs response protection
 * once a shielded connection exists (the library forces it). */
static void step_rsa_enc(void)
{
    static const uint8_t g[] = {0xB8, 0x41, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE0, 0xFD, 0x02, 0x00, 0x01, 0x02};
    static const uint8_t msg[] = "interop: RSAES-PKCS1-v1_5 round trip";
    const size_t ml = sizeof msg - 1;
    uint8_t a[400], pub[160], ct[128];
    int n, publen;
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    const uint8_t rprot = 2;
#else
    const uint8_t rprot = 0;
#endif
    n = cmd("GenKeyPair RSA-1024 E0FD (Enc)", 0, g, sizeof g);
    if (n < 4 || resp[4] != 0x02) {
        return;
    }
    publen = resp[5] << 8 | resp[6];
    if (publen > (int)sizeof pub || publen + 3 != n) {
        report(0, "GenKeyPair RSA-1024 E0FD (Enc)", "public key length %d", publen);
        return;
    }
    memcpy(pub, resp + 7, (size_t)publen);
    report(1, "GenKeyPair RSA-1024 E0FD (Enc)", "public key BIT STRING, %d bytes", publen);
    /* the chip encrypts with the key given by the host */
    {
        size_t o = 4;
        a[0] = 0x9E;
        a[1] = 0x11;
        a[o++] = 0x61;
        a[o++] = 0x00;
        a[o++] = (uint8_t)ml;
        memcpy(a + o, msg, ml);
        o += ml;
        memcpy(a + o, (const uint8_t[]){0x05, 0x00, 0x01, 0x41, 0x06, 0x00, (uint8_t)publen}, 7);
        o += 7;
        memcpy(a + o, pub, (size_t)publen);
        o += (size_t)publen;
        a[2] = (uint8_t)((o - 4) >> 8);
        a[3] = (uint8_t)(o - 4);
        n = cmd("EncryptAsym RSA-1024 (public key from host)", 0, a, (uint16_t)o);
        if (n != 131 || resp[4] != 0x61 || resp[5] != 0x00 || resp[6] != 0x80) {
            if (n >= 0) {
                report(0, "EncryptAsym RSA-1024 (public key from host)", "OutLen %d", n);
            }
            return;
        }
        memcpy(ct, resp + 7, 128);
        report(1, "EncryptAsym RSA-1024 (public key from host)", "61 00 80 + 128-byte ciphertext");
    }
    /* the chip decrypts its own ciphertext, then one made by mbedTLS with the same key */
    for (int round = 0; round < 2; round++) {
        const char *step = round ? "DecryptAsym of mbedTLS's ciphertext" : "DecryptAsym of the chip's ciphertext";
        size_t o = 4;
        if (round) {
            /* SPKI around the BIT STRING, as in step_rsa */
            static const uint8_t alg[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00};
            uint8_t spki[200];
            size_t L = sizeof alg + (size_t)publen, so = 0;
            mbedtls_pk_context pk;
            int e;
            spki[so++] = 0x30;
            spki[so++] = 0x81;
            spki[so++] = (uint8_t)L;
            memcpy(spki + so, alg, sizeof alg);
            so += sizeof alg;
            memcpy(spki + so, pub, (size_t)publen);
            so += (size_t)publen;
            mbedtls_pk_init(&pk);
            e = mbedtls_pk_parse_public_key(&pk, spki, so) ||
                mbedtls_rsa_pkcs1_encrypt(mbedtls_pk_rsa(pk), mbedtls_ctr_drbg_random, &drbg, MBEDTLS_RSA_PUBLIC, ml,
                                          msg, ct);
            mbedtls_pk_free(&pk);
            if (e) {
                report(0, step, "mbedTLS could not encrypt");
                return;
            }
        }
        a[0] = 0x9F;
        a[1] = 0x11;
        a[o++] = 0x61;
        a[o++] = 0x00;
        a[o++] = 0x80;
        memcpy(a + o, ct, 128);
        o += 128;
        memcpy(a + o, (const uint8_t[]){0x03, 0x00, 0x02, 0xE0, 0xFD}, 5);
        o += 5;
        a[2] = (uint8_t)((o - 4) >> 8);
        a[3] = (uint8_t)(o - 4);
        n = cmd(step, rprot, a, (uint16_t)o);
        if (n >= 0) {
            int ok = n == (int)ml + 3 && resp[4] == 0x61 && resp[6] == ml && memcmp(resp + 7, msg, ml) == 0;
            report(ok, step, "OutLen %d, plaintext %s", n, ok ? "equal" : "differs");
        }
    }
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    /* the same APDU without response protection: the chip keeps the plaintext to itself */
    expect_error("DecryptAsym export without response protection", 0, a, (uint16_t)(4 + 3 + 128 + 5), 0x07);
#endif
    step_rsa_key_exchange(pub, publen);
}

static int close_app(int hibernate, uint8_t *handle)
{
    uint8_t c[4] = {0xF1, (uint8_t)(hibernate ? 0x01 : 0x00), 0x00, 0x00};
    int n = cmd(hibernate ? "CloseApplication(hibernate)" : "CloseApplication", 0, c, 4);
    if (n < 0) {
        return -1;
    }
    if (hibernate) {
        report(n == 8, "CloseApplication(hibernate)", "OutLen %d", n);
        if (n != 8) {
            return -1;
        }
        memcpy(handle, resp + 4, 8);
        hex("handle", handle, 8, 8);
    } else {
        report(n == 0, "CloseApplication", "OutLen %d", n);
    }
    return 0;
}

static int comms_close(uint8_t manage)
{
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    comms->manage_context_operation = manage;
#else
    (void)manage;
#endif
    done = 0;
    if (optiga_comms_close(comms) != OPTIGA_COMMS_SUCCESS) {
        report(0, "comms_close", "call refused");
        return -1;
    }
    if (!done && wait_done("comms_close") != 0) {
        return -1;
    }
    report(last_event == 0, "comms_close", "status 0x%04X", last_event);
    optiga_comms_destroy(comms);
    return last_event == 0 ? 0 : -1;
}

static int comms_reset(uint8_t type)
{
    done = 0;
    if (optiga_comms_reset(comms, type) != OPTIGA_COMMS_SUCCESS) {
        report(0, "comms_reset", "call refused");
        return -1;
    }
    if (wait_done("comms_reset") != 0) {
        return -1;
    }
    report(last_event == 0, "comms_reset", "type %u status 0x%04X", type, last_event);
    return last_event == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "all";
    const char *hf = getenv("INTEROP_HANDLE_FILE");
    uint8_t handle[8];

    chip_v1 = getenv("INTEROP_CHIP_V1") != NULL;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const uint8_t *)"interop", 7) != 0) {
        return 2;
    }
    if (!strcmp(mode, "all")) {
        if (comms_open(IFX_I2C_SESSION_CONTEXT_NONE) == 0 && open_app(NULL) == 0) {
            step_objects();
            step_crypto();
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
            step_shield();
#endif
            step_secrets();
            if (!getenv("INTEROP_NO_RSA")) {
                step_rsa();
                step_rsa_enc();
            }
            if (!chip_v1) {
                step_auto();
            }
            /* the library's optiga_util_open_application after a reset: soft reset, OpenApplication again */
            if (comms_reset(1) == 0) {
                open_app(NULL);
                static const uint8_t r[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x10};
                int n = cmd("GetRandom after soft reset", 0, r, sizeof r);
                if (n >= 0) {
                    report(n == 16, "GetRandom after soft reset", "%d bytes", n);
                }
            }
            close_app(0, NULL);
            comms_close(IFX_I2C_SESSION_CONTEXT_NONE);
        }
    } else if (!strcmp(mode, "hibernate")) {
        if (comms_open(IFX_I2C_SESSION_CONTEXT_NONE) == 0 && open_app(NULL) == 0) {
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
            static const uint8_t r[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
            int n = cmd("GetRandom, full protection (handshake)", 3, r, sizeof r);
            if (n >= 0) {
                report(n == 32, "GetRandom, full protection (handshake)", "%d bytes", n);
            }
#endif
            /* as the library's hibernate example: read SEC (E0C5) every second until it is 0 */
            {
                uint8_t sec[4];
                int polls = 0, v = -1;
                for (; polls < 30; polls++) {
                    if (read_object("GetDataObject E0C5 (SEC)", 0xE0C5, 0, sec, sizeof sec) != 1) {
                        break;
                    }
                    v = sec[0];
                    if (v == 0) {
                        break;
                    }
                    pal_os_timer_delay_in_milliseconds(1000);
                }
                report(v == 0, "wait for SEC = 0", "%d read(s) of E0C5, last %d", polls + 1, v);
            }
            if (close_app(1, handle) == 0) {
                FILE *f = hf ? fopen(hf, "wb") : NULL;
                if (f) {
                    fwrite(handle, 1, 8, f);
                    fclose(f);
                }
                comms_close(IFX_I2C_SESSION_CONTEXT_SAVE);
            }
        }
    } else if (!strcmp(mode, "restore")) {
        FILE *f = hf ? fopen(hf, "rb") : NULL;
        if (!f || fread(handle, 1, 8, f) != 8) {
            report(0, "restore", "no handle file");
        } else if (comms_open(IFX_I2C_SESSION_CONTEXT_RESTORE) == 0 && open_app(handle) == 0) {
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
            static const uint8_t r[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
            unsigned long before = interop_event_count;
            int n = cmd("GetRandom, full protection on the restored session", 3, r, sizeof r);
            if (n >= 0) {
                report(n == 32, "GetRandom, full protection on the restored session", "%d bytes (%lu events)", n,
                       interop_event_count - before);
            }
#endif
            close_app(0, NULL);
            comms_close(IFX_I2C_SESSION_CONTEXT_NONE);
        }
        if (f) {
            fclose(f);
        }
    } else if (!strcmp(mode, "bound")) {
        /* a chip personalized by libtrustm's trustm tool with --bind: the key E0F1 executes only
         * over the shielded connection (Execute = Conf(E140)); PBS from $INTEROP_PBS */
        if (comms_open(IFX_I2C_SESSION_CONTEXT_NONE) == 0 && open_app(NULL) == 0) {
            uint8_t a[44] = {0xB1, 0x11, 0x00, 0x28, 0x01, 0x00, 0x20};
            static const uint8_t m[] = {0x81, 0x01, 0x00, 0x02, 0xE0, 0xF1};
            int n;
            memcpy(a + 7, abc_sha256, 32);
            memcpy(a + 39, (const uint8_t[]){0x03, 0x00, 0x02, 0xE0, 0xF1}, 5);
            n = cmd("GetDataObject E0F1 metadata", 0, m, sizeof m);
            if (n > 0) {
                int found = 0;
                for (int i = 4; i + 4 < 4 + n; i++) {
                    found |= !memcmp(resp + i, "\xD3\x03\x20\xE1\x40", 5);
                }
                report(found, "GetDataObject E0F1 metadata", "Execute D3 03 20 E1 40 %s", found ? "present" : "missing");
                hex("meta", resp + 4, (size_t)n, 40);
            }
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
            expect_error("CalcSign E0F1 plain refused", 0, a, 44, 0x07);
            n = cmd("CalcSign E0F1 over the shielded connection", 3, a, 44);
            if (n > 0) {
                save("sig_bound.bin", resp + 4, (size_t)n);
                save("digest.bin", abc_sha256, 32);
                report(1, "CalcSign E0F1 over the shielded connection", "%d-byte r||s", n);
            }
#endif
            close_app(0, NULL);
            comms_close(IFX_I2C_SESSION_CONTEXT_NONE);
        }
    } else if (!strcmp(mode, "throttle")) {
        /* CalcSign with a persistent key until the Security Monitor throttles: the chip must still
         * acknowledge every frame within the library's 10 ms data-link timeout */
        static const uint8_t g[] = {0xB8, 0x03, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE0, 0xF1, 0x02, 0x00, 0x01, 0x10};
        int count = getenv("INTEROP_SIGNS") ? atoi(getenv("INTEROP_SIGNS")) : 150;
        if (comms_open(IFX_I2C_SESSION_CONTEXT_NONE) == 0 && open_app(NULL) == 0 &&
            cmd("GenKeyPair P-256 E0F1", 0, g, sizeof g) == 71) {
            uint8_t a[44] = {0xB1, 0x11, 0x00, 0x28, 0x01, 0x00, 0x20};
            uint32_t t_first = 0, t_last = 0;
            int okc = 0;
            memcpy(a + 7, abc_sha256, 32);
            memcpy(a + 39, (const uint8_t[]){0x03, 0x00, 0x02, 0xE0, 0xF1}, 5);
            for (int i = 0; i < count; i++) {
                uint32_t t0 = pal_os_timer_get_time_in_milliseconds();
                if (cmd("CalcSign (throttle loop)", 0, a, 44) > 0) {
                    okc++;
                }
                t0 = pal_os_timer_get_time_in_milliseconds() - t0;
                if (i == 0) {
                    t_first = t0;
                }
                t_last = t0;
            }
            report(okc == count, "CalcSign loop", "%d/%d signed, first %u ms, last %u ms", okc, count,
                   (unsigned)t_first, (unsigned)t_last);
            close_app(0, NULL);
            comms_close(IFX_I2C_SESSION_CONTEXT_NONE);
        }
    } else if (!strcmp(mode, "open")) {
        if (comms_open(IFX_I2C_SESSION_CONTEXT_NONE) == 0 && open_app(NULL) == 0) {
            close_app(0, NULL);
            comms_close(IFX_I2C_SESSION_CONTEXT_NONE);
        }
    } else {
        fprintf(stderr, "usage: %s all|hibernate|restore|open\n", argv[0]);
        return 2;
    }
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    printf("%s: %d failure(s)\n", mode, failures);
    return failures ? 1 : 0;
}
