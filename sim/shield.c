/*
 * Presentation layer, chip side (spec 4): plain packets (PCTR 0x00), records
 * with the presence flag (SCTR 0x20..0x23), the PVER 1 pre-shared-secret
 * handshake with the platform binding secret of 0xE140, TLS-PRF-SHA256 key
 * derivation, AES-128-CCM-8 records with sequence-number windows, alerts and
 * manage-context for hibernate.
 */
#include <string.h>

#include <mbedtls/ccm.h>
#include <mbedtls/md.h>

#include "sim_int.h"

#define SCTR_HELLO 0x00u
#define SCTR_FINISHED 0x08u
#define SCTR_ALERT_FATAL 0x40u
#define SCTR_ALERT_INTEGRITY 0x44u
#define SCTR_CTX_SAVE 0x60u
#define SCTR_CTX_SAVED 0x64u
#define SCTR_CTX_RESTORE 0x68u
#define SCTR_CTX_RESTORED 0x6Cu
#define PVER 0x01u
#define MAC_LEN 8u
#define SEQ_WINDOW 3u

/* modelled chip time of presentation-layer work (decisions doc) */
#define T_HELLO_US 3000u
#define T_FINISHED_US 8000u
#define T_PROTECT_US 7000u
#define T_SMALL_US 1000u

#define CTX_MAGIC 0x53484C44u /* "SHLD" */

static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--) {
        *v++ = 0;
    }
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int ct_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++) {
        d |= (uint8_t)(a[i] ^ b[i]);
    }
    return d;
}

void sim_shield_init(struct sim_shield *s, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->rng = seed ^ 0x5348494Cull;
}

void sim_shield_wipe(struct sim_shield *s)
{
    wipe(s->keys, sizeof(s->keys));
    wipe(s->rnd, sizeof(s->rnd));
    wipe(s->last_rsp, sizeof(s->last_rsp));
    s->last_rsp_len = 0;
    s->last_valid = false;
}

void sim_shield_reset(struct sim_shield *s)
{
    sim_shield_wipe(s);
    s->prl_used = false;
    s->hs = SIM_HS_NONE;
    s->sseq = 0;
    s->mseq = 0;
    s->resends = 0;
    s->corrupt_next_mac = false;
}

void sim_shield_force_random(struct sim_shield *s, const uint8_t rnd[32], uint32_t sseq,
                             uint32_t mseq)
{
    s->forced = true;
    memcpy(s->forced_rnd, rnd, 32);
    s->forced_sseq = sseq;
    s->forced_mseq = mseq;
}

int sim_tls_prf_sha256(const uint8_t *secret, size_t slen, const char *label, const uint8_t *seed,
                       size_t seedlen, uint8_t *out, size_t outlen)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_context_t ctx;
    uint8_t a[32];
    uint8_t block[32];
    size_t llen = strlen(label);
    int rc = -1;

    mbedtls_md_init(&ctx);
    if (!md || mbedtls_md_setup(&ctx, md, 1) != 0) {
        goto done;
    }
    /* A(1) = HMAC(secret, label || seed) */
    if (mbedtls_md_hmac_starts(&ctx, secret, slen) || mbedtls_md_hmac_update(&ctx, (const uint8_t *)label, llen) ||
        mbedtls_md_hmac_update(&ctx, seed, seedlen) || mbedtls_md_hmac_finish(&ctx, a)) {
        goto done;
    }
    for (size_t off = 0; off < outlen; off += 32) {
        if (mbedtls_md_hmac_starts(&ctx, secret, slen) || mbedtls_md_hmac_update(&ctx, a, 32) ||
            mbedtls_md_hmac_update(&ctx, (const uint8_t *)label, llen) ||
            mbedtls_md_hmac_update(&ctx, seed, seedlen) || mbedtls_md_hmac_finish(&ctx, block)) {
            goto done;
        }
        size_t take = outlen - off < 32 ? outlen - off : 32;
        memcpy(out + off, block, take);
        if (mbedtls_md_hmac_starts(&ctx, secret, slen) || mbedtls_md_hmac_update(&ctx, a, 32) ||
            mbedtls_md_hmac_finish(&ctx, a)) {
            goto done;
        }
    }
    rc = 0;
done:
    mbedtls_md_free(&ctx);
    wipe(a, sizeof(a));
    wipe(block, sizeof(block));
    return rc;
}

/* AES-128-CCM-8 with nonce = prefix || seq and AD = sctr || seq || PVER || len. */
static int ccm(bool enc, const uint8_t key[16], const uint8_t prefix[4], uint8_t sctr, uint32_t seq,
               const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[MAC_LEN])
{
    uint8_t nonce[8];
    uint8_t ad[8];
    memcpy(nonce, prefix, 4);
    put32(nonce + 4, seq);
    ad[0] = sctr;
    put32(ad + 1, seq);
    ad[5] = PVER;
    ad[6] = (uint8_t)(len >> 8);
    ad[7] = (uint8_t)len;
    mbedtls_ccm_context c;
    mbedtls_ccm_init(&c);
    int rc = mbedtls_ccm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (rc == 0) {
        rc = enc ? mbedtls_ccm_encrypt_and_tag(&c, len, nonce, 8, ad, 8, in, out, tag, MAC_LEN)
                 : mbedtls_ccm_auth_decrypt(&c, len, nonce, 8, ad, 8, in, out, tag, MAC_LEN);
    }
    mbedtls_ccm_free(&c);
    return rc;
}

#define MASTER_KEY(s) ((s)->keys)
#define SLAVE_KEY(s) ((s)->keys + 16)
#define MASTER_NONCE(s) ((s)->keys + 32)
#define SLAVE_NONCE(s) ((s)->keys + 36)

static void alert(struct sim_shield_out *o, uint8_t code)
{
    o->msg[0] = code;
    o->len = 1;
    o->presence = true;
    o->busy_us = T_SMALL_US;
}

static void drop_session(struct sim_shield *s)
{
    sim_shield_wipe(s);
    s->hs = SIM_HS_NONE;
}

static void hello(struct sim_shield *s, struct sim_app *app, uint64_t now, const uint8_t *m,
                  size_t len, struct sim_shield_out *o)
{
    o->cmd = 256;
    drop_session(s);
    /* sending a Hello flushes any saved context */
    (void)sim_app_set_prl_context(app, NULL, 0);
    if (len != 2 || !(m[1] & PVER)) {
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    if (s->forced) {
        memcpy(s->rnd, s->forced_rnd, 32);
        s->sseq = s->forced_sseq;
    } else {
        for (size_t i = 0; i < 32; i += 8) {
            uint64_t r = splitmix(&s->rng);
            memcpy(s->rnd + i, &r, 8);
        }
        s->sseq = (uint32_t)(splitmix(&s->rng) & 0xFFFFu);
    }
    uint8_t pbs[64];
    size_t pbs_len = 0;
    if (sim_app_pbs(app, pbs, sizeof(pbs), &pbs_len) != TMA_OK ||
        sim_tls_prf_sha256(pbs, pbs_len, "Platform Binding", s->rnd, 32, s->keys, 40) != 0) {
        wipe(pbs, sizeof(pbs));
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    wipe(pbs, sizeof(pbs));
    s->hs = SIM_HS_HELLO;
    o->msg[0] = SCTR_HELLO;
    o->msg[1] = PVER;
    memcpy(o->msg + 2, s->rnd, 32);
    put32(o->msg + 34, s->sseq);
    o->len = 38;
    o->presence = true;
    /* deriving the keys from 0xE140 is a Security Monitor event */
    o->busy_us = T_HELLO_US + sim_app_security_event(app, now);
}

static void finished(struct sim_shield *s, const uint8_t *m, size_t len, struct sim_shield_out *o)
{
    uint8_t expect[36];
    uint8_t plain[36];
    o->cmd = 257;
    if (s->hs != SIM_HS_HELLO || len != 49 || get32(m + 1) != s->sseq) {
        drop_session(s);
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    memcpy(expect, s->rnd, 32);
    put32(expect + 32, s->sseq);
    if (ccm(false, MASTER_KEY(s), MASTER_NONCE(s), SCTR_FINISHED, s->sseq, m + 5, 36, plain,
            (uint8_t *)(uintptr_t)(m + 41)) != 0 ||
        ct_diff(plain, expect, 36) != 0) {
        wipe(plain, sizeof(plain));
        drop_session(s);
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    s->mseq = s->forced ? s->forced_mseq : (uint32_t)(splitmix(&s->rng) & 0xFFFFu);
    memcpy(plain, s->rnd, 32);
    put32(plain + 32, s->mseq);
    o->msg[0] = SCTR_FINISHED;
    put32(o->msg + 1, s->mseq);
    if (ccm(true, SLAVE_KEY(s), SLAVE_NONCE(s), SCTR_FINISHED, s->mseq, plain, 36, o->msg + 5,
            o->msg + 41) != 0) {
        drop_session(s);
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    wipe(plain, sizeof(plain));
    s->hs = SIM_HS_OPEN;
    s->last_valid = false;
    o->len = 49;
    o->presence = true;
    o->busy_us = T_FINISHED_US;
}

/* Wrap a response APDU in a record with the request's SCTR. */
static void send_record(struct sim_shield *s, uint8_t sctr, const uint8_t *rsp, size_t rsp_len,
                        struct sim_shield_out *o)
{
    o->presence = true;
    o->msg[0] = sctr;
    if (sctr & 0x02u) {
        s->sseq++;
        put32(o->msg + 1, s->sseq);
        if (ccm(true, SLAVE_KEY(s), SLAVE_NONCE(s), sctr, s->sseq, rsp, rsp_len, o->msg + 5,
                o->msg + 5 + rsp_len) != 0) {
            alert(o, SCTR_ALERT_FATAL);
            return;
        }
        if (s->corrupt_next_mac) {
            o->msg[5 + rsp_len] ^= 0x01u;
            s->corrupt_next_mac = false;
        }
        o->len = 5 + rsp_len + MAC_LEN;
    } else {
        memcpy(o->msg + 1, rsp, rsp_len);
        o->len = 1 + rsp_len;
    }
}

static void record(struct sim_shield *s, struct sim_app *app, uint64_t now, const uint8_t *m,
                   size_t len, struct sim_shield_out *o)
{
    uint8_t sctr = m[0];
    uint8_t apdu[SIM_APDU_MAX];
    size_t apdu_len;
    struct sim_sec sec = {true, s->hs == SIM_HS_OPEN, (sctr & 1u) != 0, (sctr & 2u) != 0};

    if ((sctr & 0x1Cu) != 0 || ((sctr & 3u) && s->hs != SIM_HS_OPEN)) {
        /* RFU message bits, or protection without a session */
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    if (sctr & 1u) {
        if (len < 1 + 4 + MAC_LEN || len - 13u > sizeof(apdu)) {
            alert(o, SCTR_ALERT_INTEGRITY);
            return;
        }
        uint32_t seq = get32(m + 1);
        uint32_t delta = seq - s->mseq;
        if (seq <= s->mseq || delta > SEQ_WINDOW) {
            drop_session(s); /* replay or out of window: re-handshake */
            alert(o, SCTR_ALERT_FATAL);
            return;
        }
        apdu_len = len - 13u;
        if (ccm(false, MASTER_KEY(s), MASTER_NONCE(s), sctr, seq, m + 5, apdu_len, apdu,
                (uint8_t *)(uintptr_t)(m + 5 + apdu_len)) != 0) {
            wipe(apdu, sizeof(apdu));
            alert(o, SCTR_ALERT_INTEGRITY);
            /* a decryption whose integrity check failed: a security event */
            o->busy_us += sim_app_security_event(app, now);
            return;
        }
        s->mseq = seq;
    } else {
        apdu_len = len - 1u;
        if (apdu_len > sizeof(apdu)) {
            alert(o, SCTR_ALERT_FATAL);
            return;
        }
        memcpy(apdu, m + 1, apdu_len);
    }
    size_t rsp_len = 0;
    uint32_t busy = 0;
    o->cmd = apdu_len ? apdu[0] : 259;
    o->read_oid = sim_apdu_read_oid(apdu, apdu_len);
    o->status = sim_app_execute(app, &sec, now, apdu, apdu_len, s->last_rsp, sizeof(s->last_rsp),
                                &rsp_len, &busy);
    wipe(apdu, sizeof(apdu));
    if (o->status != TMA_OK || rsp_len > sizeof(s->last_rsp)) {
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    s->last_rsp_len = rsp_len;
    s->last_sctr = sctr;
    s->last_valid = (sctr & 2u) != 0;
    s->resends = 0;
    send_record(s, sctr, s->last_rsp, rsp_len, o);
    o->busy_us = busy + ((sctr & 3u) ? T_PROTECT_US : 0u);
    if (!s->last_valid) {
        wipe(s->last_rsp, sizeof(s->last_rsp));
    }
}

struct prl_blob {
    uint32_t magic;
    uint8_t keys[40];
    uint32_t sseq;
    uint32_t mseq;
};

static void manage_context(struct sim_shield *s, struct sim_app *app, const uint8_t *m, size_t len,
                           struct sim_shield_out *o)
{
    struct prl_blob b;
    size_t blen = 0;
    o->cmd = 258;
    if (m[0] == SCTR_CTX_SAVE && len == 1 && s->hs == SIM_HS_OPEN && sim_app_hibernated(app)) {
        b.magic = CTX_MAGIC;
        memcpy(b.keys, s->keys, sizeof(b.keys));
        b.sseq = s->sseq;
        b.mseq = s->mseq;
        tma_status st = sim_app_set_prl_context(app, (const uint8_t *)&b, sizeof(b));
        wipe(&b, sizeof(b));
        if (st != TMA_OK) {
            alert(o, SCTR_ALERT_FATAL);
            return;
        }
        drop_session(s);
        o->msg[0] = SCTR_CTX_SAVED;
        o->len = 1;
        o->presence = true;
        o->busy_us = T_SMALL_US * 5u; /* NVM write */
        return;
    }
    if (m[0] == SCTR_CTX_RESTORE && len == 5 &&
        sim_app_get_prl_context(app, (uint8_t *)&b, sizeof(b), &blen) == TMA_OK &&
        blen == sizeof(b) && b.magic == CTX_MAGIC && b.sseq == get32(m + 1)) {
        memcpy(s->keys, b.keys, sizeof(s->keys));
        s->sseq = b.sseq;
        s->mseq = b.mseq;
        s->hs = SIM_HS_OPEN;
        s->last_valid = false;
        wipe(&b, sizeof(b));
        (void)sim_app_set_prl_context(app, NULL, 0); /* a restore flushes the saved context */
        o->msg[0] = SCTR_CTX_RESTORED;
        put32(o->msg + 1, s->mseq);
        o->len = 5;
        o->presence = true;
        o->busy_us = T_SMALL_US;
        return;
    }
    wipe(&b, sizeof(b));
    if (m[0] == SCTR_CTX_RESTORE) {
        (void)sim_app_set_prl_context(app, NULL, 0); /* a bad restore flushes too */
    }
    alert(o, SCTR_ALERT_FATAL);
}

static void host_alert(struct sim_shield *s, const uint8_t *m, size_t len, struct sim_shield_out *o)
{
    o->cmd = 258;
    if (len == 1 && m[0] == SCTR_ALERT_INTEGRITY && s->hs == SIM_HS_OPEN && s->last_valid &&
        s->resends < SIM_RETRANSMIT_MAX) {
        /* the host could not verify our protected response: resend it with a new SSEQ */
        s->resends++;
        send_record(s, s->last_sctr, s->last_rsp, s->last_rsp_len, o);
        o->busy_us = T_SMALL_US;
        return;
    }
    /* fatal alert (or nothing left to resend): the session is over */
    drop_session(s);
    if (len == 1 && m[0] == SCTR_ALERT_FATAL) {
        o->len = 0; /* nothing to answer: the frame is just acknowledged */
        return;
    }
    alert(o, SCTR_ALERT_FATAL);
}

int32_t sim_apdu_read_oid(const uint8_t *apdu, size_t len)
{
    /* Cmd(1) Param(1) InLen(2) OID(2) ...: GetDataObject is 0x01 or 0x81
     * (bit 7 clears the last error code), Param 0x00 reads data. */
    if (len < 6 || (apdu[0] & 0x7Fu) != 0x01u || apdu[1] != 0x00u) {
        return -1;
    }
    return (int32_t)((uint32_t)apdu[4] << 8 | apdu[5]);
}

void sim_shield_handle(struct sim_shield *s, struct sim_app *app, uint64_t now, bool presence,
                       const uint8_t *msg, size_t len, struct sim_shield_out *o)
{
    o->len = 0;
    o->presence = false;
    o->busy_us = 0;
    o->cmd = -1;
    o->read_oid = -1;
    o->status = TMA_OK;
    if (!presence) {
        if (s->prl_used) {
            /* once used, the presentation layer is mandatory until reset */
            alert(o, SCTR_ALERT_FATAL);
            o->cmd = 258;
            return;
        }
        size_t rsp_len = 0;
        uint32_t busy = 0;
        struct sim_sec sec = {false, false, false, false};
        o->cmd = len ? msg[0] : 259;
        o->read_oid = sim_apdu_read_oid(msg, len);
        o->status = sim_app_execute(app, &sec, now, msg, len, o->msg, sizeof(o->msg), &rsp_len, &busy);
        if (o->status != TMA_OK || rsp_len > sizeof(o->msg)) {
            o->len = 0;
            return;
        }
        o->len = rsp_len;
        o->busy_us = busy;
        return;
    }
    s->prl_used = true;
    if (len == 0) {
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
    switch (msg[0] >> 5) {
    case 0:
        if (msg[0] == SCTR_HELLO) {
            hello(s, app, now, msg, len, o);
        } else if (msg[0] == SCTR_FINISHED) {
            finished(s, msg, len, o);
        } else {
            drop_session(s);
            alert(o, SCTR_ALERT_FATAL);
        }
        return;
    case 1:
        record(s, app, now, msg, len, o);
        return;
    case 2:
        host_alert(s, msg, len, o);
        return;
    case 3:
        manage_context(s, app, msg, len, o);
        return;
    default:
        alert(o, SCTR_ALERT_FATAL);
        return;
    }
}
