/* APDU builder, execution with last-error retrieval, response helpers. */
#include "apdu.h"

void apdu_begin(struct apdu *a, struct trustm *t, uint8_t protect, unsigned cmd_param)
{
    a->t = t;
    a->protect = protect;
    a->nseg = 1;
    a->seg[0].ptr = a->buf;
    a->seg[0].len = 4;
    a->used = 4;
    a->total = 4;
    a->buf[0] = (uint8_t)(cmd_param >> 8);
    a->buf[1] = (uint8_t)cmd_param;
}

void apdu_put(struct apdu *a, const uint8_t *p, size_t n)
{
    struct tma_span *last = &a->seg[a->nseg - 1];

    if (n == 0) {
        return;
    }
    a->total += n;
    if (n <= APDU_COPY_MAX && n <= APDU_BUF - a->used) {
        uint8_t *d = a->buf + a->used;
        cmd_copy(d, p, n);
        a->used += n;
        if (last->ptr + last->len == d) {
            last->len += n;
            return;
        }
        p = d; /* the last segment is caller data: the copy opens a new one */
    }
    /* No command opens more than TRUSTM_MAX_SEGMENTS (see apdu.h), so there
     * is always room for this one. */
    last[1].ptr = p;
    last[1].len = n;
    a->nseg++;
}

void apdu_be(struct apdu *a, uint32_t v, size_t n)
{
    uint8_t b[4];
    size_t i = n;
    while (i-- > 0) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
    apdu_put(a, b, n);
}

void apdu_tl(struct apdu *a, uint8_t tag, size_t len)
{
    apdu_be(a, (uint32_t)tag << 16 | (uint32_t)len, 3);
}

void apdu_tlv16(struct apdu *a, uint8_t tag, unsigned v)
{
    apdu_tl(a, tag, 2);
    apdu_be(a, v, 2);
}

void apdu_tlv(struct apdu *a, uint8_t tag, const uint8_t *p, size_t n)
{
    apdu_tl(a, tag, n);
    apdu_put(a, p, n);
}

size_t der_len_size(size_t n)
{
    return n < 0x80 ? 1u : n < 0x100 ? 2u : 3u;
}

size_t der_put_len(uint8_t *p, size_t n)
{
    size_t k = der_len_size(n);
    p[0] = (uint8_t)(0x7F + k); /* 0x81 / 0x82 for the long forms */
    p[k - 1] = (uint8_t)n;
    if (k == 3) {
        p[1] = (uint8_t)(n >> 8);
    }
    return k;
}

void apdu_keydest(struct apdu *a, uint16_t oid, uint8_t usage)
{
    if (oid == TRUSTM_OID_EXPORT) {
        apdu_tl(a, 0x07, 0);
    } else {
        apdu_tlv16(a, 0x01, oid);
        apdu_be(a, 0x02000100u | usage, 4);
    }
}

void apdu_pubkey(struct apdu *a, const struct trustm_pubkey *k)
{
    uint8_t h[5];
    size_t n;

    if (k->cert_oid != 0) {
        apdu_tlv16(a, 0x04, k->cert_oid);
        return;
    }
    apdu_be(a, 0x05000100u | k->alg, 4);
    /* 06 LL LL { 03 <len> 00 key } */
    h[0] = 0x03;
    n = 1 + der_put_len(h + 1, k->key_len + 1);
    h[n++] = 0x00;
    apdu_tl(a, 0x06, n + k->key_len);
    apdu_put(a, h, n);
    apdu_put(a, k->key, k->key_len);
}

/* Read the Last Error Code with code 0x01 (not clearing before the read). */
static tma_status last_error(struct trustm *t)
{
    static const uint8_t cmd[] = {0x01, 0x00, 0x00, 0x06, 0xF1, 0xC2, 0x00, 0x00, 0x00, 0x01};
    struct tma_span seg;
    struct trustm_rsp rsp;
    uint8_t code = 0;
    tma_status st;

    seg.ptr = cmd;
    seg.len = sizeof(cmd);
    st = trustm_transceive(t, TRUSTM_PROTECT_NONE, &seg, 1, &code, 1, &rsp);
    if (st != TMA_OK) {
        return st;
    }
    if (rsp.sta != 0 || rsp.out_len != 1 || code == 0) {
        return CMD_ERR(TRUSTM_CMD_E_NOCODE);
    }
    return TMA_CHIP_ERROR(code);
}

tma_status apdu_exec(struct apdu *a, uint8_t *out, size_t cap)
{
    struct trustm_rsp rsp;
    size_t in = a->total - 4;
    tma_status st;

    a->total = 0;
    if (a->t == NULL || in > TRUSTM_APDU_MAX_IN) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    a->buf[2] = (uint8_t)(in >> 8);
    a->buf[3] = (uint8_t)in;
    st = trustm_transceive(a->t, a->protect, a->seg, a->nseg, out, cap, &rsp);
    if (st != TMA_OK) {
        return st;
    }
    if (rsp.sta != 0) {
        return last_error(a->t);
    }
    /* (OutLen > cap is TOO_SMALL from trustm_transceive() already) */
    a->total = rsp.out_len;
    return TMA_OK;
}

tma_status apdu_exec_n(struct apdu *a, uint8_t *out, size_t n)
{
    tma_status st = apdu_exec(a, out, n);
    return st == TMA_OK && a->total != n ? CMD_ERR(TMA_C_MALFORMED) : st;
}

tma_status apdu_untag(struct apdu *a, uint8_t *buf, uint8_t tag, size_t want)
{
    size_t len = a->total;
    size_t n = len - 3;
    if (len < 3 || buf[0] != tag || (((size_t)buf[1] << 8) | buf[2]) != n ||
        (want != 0 && n != want)) {
        trustm_wipe(buf, len);
        a->total = 0;
        return CMD_ERR(TMA_C_MALFORMED);
    }
    /* trustm_copy() goes forward byte by byte, so this left shift is safe */
    cmd_copy(buf, buf + 3, n);
    a->total = n;
    return TMA_OK;
}
