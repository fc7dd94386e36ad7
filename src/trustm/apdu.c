/* APDU builder, execution with last-error retrieval, response helpers. */
#include "apdu.h"

#include <string.h>

void put_be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void apdu_begin(struct apdu *a, uint8_t cmd, uint8_t param)
{
    a->nseg = 1;
    a->seg[0].ptr = a->buf;
    a->seg[0].len = 4;
    a->used = 4;
    a->total = 4;
    a->bad = 0;
    a->buf[0] = cmd;
    a->buf[1] = param;
    a->buf[2] = 0;
    a->buf[3] = 0;
}

void apdu_put(struct apdu *a, const uint8_t *p, size_t n)
{
    struct tma_span *last = &a->seg[a->nseg - 1];
    int fits = n <= APDU_BUF - a->used;

    if (n == 0) {
        return;
    }
    a->total += n;
    if (fits && (n <= APDU_COPY_MAX || a->nseg == TRUSTM_MAX_SEGMENTS)) {
        if (last->ptr + last->len != a->buf + a->used) {
            /* The last segment is caller data: open a new copied one. */
            if (a->nseg == TRUSTM_MAX_SEGMENTS) {
                a->bad = 1;
                return;
            }
            last = &a->seg[a->nseg++];
            last->ptr = a->buf + a->used;
            last->len = 0;
        }
        memcpy(a->buf + a->used, p, n);
        a->used += n;
        last->len += n;
        return;
    }
    if (a->nseg == TRUSTM_MAX_SEGMENTS) {
        a->bad = 1;
        return;
    }
    a->seg[a->nseg].ptr = p;
    a->seg[a->nseg].len = n;
    a->nseg++;
}

void apdu_u8(struct apdu *a, uint8_t v)
{
    apdu_put(a, &v, 1);
}

void apdu_u16(struct apdu *a, unsigned v)
{
    uint8_t b[2];
    put_be16(b, v);
    apdu_put(a, b, 2);
}

void apdu_tl(struct apdu *a, uint8_t tag, size_t len)
{
    uint8_t b[3];
    b[0] = tag;
    put_be16(b + 1, (unsigned)len);
    apdu_put(a, b, 3);
}

void apdu_tlv16(struct apdu *a, uint8_t tag, unsigned v)
{
    apdu_tl(a, tag, 2);
    apdu_u16(a, v);
}

void apdu_tlv8(struct apdu *a, uint8_t tag, uint8_t v)
{
    apdu_tl(a, tag, 1);
    apdu_u8(a, v);
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
    if (k == 1) {
        p[0] = (uint8_t)n;
    } else if (k == 2) {
        p[0] = 0x81;
        p[1] = (uint8_t)n;
    } else {
        p[0] = 0x82;
        put_be16(p + 1, (unsigned)n);
    }
    return k;
}

void apdu_keydest(struct apdu *a, uint16_t oid, uint8_t usage)
{
    if (oid == TRUSTM_OID_EXPORT) {
        apdu_tl(a, 0x07, 0);
    } else {
        apdu_tlv16(a, 0x01, oid);
        apdu_tlv8(a, 0x02, usage);
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
    apdu_tlv8(a, 0x05, k->alg);
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

tma_status apdu_exec(struct trustm *t, uint8_t protect, struct apdu *a, uint8_t *out,
                     size_t cap, size_t *out_len)
{
    struct trustm_rsp rsp;
    tma_status st;

    if (out_len != NULL) {
        *out_len = 0;
    }
    if (t == NULL || a->total - 4 > TRUSTM_APDU_MAX_IN) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    if (a->bad) {
        return CMD_ERR(TMA_C_INTERNAL);
    }
    put_be16(a->buf + 2, (unsigned)(a->total - 4));
    st = trustm_transceive(t, protect, a->seg, a->nseg, out, out == NULL ? 0 : cap, &rsp);
    if (st != TMA_OK) {
        return st;
    }
    if (rsp.sta != 0) {
        return last_error(t);
    }
    if (rsp.out_len > cap) {
        return CMD_ERR(TMA_C_TOO_SMALL);
    }
    if (out_len != NULL) {
        *out_len = rsp.out_len;
    }
    return TMA_OK;
}

int apdu_find(const uint8_t *buf, size_t len, uint8_t tag, size_t *out_off, size_t *out_len)
{
    size_t pos = 0;
    while (len - pos >= 3) {
        size_t n = ((size_t)buf[pos + 1] << 8) | buf[pos + 2];
        if (n > len - pos - 3) {
            return -1;
        }
        if (buf[pos] == tag) {
            *out_off = pos + 3;
            *out_len = n;
            return 0;
        }
        pos += 3 + n;
    }
    return -1;
}

long apdu_untag(uint8_t *buf, size_t len, uint8_t tag)
{
    size_t n;
    if (len < 3 || buf[0] != tag) {
        return -1;
    }
    n = ((size_t)buf[1] << 8) | buf[2];
    if (n != len - 3) {
        return -1;
    }
    /* Shift left by 3 in non-overlapping 3-byte steps: memcpy only, so the
     * image needs no libc memmove (250 B in newlib-nano) for this one move
     * (a plain byte loop is turned back into a memmove call by GCC). */
    for (len = 0; len < n; len += 3) {
        memcpy(buf + len, buf + len + 3, n - len < 3 ? n - len : 3);
    }
    return (long)n;
}
