/* Interop driver: Infineon's OPTIGA Trust M host library comms stack
 * (optiga_comms_* over ifx_i2c, its Linux i2c-dev pal_i2c.c) against
 * trustm-sim. The APDUs are ours, built from the SRM/our spec sheet in the
 * form the library's command layer sends (command code | 0x80, GetDataObject
 * with offset and length 0x0611, F1C2 read after an error).
 * Usage: infineon_host all|hibernate|restore|bound|open  (env: see ../common/pal_sim.c;
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
#include "report.h"

int interop_run(volatile int *done, unsigned limit_ms);
extern int interop_gpio_events[4];
extern unsigned long interop_event_count;

static optiga_comms_t *comms;
/* protection levels for a command on a session secret and for a secret exported: the library
 * protects those once a shielded connection exists; none without one */
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
static const uint8_t CPROT = 1, RPROT = 2, CPROT_FULL = 3;
#else
static const uint8_t CPROT = 0, RPROT = 0, CPROT_FULL = 0;
#endif
static volatile int done;
static volatile optiga_lib_status_t last_event;
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

/* the shielded connection's context operation for the next open or close (save, restore, none) */
static void set_manage(uint8_t manage)
{
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    comms->manage_context_operation = manage;
#else
    (void)manage;
#endif
}

/* an optiga_comms_* call made with done cleared, then its completion; 0 = completed */
#define COMMS_CALL(what, call) (done = 0, comms_wait((what), (call)))
static int comms_wait(const char *what, optiga_lib_status_t rc)
{
    if (rc != OPTIGA_COMMS_SUCCESS) {
        report(0, what, "call refused");
        return -1;
    }
    if (!done && interop_run(&done, 60000) != 0) {
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
    set_manage(manage);
    if (COMMS_CALL("comms_open", optiga_comms_open(comms)) != 0) {
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

/* cmd() with the outcome reported as "OutLen n" against the expected want */
static int cmd_outlen(const char *step, uint8_t prot, const uint8_t *apdu, uint16_t len, int want)
{
    int n = cmd(step, prot, apdu, len);
    if (n >= 0) {
        report(n == want, step, "OutLen %d", n);
    }
    return n;
}

/* APDU building: apdu_begin() writes the command and param (InLen left open), put()/PUT()
 * append bytes, put_tlv() a tag, 2-byte length and value, apdu_end() fills InLen and
 * returns the APDU's length */
static size_t apdu_begin(uint8_t *a, uint8_t command, uint8_t param)
{
    a[0] = command;
    a[1] = param;
    return 4;
}

static void put(uint8_t *a, size_t *o, const void *p, size_t n)
{
    memcpy(a + *o, p, n);
    *o += n;
}

#define PUT(a, o, ...)                                                                             \
    put((a), (o), (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void put_tlv(uint8_t *a, size_t *o, uint8_t tag, const void *v, size_t n)
{
    PUT(a, o, tag, (uint8_t)(n >> 8), (uint8_t)n);
    put(a, o, v, n);
}

/* an OID as a TLV: tag 00 02 OID */
static void put_oid(uint8_t *a, size_t *o, uint8_t tag, uint16_t oid)
{
    PUT(a, o, tag, 0x00, 0x02, (uint8_t)(oid >> 8), (uint8_t)oid);
}

static uint16_t apdu_end(uint8_t *a, size_t o)
{
    a[2] = (uint8_t)((o - 4) >> 8);
    a[3] = (uint8_t)(o - 4);
    return (uint16_t)o;
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
        uint8_t a[10] = {0x81,
                         0x00,
                         0x00,
                         0x06,
                         (uint8_t)(oid >> 8),
                         (uint8_t)oid,
                         (uint8_t)(got >> 8),
                         (uint8_t)got,
                         (uint8_t)(want >> 8),
                         (uint8_t)want};
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

static const uint8_t abc_sha256[32] = {
    0xBA, 0x78, 0x16, 0xBF, 0x8F, 0x01, 0xCF, 0xEA, 0x41, 0x41, 0x40, 0xDE, 0x5D, 0xAE, 0x22, 0x23,
    0xB0, 0x03, 0x61, 0xA3, 0x96, 0x17, 0x7A, 0x9C, 0xB4, 0x10, 0xFF, 0x61, 0xF2, 0x00, 0x15, 0xAD};

/* CalcSign over SHA-256("abc") with the key in key_oid: 01 digest, 03 key OID; 44 bytes */
static uint16_t calcsign_abc_apdu(uint8_t *a, uint8_t scheme, uint16_t key_oid)
{
    size_t o = apdu_begin(a, 0xB1, scheme);
    put_tlv(a, &o, 0x01, abc_sha256, 32);
    put_oid(a, &o, 0x03, key_oid);
    return apdu_end(a, o);
}

/* GenKeyPair algo into key_oid with the given key usage, public key exported */
static uint16_t genkey_apdu(uint8_t *a, uint8_t algo, uint16_t key_oid, uint8_t usage)
{
    size_t o = apdu_begin(a, 0xB8, algo);
    put_oid(a, &o, 0x01, key_oid);
    PUT(a, &o, 0x02, 0x00, 0x01, usage);
    return apdu_end(a, o);
}

/* DeriveKey TLS 1.2 PRF SHA-256 from the secret in oid, as the library orders it: 01 OID,
 * 03 output length, 02 derivation data, 07 export */
static uint16_t prf_apdu(uint8_t *a, uint16_t oid, uint16_t outlen, const void *data, size_t dlen)
{
    size_t o = apdu_begin(a, 0xB4, 0x01);
    put_oid(a, &o, 0x01, oid);
    PUT(a, &o, 0x03, 0x00, 0x02, (uint8_t)(outlen >> 8), (uint8_t)outlen);
    put_tlv(a, &o, 0x02, data, dlen);
    PUT(a, &o, 0x07, 0x00, 0x00);
    return apdu_end(a, o);
}

static int host_verify_ecdsa(const uint8_t *pub, size_t publen, const uint8_t *dg,
                             const uint8_t *sig, size_t siglen)
{
    mbedtls_ecdsa_context e;
    uint8_t der[160];
    int ok;
    if (publen != 68 || pub[0] != 0x03 || pub[1] != 0x42 || pub[2] != 0 ||
        siglen + 2 > sizeof der || siglen > 127) {
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
        cmd_outlen("GetRandom TRNG 32", 0, r, sizeof r, 32);
        r[1] = 0x01;
        r[5] = 0x00;
        r[4] = 0x01;
        n = cmd("GetRandom DRNG 256", 0, r, sizeof r);
        if (n >= 0) {
            report(n == 256, "GetRandom DRNG 256", "%d bytes (chained response)", n);
        }
        r[4] = 0x01;
        r[5] = 0x01; /* 257: above the 0x100 limit */
        /* the sheet does not say which code; the simulator answers 0x05 (parameter in data field)
         */
        expect_error("GetRandom 257 refused", 0, r, sizeof r, 0x05);
    }
    /* GenKeyPair P-256 into E0F1, usage Sign */
    {
        n = cmd("GenKeyPair P-256 E0F1", 0, a, genkey_apdu(a, 0x03, 0xE0F1, 0x10));
        publen = 0;
        if (n == 71 && resp[4] == 0x02 && resp[5] == 0x00 && resp[6] == 0x44) {
            publen = 68;
            memcpy(pub, resp + 7, 68);
            save("pub.bin", pub, 68);
            report(1, "GenKeyPair P-256 E0F1", "public key BIT STRING %02X %02X %02X %02X", pub[0],
                   pub[1], pub[2], pub[3]);
        } else if (n >= 0) {
            report(0, "GenKeyPair P-256 E0F1", "OutLen %d", n);
        }
    }
    /* CalcSign ECDSA with E0F1 over SHA-256("abc") */
    siglen = 0;
    {
        n = cmd("CalcSign ECDSA E0F1", 0, a, calcsign_abc_apdu(a, 0x11, 0xE0F1));
        if (n > 0 && n <= 72) {
            siglen = n;
            memcpy(sig, resp + 4, (size_t)n);
            save("sig.bin", sig, (size_t)n);
            save("digest.bin", abc_sha256, 32);
            report(publen && host_verify_ecdsa(pub, 68, abc_sha256, sig, (size_t)siglen),
                   "CalcSign ECDSA E0F1", "%d-byte r||s, verified on the host with mbedTLS", n);
        } else if (n >= 0) {
            report(0, "CalcSign ECDSA E0F1", "OutLen %d", n);
        }
    }
    /* VerifySign on the chip with the host-supplied public key, then a bad digest */
    if (siglen && publen) {
        size_t o = apdu_begin(a, 0xB2, 0x11);
        uint16_t L;
        put_tlv(a, &o, 0x01, abc_sha256, 32);
        put_tlv(a, &o, 0x02, sig, (size_t)siglen);
        PUT(a, &o, 0x05, 0x00, 0x01, 0x03);
        put_tlv(a, &o, 0x06, pub, 68);
        L = apdu_end(a, o);
        cmd_outlen("VerifySign host key", 0, a, L, 0);
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
            size_t o = apdu_begin(a, 0xB0, 0xE2);
            memcpy(ctx, resp + 7, 209);
            ok = cmd("CalcHash one-shot in between", 0, other, sizeof other) == 35;
            put_tlv(a, &o, 0x02, parts[i], strlen(parts[i]));
            put_tlv(a, &o, 0x06, ctx, 209);
            PUT(a, &o, 0x07, 0x00, 0x00);
            n = ok ? cmd("CalcHash continue, context in and out", 0, a, apdu_end(a, o)) : -1;
            ok = n == 212 && resp[4] == 0x06;
        }
        if (ok) {
            size_t o = apdu_begin(a, 0xB0, 0xE2);
            PUT(a, &o, 0x03, 0x00, 0x00);
            put_tlv(a, &o, 0x06, resp + 7, 209);
            n = cmd("CalcHash final from the context", 0, a, apdu_end(a, o));
            ok = n == 35 && resp[4] == 0x01 && memcmp(resp + 7, abc_sha256, 32) == 0;
        }
        report(ok, "CalcHash with host-held context (start, 2 updates, final)",
               "209-byte contexts, one-shot hashes in between, digest %s",
               ok ? "= SHA-256(\"abc\")" : "wrong");
    }
    /* ECDH: key agreement key in E0F2, peer key from mbedTLS */
    {
        mbedtls_ecdh_context h;
        uint8_t peer[65], chippub[68], ours[32];
        size_t plen;
        int ok = 0;
        n = cmd("GenKeyPair P-256 E0F2 (KeyAgree)", 0, a, genkey_apdu(a, 0x03, 0xE0F2, 0x20));
        if (n == 71) {
            memcpy(chippub, resp + 7, 68);
            mbedtls_ecdh_init(&h);
            if (mbedtls_ecp_group_load(&h.grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
                mbedtls_ecdh_gen_public(&h.grp, &h.d, &h.Q, mbedtls_ctr_drbg_random, &drbg) == 0 &&
                mbedtls_ecp_point_write_binary(&h.grp, &h.Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &plen,
                                               peer, sizeof peer) == 0 &&
                mbedtls_ecp_point_read_binary(&h.grp, &h.Qp, chippub + 3, 65) == 0 &&
                mbedtls_ecdh_compute_shared(&h.grp, &h.z, &h.Qp, &h.d, mbedtls_ctr_drbg_random,
                                            &drbg) == 0 &&
                mbedtls_mpi_write_binary(&h.z, ours, 32) == 0) {
                size_t o = apdu_begin(a, 0xB3, 0x01);
                PUT(a, &o, 0x01, 0x00, 0x02, 0xE0, 0xF2, 0x05, 0x00, 0x01, 0x03, 0x06, 0x00, 0x44,
                    0x03, 0x42, 0x00);
                put(a, &o, peer, 65);
                PUT(a, &o, 0x07, 0x00, 0x00);
                n = cmd("CalcSSec ECDH export", 0, a, apdu_end(a, o));
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
    /* DeriveKey TLS1.2 PRF SHA-256 from a session secret: a session key pair in E100, ECDH of it
     * with its own public key stored in session E101, then the PRF over E101 (exported) */
    {
        n = cmd("GenKeyPair P-256 session E100", 0, a, genkey_apdu(a, 0x03, 0xE100, 0x20));
        if (n == 71) {
            uint8_t chippub[68];
            size_t o = apdu_begin(a, 0xB3, 0x01);
            memcpy(chippub, resp + 7, 68);
            put_oid(a, &o, 0x01, 0xE100);
            PUT(a, &o, 0x05, 0x00, 0x01, 0x03);
            put_tlv(a, &o, 0x06, chippub, 68);
            put_oid(a, &o, 0x08, 0xE101);
            n = cmd_outlen("CalcSSec ECDH into session E101", 0, a, apdu_end(a, o), 0);
            if (n >= 0) {
                /* a session secret must be used under command protection when the shield is in use
                 */
                cmd_outlen("DeriveKey TLS-PRF from session", CPROT_FULL, a,
                           prf_apdu(a, 0xE101, 32, "label-and-seed!!", 16), 32);
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
        report(n > 9 && back[0] == 0xC0, "GetDataObject E0E0 (certificate)", "%d bytes, first %02X",
               n, back[0]);
    }
    /* metadata */
    {
        static const uint8_t m[] = {0x81, 0x01, 0x00, 0x02, 0xE0, 0xE0};
        n = cmd("GetDataObject E0E0 metadata", 0, m, sizeof m);
        if (n > 2) {
            report(resp[4] == 0x20 && resp[5] + 2 == n, "GetDataObject E0E0 metadata", "%d bytes",
                   n);
            hex("meta", resp + 4, (size_t)n, 32);
        }
    }
    /* chained write of 1500 bytes into F1E0 (6 command frames), read back (6 response frames) */
    for (int i = 0; i < 1500; i++) {
        big[8 + i] = (uint8_t)(i * 7 + 3);
    }
    memcpy(big, (const uint8_t[]){0x82, 0x40, 0x05, 0xE0, 0xF1, 0xE0, 0x00, 0x00}, 8);
    cmd_outlen("SetDataObject F1E0 1500 B (chained)", 0, big, 1508, 0);
    n = read_object("GetDataObject F1E0 (chained)", 0xF1E0, 0, back, sizeof back);
    if (n >= 0) {
        report(n == 1500 && memcmp(back, big + 8, 1500) == 0, "GetDataObject F1E0 (chained)",
               "%d bytes, %s", n,
               n == 1500 && memcmp(back, big + 8, 1500) == 0 ? "equal" : "differ");
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
                snprintf(step, sizeof step, "SetDataObject %04X %u B at offset %u", oid, part,
                         done_len);
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
        static const uint8_t w[] = {0x82, 0x01, 0x00, 0x09, 0xF1, 0xE1, 0x00,
                                    0x00, 0x20, 0x03, 0xD1, 0x01, 0x00};
        static const uint8_t r[] = {0x81, 0x01, 0x00, 0x02, 0xF1, 0xE1};
        cmd_outlen("SetDataObject F1E1 metadata (D1 := ALW)", 0, w, sizeof w, 0);
        n = cmd("GetDataObject F1E1 metadata", 0, r, sizeof r);
        if (n > 0) {
            int found = 0;
            for (int i = 6; i + 2 < 4 + n; i++) {
                if (resp[i] == 0xD1 && resp[i + 1] == 0x01 && resp[i + 2] == 0x00) {
                    found = 1;
                }
            }
            report(found, "GetDataObject F1E1 metadata", "D1 01 00 %s",
                   found ? "present" : "missing");
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

/* cmd() on a V3 chip; a V1 chip ($INTEROP_CHIP_V1) must refuse the same APDU with v1_code,
 * reported as v1_step; then -1 */
static int cmd_v3(const char *step, uint8_t prot, const uint8_t *apdu, uint16_t len,
                  const char *v1_step, int v1_code)
{
    if (chip_v1) {
        expect_error(v1_step, prot, apdu, len, v1_code);
        return -1;
    }
    return cmd(step, prot, apdu, len);
}

/* monotonic counter, a PRESSEC secret in F1D0, and what the chip derives from it
 * (HKDF, TLS PRF, HMAC) compared with mbedTLS on the host */
static void step_secrets(void)
{
    static const uint8_t secret[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                       0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xF0, 0x01,
                                       0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                       0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x12};
    static const uint8_t salt[13] = "interop-salt!";
    static const uint8_t info[9] = "info-text";
    static const uint8_t seed[24] = "label-and-seed-24-bytes!";
    uint8_t a[200], want[64];
    uint16_t L;
    size_t o;
    int n;
    {
        static const uint8_t inc[] = {0x82, 0x02, 0x00, 0x05, 0xE1, 0x20, 0x00, 0x00, 0x03};
        uint8_t c[16];
        cmd_outlen("SetDataObject E120 count +3", 0, inc, sizeof inc, 0);
        n = read_object("GetDataObject E120 (counter)", 0xE120, 0, c, sizeof c);
        if (n >= 0) {
            report(n == 8 && optiga_common_get_uint32(c) == 3, "GetDataObject E120 (counter)",
                   "%d bytes, value %u, threshold %08X", n,
                   n >= 4 ? (unsigned)optiga_common_get_uint32(c) : 0u,
                   n == 8 ? (unsigned)optiga_common_get_uint32(c + 4) : 0u);
        }
    }
    {
        static const uint8_t meta[] = {0x82, 0x01, 0x00, 0x0C, 0xF1, 0xD0, 0x00, 0x00,
                                       0x20, 0x06, 0xE8, 0x01, 0x21, 0xD3, 0x01, 0x00};
        cmd_outlen("SetDataObject F1D0 metadata (type PRESSEC, Execute ALW)", 0, meta, sizeof meta,
                   0);
        memcpy(a, (const uint8_t[]){0x82, 0x40, 0x00, 0x24, 0xF1, 0xD0, 0x00, 0x00}, 8);
        memcpy(a + 8, secret, 32);
        cmd_outlen("SetDataObject F1D0 secret (32 B)", 0, a, 40, 0);
    }
    /* HKDF-SHA256 export: tags 01, 03, 04, 02, 07 as the library orders them */
    o = apdu_begin(a, 0xB4, 0x08);
    put_oid(a, &o, 0x01, 0xF1D0);
    PUT(a, &o, 0x03, 0x00, 0x02, 0x00, 0x20);
    put_tlv(a, &o, 0x04, info, sizeof info);
    put_tlv(a, &o, 0x02, salt, sizeof salt);
    PUT(a, &o, 0x07, 0x00, 0x00);
    L = apdu_end(a, o);
    n = cmd_v3("DeriveKey HKDF-SHA256 from F1D0", 0, a, L, "DeriveKey HKDF on V1 refused (Param)",
               0x03);
    if (n >= 0) {
        int ok = n == 32 &&
                 mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt, sizeof salt,
                              secret, 32, info, sizeof info, want, 32) == 0 &&
                 memcmp(want, resp + 4, 32) == 0;
        report(ok, "DeriveKey HKDF-SHA256 from F1D0", "OutLen %d, %s mbedTLS HKDF", n,
               ok ? "equals" : "differs from");
    }
    /* TLS 1.2 PRF SHA-256 export: derivation data = label || seed */
    n = cmd("DeriveKey TLS-PRF SHA-256 from F1D0", 0, a,
            prf_apdu(a, 0xF1D0, 48, seed, sizeof seed));
    if (n >= 0) {
        int ok = n == 48 &&
                 mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, secret, 32, "", seed, sizeof seed,
                                     want, 48) == 0 &&
                 memcmp(want, resp + 4, 48) == 0;
        report(ok, "DeriveKey TLS-PRF SHA-256 from F1D0", "OutLen %d, %s mbedTLS's PRF", n,
               ok ? "equals" : "differs from");
    }
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    /* HMAC-SHA256 with the F1D0 secret (EncryptSym mode 0x20, start&final), command-protected as
     * the library sends it */
    o = apdu_begin(a, 0x94, 0x20);
    PUT(a, &o, 0xF1, 0xD0);
    put_tlv(a, &o, 0x01, seed, sizeof seed);
    L = apdu_end(a, o);
    n = cmd_v3("EncryptSym HMAC-SHA256 with F1D0 (command protection)", 1, a, L,
               "EncryptSym on V1 refused (no such command)", 0x0A);
    if (n >= 0) {
        int ok = n == 35 && resp[4] == 0x61 && resp[6] == 32 &&
                 mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret, 32, seed,
                                 sizeof seed, want) == 0 &&
                 memcmp(want, resp + 7, 32) == 0;
        report(ok, "EncryptSym HMAC-SHA256 with F1D0 (command protection)",
               "OutLen %d, %s mbedTLS's HMAC", n, ok ? "equals" : "differs from");
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
    cmd_outlen("GetRandom, full protection (handshake)", 3, r, sizeof r, 32);
    cmd_outlen("GetDataObject E0C2, response protection", 2, uid, sizeof uid, 27);
    cmd_outlen("GetRandom, command protection", 1, r, sizeof r, 32);
    cmd_outlen("GetRandom, plain record after handshake", 0, r, sizeof r, 32);
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
    cmd_outlen("GetRandom, re-establish (0x83)", 0x83, r, sizeof r, 32);
    /* AES: GenSymKey into E200, EncryptSym ECB under command protection, DecryptSym under response
     * protection */
    {
        static const uint8_t g[] = {0xB9, 0x81, 0x00, 0x09, 0x01, 0x00, 0x02,
                                    0xE2, 0x00, 0x02, 0x00, 0x01, 0x02};
        uint8_t e[64] = {0x94, 0x08, 0x00, 0x15, 0xE2, 0x00, 0x01, 0x00, 0x10};
        uint8_t ct[16];
        for (int i = 0; i < 16; i++) {
            e[9 + i] = (uint8_t)(0xA0 + i);
        }
        if (chip_v1) {
            expect_error("GenSymKey on V1 refused (no such command)", 0, g, sizeof g, 0x0A);
            return;
        }
        cmd_outlen("GenSymKey AES-128 E200", 0, g, sizeof g, 0);
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
                report(ok, "DecryptSym ECB (response protection)", "plaintext %s",
                       ok ? "round-trips" : "differs");
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

/* GenKeyPair RSA-1024 into key_oid with the given usage; its public key BIT STRING into pub.
 * Returns the BIT STRING's length, or -1 (reported) */
static int gen_rsa_key(const char *step, uint16_t key_oid, uint8_t usage, uint8_t *pub, size_t cap)
{
    uint8_t g[16];
    int n = cmd(step, 0, g, genkey_apdu(g, 0x41, key_oid, usage)), publen;
    if (n < 0) {
        return -1;
    }
    if (n < 4 || resp[4] != 0x02) {
        report(0, step, "OutLen %d", n);
        return -1;
    }
    publen = resp[5] << 8 | resp[6];
    if (publen > (int)cap || publen + 3 != n) {
        report(0, step, "public key length %d", publen);
        return -1;
    }
    memcpy(pub, resp + 7, (size_t)publen);
    report(1, step, "public key BIT STRING, %d bytes", publen);
    return publen;
}

/* mbedTLS parses the GenKeyPair BIT STRING wrapped in an SPKI:
 * SEQ { SEQ { rsaEncryption, NULL }, BIT STRING }; 0 = parsed */
static int rsa_pk_parse(mbedtls_pk_context *pk, const uint8_t *pub, int publen)
{
    static const uint8_t alg[] = {0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86,
                                  0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00};
    uint8_t spki[3 + sizeof alg + 160];
    size_t o = 0;
    if (publen < 0 || publen > 160) {
        return -1;
    }
    PUT(spki, &o, 0x30, 0x81, (uint8_t)(sizeof alg + (size_t)publen));
    put(spki, &o, alg, sizeof alg);
    put(spki, &o, pub, (size_t)publen);
    return mbedtls_pk_parse_public_key(pk, spki, o);
}

/* the host-given RSA public key of an EncryptAsym: 05 algo (RSA-1024), 06 BIT STRING */
static void put_rsa_key(uint8_t *a, size_t *o, const uint8_t *pub, int publen)
{
    PUT(a, o, 0x05, 0x00, 0x01, 0x41);
    put_tlv(a, o, 0x06, pub, (size_t)publen);
}

/* DecryptAsym RSAES-PKCS1-v1_5 of a 128-byte ciphertext with key_oid: 61 ciphertext, 03 key
 * OID, and with store_oid != 0 02 session OID (rsa_decrypt_and_store) */
static uint16_t rsa_decrypt_apdu(uint8_t *a, const uint8_t *ct, uint16_t key_oid,
                                 uint16_t store_oid)
{
    size_t o = apdu_begin(a, 0x9F, 0x11);
    put_tlv(a, &o, 0x61, ct, 128);
    put_oid(a, &o, 0x03, key_oid);
    if (store_oid) {
        put_oid(a, &o, 0x02, store_oid);
    }
    return apdu_end(a, o);
}

static void step_rsa(void)
{
    uint8_t a[64], pub[160];
    int n, publen = gen_rsa_key("GenKeyPair RSA-1024 E0FC", 0xE0FC, 0x10, pub, sizeof pub);
    if (publen < 0) {
        return;
    }
    hex("rsa pub", pub, (size_t)publen, 12);
    n = cmd("CalcSign RSA PKCS#1 v1.5 SHA-256", 0, a, calcsign_abc_apdu(a, 0x01, 0xE0FC));
    if (n == 128) {
        mbedtls_pk_context pk;
        int ok;
        mbedtls_pk_init(&pk);
        ok = rsa_pk_parse(&pk, pub, publen) == 0 &&
             mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, abc_sha256, 32, resp + 4, 128) == 0;
        mbedtls_pk_free(&pk);
        report(ok, "CalcSign RSA PKCS#1 v1.5 SHA-256", "128 bytes, %s with mbedTLS",
               ok ? "verified" : "NOT verified");
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
    n = cmd_outlen(step, 0, a, (uint16_t)(8 + blen), 0);
    return n == 0 ? 0 : -1;
}

/* DecryptSym HMAC verify over a fresh session random; bad != 0 flips one MAC bit */
static int hmac_verify_apdu(const uint8_t *secret, size_t slen, int bad, uint8_t *a)
{
    static const uint8_t gr[] = {0x8C, 0x00, 0x00, 0x07, 0x00, 0x20, 0xE1, 0x00, 0x41, 0x00, 0x00};
    static const uint8_t arb[] = "arbitrary data";
    uint8_t m[32 + sizeof arb], mac[32];
    size_t ml = 0, o;
    if (cmd("GetRandom 32 into session E100 (auth code)", 0, gr, sizeof gr) != 32) {
        return -1;
    }
    memcpy(m, resp + 4, 32);
    ml = 32;
    memcpy(m + ml, arb, sizeof arb - 1);
    ml += sizeof arb - 1;
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), secret, slen, m, ml, mac) !=
        0) {
        return -1;
    }
    mac[5] ^= (uint8_t)(bad ? 0x01 : 0x00);
    o = apdu_begin(a, 0x95, 0x20);
    PUT(a, &o, 0xF1, 0xD1, 0x01, 0x00, (uint8_t)(2 + ml), 0xE1, 0x00);
    put(a, &o, m, ml);
    put_tlv(a, &o, 0x43, mac, 32);
    return apdu_end(a, o);
}

static void step_auto(void)
{
    static const uint8_t secret[32] = "interop: authorization reference";
    static const uint8_t rd[] = {0x81, 0x00, 0x00, 0x06, 0xF1, 0xD2, 0x00, 0x00, 0x00, 0x04};
    static const uint8_t clr[] = {0x95, 0x20, 0x00, 0x08, 0xF1, 0xD1,
                                  0x01, 0x00, 0x00, 0x43, 0x00, 0x00};
    static const uint8_t clr_lib[] = {0x95, 0x20, 0x00, 0x07, 0xF1, 0xD1,
                                      0x01, 0x00, 0x02, 0x00, 0x00};
    uint8_t a[160];
    int n, L;
    if (set_object("SetDataObject F1D1 secret (32 B)",
                   (const uint8_t[]){0x82, 0x40, 0x00, 0, 0xF1, 0xD1, 0x00, 0x00}, secret, 32) ||
        set_object("SetDataObject F1D1 metadata (type AUTOREF, Execute ALW)",
                   (const uint8_t[]){0x82, 0x01, 0x00, 0, 0xF1, 0xD1, 0x00, 0x00},
                   (const uint8_t[]){0x20, 0x06, 0xE8, 0x01, 0x31, 0xD3, 0x01, 0x00}, 8) ||
        set_object("SetDataObject F1D2 data (4 B)",
                   (const uint8_t[]){0x82, 0x40, 0x00, 0, 0xF1, 0xD2, 0x00, 0x00},
                   (const uint8_t[]){0xCA, 0xFE, 0xF0, 0x0D}, 4) ||
        set_object("SetDataObject F1D2 metadata (Read = Auto(F1D1))",
                   (const uint8_t[]){0x82, 0x01, 0x00, 0, 0xF1, 0xD2, 0x00, 0x00},
                   (const uint8_t[]){0x20, 0x05, 0xD1, 0x03, 0x23, 0xF1, 0xD1}, 7)) {
        return;
    }
    expect_error("F1D2 read before HMAC verify", 0, rd, sizeof rd, 0x07);
    L = hmac_verify_apdu(secret, sizeof secret, 1, a);
    if (L > 0) {
        expect_error("HMAC verify with a wrong MAC", RPROT, a, (uint16_t)L, 0x2F);
        expect_error("F1D2 read after the failed verify", 0, rd, sizeof rd, 0x07);
    }
    L = hmac_verify_apdu(secret, sizeof secret, 0, a);
    if (L <= 0) {
        return;
    }
    cmd_outlen("HMAC verify (DecryptSym 0x20, AUTOREF F1D1)", RPROT, a, (uint16_t)L, 0);
    n = cmd("F1D2 read in Auto(F1D1) state", 0, rd, sizeof rd);
    if (n >= 0) {
        report(n == 4 && resp[4] == 0xCA && resp[7] == 0x0D, "F1D2 read in Auto(F1D1) state",
               "%d bytes", n);
    }
    /* the session random is single-use: the same APDU again fails and clears the state */
    expect_error("HMAC verify replayed (random used up)", RPROT, a, (uint16_t)L, 0x2F);
    expect_error("F1D2 read after the replay", 0, rd, sizeof rd, 0x07);
    /* clearing the state: first as the library's optiga_crypt_clear_auto_state sends it
     * (optiga_cmd.c 03a3ebe: KeyOID, 01 00 02 <its session OID, here none>, no 43; it
     * ignores the answer), then as libtrustm sends it (01 00 00, 43 00 00) */
    for (int form = 0; form < 2; form++) {
        const uint8_t *c = form ? clr : clr_lib;
        uint16_t cl = form ? (uint16_t)sizeof clr : (uint16_t)sizeof clr_lib;
        const char *step =
            form ? "clear Auto state, libtrustm's form" : "clear Auto state, the library's form";
        L = hmac_verify_apdu(secret, sizeof secret, 0, a);
        n = L > 0 ? cmd("HMAC verify again", RPROT, a, (uint16_t)L) : -1;
        if (n != 0 || cmd("F1D2 read in Auto(F1D1) state again", 0, rd, sizeof rd) != 4) {
            report(0, step, "no Auto state to clear");
            continue;
        }
        optiga_lib_status_t st = xfer(RPROT, c, cl);
        int sta = st == OPTIGA_COMMS_SUCCESS && resp_len == 4 ? resp[0] : -1;
        int code = last_error();
        report(sta == 0xFF, step,
               "Sta 0x%02X, F1C2 0x%02X (the chip answers with an error and clears the state)",
               (unsigned)sta & 0xFFu, (unsigned)code & 0xFFu);
        expect_error(form ? "F1D2 read after libtrustm's clear"
                          : "F1D2 read after the library's clear",
                     0, rd, sizeof rd, 0x07);
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
    static const uint8_t gr[] = {0x8C, 0x04, 0x00, 0x09, 0x00, 0x2E, 0xE1,
                                 0x00, 0x41, 0x00, 0x02, 0x03, 0x03};
    static const uint8_t seed[] = "master secretinterop client+server random";
    uint8_t a[400], ct[128], pms[48], want[48];
    size_t o;
    int n = cmd("GetRandom pre-master secret into E100 (Param 04, prefix 03 03)", 0, gr, sizeof gr);
    if (n != 0) {
        if (n > 0) {
            report(0, "GetRandom pre-master secret into E100 (Param 04, prefix 03 03)", "OutLen %d",
                   n);
        }
        return;
    }
    o = apdu_begin(a, 0x9E, 0x11);
    put_oid(a, &o, 0x02, 0xE100);
    put_rsa_key(a, &o, pub, publen);
    n = cmd("EncryptAsym of session E100", CPROT, a, apdu_end(a, o));
    if (n != 131) {
        if (n >= 0) {
            report(0, "EncryptAsym of session E100", "OutLen %d", n);
        }
        return;
    }
    memcpy(ct, resp + 7, 128);
    n = cmd("DecryptAsym of the session's ciphertext", RPROT, a,
            rsa_decrypt_apdu(a, ct, 0xE0FD, 0));
    if (n != 51 || resp[4] != 0x61 || resp[6] != 48 || resp[7] != 0x03 || resp[8] != 0x03) {
        if (n >= 0) {
            report(0, "DecryptAsym of the session's ciphertext", "OutLen %d", n);
        }
        return;
    }
    memcpy(pms, resp + 7, 48);
    report(1, "EncryptAsym of session E100", "ciphertext decrypts to 48 bytes starting 03 03");
    /* the same ciphertext decrypted into session E101 (rsa_decrypt_and_store: 02 00 02 after the
     * key OID) */
    cmd_outlen("DecryptAsym into session E101", 0, a, rsa_decrypt_apdu(a, ct, 0xE0FD, 0xE101), 0);
    for (int sess = 0; sess < 2; sess++) {
        const char *step = sess ? "DeriveKey TLS-PRF SHA-256 from session E101"
                                : "DeriveKey TLS-PRF SHA-256 from session E100";
        n = cmd(step, CPROT, a, prf_apdu(a, (uint16_t)(0xE100 + sess), 48, seed, sizeof seed - 1));
        if (n >= 0) {
            int ok = n == 48 &&
                     mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, pms, 48, "master secret",
                                         seed + 13, sizeof seed - 1 - 13, want, 48) == 0 &&
                     memcmp(want, resp + 4, 48) == 0;
            report(ok, step, "OutLen %d, %s mbedTLS's PRF over the decrypted secret", n,
                   ok ? "equals" : "differs from");
        }
    }
}

/* RSA encryption as optiga_crypt_rsa_encrypt_message / rsa_decrypt_and_export build it
 * (read for facts): EncryptAsym 61 message, 05 00 01 algo, 06 public key; DecryptAsym
 * 61 ciphertext, 03 00 02 key OID. The exported plaintext needs response protection
 * once a shielded connection exists (the library forces it). */
static void step_rsa_enc(void)
{
    static const uint8_t msg[] = "interop: RSAES-PKCS1-v1_5 round trip";
    const size_t ml = sizeof msg - 1;
    uint8_t a[400], pub[160], ct[128];
    uint16_t L = 0;
    int n, publen = gen_rsa_key("GenKeyPair RSA-1024 E0FD (Enc)", 0xE0FD, 0x02, pub, sizeof pub);
    if (publen < 0) {
        return;
    }
    /* the chip encrypts with the key given by the host */
    {
        size_t o = apdu_begin(a, 0x9E, 0x11);
        put_tlv(a, &o, 0x61, msg, ml);
        put_rsa_key(a, &o, pub, publen);
        n = cmd("EncryptAsym RSA-1024 (public key from host)", 0, a, apdu_end(a, o));
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
        const char *step =
            round ? "DecryptAsym of mbedTLS's ciphertext" : "DecryptAsym of the chip's ciphertext";
        if (round) {
            mbedtls_pk_context pk;
            int e;
            mbedtls_pk_init(&pk);
            e = rsa_pk_parse(&pk, pub, publen) ||
                mbedtls_rsa_pkcs1_encrypt(mbedtls_pk_rsa(pk), mbedtls_ctr_drbg_random, &drbg,
                                          MBEDTLS_RSA_PUBLIC, ml, msg, ct);
            mbedtls_pk_free(&pk);
            if (e) {
                report(0, step, "mbedTLS could not encrypt");
                return;
            }
        }
        L = rsa_decrypt_apdu(a, ct, 0xE0FD, 0);
        n = cmd(step, RPROT, a, L);
        if (n >= 0) {
            int ok = n == (int)ml + 3 && resp[4] == 0x61 && resp[6] == ml &&
                     memcmp(resp + 7, msg, ml) == 0;
            report(ok, step, "OutLen %d, plaintext %s", n, ok ? "equal" : "differs");
        }
    }
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    /* the same APDU without response protection: the chip keeps the plaintext to itself */
    expect_error("DecryptAsym export without response protection", 0, a, L, 0x07);
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
    set_manage(manage);
    if (COMMS_CALL("comms_close", optiga_comms_close(comms)) != 0) {
        return -1;
    }
    report(last_event == 0, "comms_close", "status 0x%04X", last_event);
    optiga_comms_destroy(comms);
    return last_event == 0 ? 0 : -1;
}

static int comms_reset(uint8_t type)
{
    if (COMMS_CALL("comms_reset", optiga_comms_reset(comms, type)) != 0) {
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
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const uint8_t *)"interop",
                              7) != 0) {
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
            /* the library's optiga_util_open_application after a reset: soft reset, OpenApplication
             * again */
            if (comms_reset(1) == 0) {
                open_app(NULL);
                static const uint8_t r[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x10};
                cmd_outlen("GetRandom after soft reset", 0, r, sizeof r, 16);
            }
            close_app(0, NULL);
            comms_close(IFX_I2C_SESSION_CONTEXT_NONE);
        }
    } else if (!strcmp(mode, "hibernate")) {
        if (comms_open(IFX_I2C_SESSION_CONTEXT_NONE) == 0 && open_app(NULL) == 0) {
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
            static const uint8_t r[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
            cmd_outlen("GetRandom, full protection (handshake)", 3, r, sizeof r, 32);
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
                report(n == 32, "GetRandom, full protection on the restored session",
                       "%d bytes (%lu events)", n, interop_event_count - before);
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
            uint8_t a[44];
            static const uint8_t m[] = {0x81, 0x01, 0x00, 0x02, 0xE0, 0xF1};
            int n;
            calcsign_abc_apdu(a, 0x11, 0xE0F1);
            n = cmd("GetDataObject E0F1 metadata", 0, m, sizeof m);
            if (n > 0) {
                int found = 0;
                for (int i = 4; i + 4 < 4 + n; i++) {
                    found |= !memcmp(resp + i, "\xD3\x03\x20\xE1\x40", 5);
                }
                report(found, "GetDataObject E0F1 metadata", "Execute D3 03 20 E1 40 %s",
                       found ? "present" : "missing");
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
        uint8_t a[44];
        int count = getenv("INTEROP_SIGNS") ? atoi(getenv("INTEROP_SIGNS")) : 150;
        if (comms_open(IFX_I2C_SESSION_CONTEXT_NONE) == 0 && open_app(NULL) == 0 &&
            cmd("GenKeyPair P-256 E0F1", 0, a, genkey_apdu(a, 0x03, 0xE0F1, 0x10)) == 71) {
            uint32_t t_first = 0, t_last = 0;
            int okc = 0;
            calcsign_abc_apdu(a, 0x11, 0xE0F1);
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
            report(okc == count, "CalcSign loop", "%d/%d signed, first %u ms, last %u ms", okc,
                   count, (unsigned)t_first, (unsigned)t_last);
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
