/* Random, hash, asymmetric key, signature, key agreement and derivation. */
#include <string.h>

#include "apdu.h"
#include "trustm/der.h"

#define BAD_PARAM CMD_ERR(TMA_C_BAD_PARAM)
#define MALFORMED CMD_ERR(TMA_C_MALFORMED)

tma_status trustm_get_random(struct trustm *t, uint8_t protect, uint8_t rng, uint8_t *out,
                             size_t len)
{
    struct apdu a;

    if (out == NULL || len < 8 || len > 256 || rng > TRUSTM_RNG_DRNG) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_GET_RANDOM << 8 | rng);
    apdu_be(&a, (uint32_t)len, 2);
    return apdu_exec_n(&a, out, len);
}

tma_status trustm_random_to_session(struct trustm *t, uint8_t protect, uint8_t rng,
                                    uint16_t session, const uint8_t *prefix, size_t prefix_len,
                                    size_t len, uint8_t *out)
{
    struct apdu a;
    int pre = rng == TRUSTM_RNG_PREMASTER;

    if (len < 8 || prefix_len + len > 66 || (prefix == NULL && prefix_len != 0) ||
        (!pre && (out == NULL || rng > TRUSTM_RNG_DRNG)) || (session & 0xFFFCu) != 0xE100u) {
        return BAD_PARAM;
    }
#if !TRUSTM_CFG_V3
    if (!pre) {
        return CMD_ERR(TMA_C_UNSUPPORTED);
    }
#endif
    apdu_begin(&a, t, protect, CMD_GET_RANDOM << 8 | rng);
    apdu_be(&a, (uint32_t)len << 16 | session, 4);
    apdu_tlv(&a, 0x41, prefix, prefix_len);
    /* a pre-master secret stays in the chip: the answer must be empty */
    return apdu_exec_n(&a, out, pre ? 0u : len);
}

/* ---- hash ---------------------------------------------------------------- */

#define HASH_ONESHOT_CHUNK 1536u
#define HASH_STREAM_CHUNK 1280u
#define CTX_TLV_LEN (TRUSTM_HASH_CTX_LEN + 3u)

/* Run one CalcHash APDU whose final response is `01 00 20 digest`. */
static tma_status hash_final(struct apdu *a, uint8_t *out)
{
    uint8_t r[3 + TRUSTM_SHA256_LEN];
    tma_status st = apdu_exec(a, r, sizeof(r));
    if (st == TMA_OK) {
        st = apdu_untag(a, r, 0x01, TRUSTM_SHA256_LEN);
    }
    if (st == TMA_OK) {
        cmd_copy(out, r, TRUSTM_SHA256_LEN); /* (a call: shorter than the inline copy) */
    }
    return st;
}

tma_status trustm_sha256(struct trustm *t, uint8_t protect, const uint8_t *data, size_t len,
                         uint8_t *out)
{
    struct apdu a;
    size_t done = 0;
    uint8_t seq = 0;

    if ((data == NULL && len != 0) || out == NULL) {
        return BAD_PARAM;
    }
    for (;;) {
        size_t n = len - done;
        tma_status st;
        if (n > HASH_ONESHOT_CHUNK) {
            n = HASH_ONESHOT_CHUNK;
        }
        /* 0 start, 1 start&final, 2 continue, 3 final. The chip refuses an
         * empty start&final (SRM CalcHash note 57: only start, continue and
         * final may be empty): no bytes go as start, then an empty final. */
        seq = (uint8_t)(seq | (done + n == len && (n | seq) != 0));
        apdu_begin(&a, t, protect, CMD_CALC_HASH << 8 | 0xE2);
        apdu_tlv(&a, seq, data + done, n);
        done += n;
        if (seq & 1) {
            return hash_final(&a, out);
        }
        st = apdu_exec(&a, NULL, 0);
        if (st != TMA_OK) {
            return st;
        }
        seq = 2;
    }
}

tma_status trustm_sha256_oid(struct trustm *t, uint8_t protect, uint16_t oid, uint16_t offset,
                             uint16_t len, uint8_t *out)
{
    struct apdu a;
    if (out == NULL) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_CALC_HASH << 8 | 0xE2);
    apdu_tl(&a, 0x11, 6);
    apdu_be(&a, (uint32_t)oid << 16 | offset, 4);
    apdu_be(&a, len, 2);
    return hash_final(&a, out);
}

enum { HASH_IDLE = 0, HASH_RUNNING = 0x5A };

tma_status trustm_hash_start(struct trustm_hash *h)
{
    if (h == NULL) {
        return BAD_PARAM;
    }
    trustm_wipe(h, sizeof(*h));
    h->tlv[0] = 0x06;
    h->tlv[2] = TRUSTM_HASH_CTX_LEN;
    h->tlv[CTX_TLV_LEN] = 0x07;
    h->state = HASH_RUNNING;
    return TMA_OK;
}

tma_status trustm_hash_update(struct trustm *t, uint8_t protect, struct trustm_hash *h,
                              const uint8_t *data, size_t len)
{
    uint8_t r[CTX_TLV_LEN];
    size_t done = 0;
    tma_status st = TMA_OK;

    if (h == NULL || (data == NULL && len != 0)) {
        return BAD_PARAM;
    }
    if (h->state != HASH_RUNNING) {
        return CMD_ERR(TMA_C_STATE);
    }
    while (done < len) {
        struct apdu a;
        size_t n = len - done;
        size_t skip = h->ctx_len != 0 ? 0u : CTX_TLV_LEN;
        if (n > HASH_STREAM_CHUNK) {
            n = HASH_STREAM_CHUNK;
        }
        apdu_begin(&a, t, protect, CMD_CALC_HASH << 8 | 0xE2);
        /* tag 00 start, 02 continue */
        apdu_tlv(&a, (uint8_t)((h->ctx_len != 0) << 1), data + done, n);
        /* saved context (as the chip exported it) + export request: one
         * segment; the very first chunk only asks for the export */
        apdu_put(&a, h->tlv + skip, sizeof(h->tlv) - skip);
        st = apdu_exec(&a, r, sizeof(r));
        /* `06 00 D1` and the context, as it goes back in the next chunk */
        if (st == TMA_OK) {
            st = apdu_untag(&a, r, 0x06, TRUSTM_HASH_CTX_LEN);
        }
        if (st != TMA_OK) {
            break;
        }
        cmd_copy(h->tlv + 3, r, TRUSTM_HASH_CTX_LEN);
        h->ctx_len = 1;
        done += n;
    }
    trustm_wipe(r, sizeof(r));
    if (st != TMA_OK) {
        trustm_wipe(h, sizeof(*h)); /* a half-fed context is useless */
    }
    return st;
}

tma_status trustm_hash_finish(struct trustm *t, uint8_t protect, struct trustm_hash *h,
                              uint8_t *out)
{
    struct apdu a;
    tma_status st;

    if (h == NULL || out == NULL) {
        return BAD_PARAM;
    }
    if (h->state != HASH_RUNNING) {
        return CMD_ERR(TMA_C_STATE);
    }
    if (h->ctx_len != 0) {
        /* 03 00 00 (final of nothing more) + the saved context */
        apdu_begin(&a, t, protect, CMD_CALC_HASH << 8 | 0xE2);
        apdu_tl(&a, 3, 0);
        apdu_put(&a, h->tlv, CTX_TLV_LEN);
        st = hash_final(&a, out);
    } else {
        st = trustm_sha256(t, protect, NULL, 0, out); /* nothing was fed */
    }
    trustm_wipe(h, sizeof(*h));
    return st;
}
