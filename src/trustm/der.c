/* DER codecs for ECDSA signatures and public-key BIT STRINGs. */
#include "trustm/der.h"

#include <string.h>

#include "apdu.h"

#define BAD TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED)

tma_status trustm_der_tlv(const uint8_t *der, size_t len, uint8_t tag, size_t *out_hdr,
                          size_t *out_vlen)
{
    size_t h = 2;
    size_t n;

    if (der == NULL || len < 2 || der[0] != tag) {
        return BAD;
    }
    n = der[1];
    if (n == 0x81) {
        if (len < 3 || der[2] < 0x80) {
            return BAD;
        }
        n = der[2];
        h = 3;
    } else if (n == 0x82) {
        if (len < 4 || der[2] == 0) {
            return BAD;
        }
        n = ((size_t)der[2] << 8) | der[3];
        h = 4;
    } else if (n > 0x7F) {
        return BAD;
    }
    if (n > len - h) {
        return BAD;
    }
    *out_hdr = h;
    *out_vlen = n;
    return TMA_OK;
}

/* One INTEGER at p[0..len): value without redundant leading zeros. */
static tma_status der_int(const uint8_t *p, size_t len, size_t *out_used, const uint8_t **out_v,
                          size_t *out_n)
{
    size_t h;
    size_t n;
    const uint8_t *v;

    if (trustm_der_tlv(p, len, 0x02, &h, &n) != TMA_OK || n == 0 || (p[h] & 0x80) != 0) {
        return BAD;
    }
    v = p + h;
    *out_used = h + n;
    while (n > 1 && v[0] == 0 && v[1] < 0x80) {
        v++;
        n--;
    }
    if (n > TRUSTM_ECDSA_COMP_MAX + 1) {
        return BAD;
    }
    *out_v = v;
    *out_n = n;
    return TMA_OK;
}

/* Two INTEGERs filling p[0..len). */
static tma_status der_pair(const uint8_t *p, size_t len, const uint8_t **r, size_t *rn,
                           const uint8_t **s, size_t *sn)
{
    size_t used;
    size_t used2;

    if (der_int(p, len, &used, r, rn) != TMA_OK ||
        der_int(p + used, len - used, &used2, s, sn) != TMA_OK || used + used2 != len) {
        return BAD;
    }
    return TMA_OK;
}

/* Write SEQUENCE{r, s} minimally; r/s have no redundant zeros and are
 * non-negative, but may be 0x80+ (then a 0x00 is added). */
static tma_status put_sig(const uint8_t *r, size_t rn, const uint8_t *s, size_t sn,
                          uint8_t *out, size_t cap, size_t *out_len)
{
    const uint8_t *v[2];
    size_t n[2];
    size_t body;
    size_t pos;
    size_t i;

    v[0] = r;
    v[1] = s;
    n[0] = rn;
    n[1] = sn;
    for (i = 0; i < 2; i++) {
        while (n[i] > 1 && v[i][0] == 0) { /* drop all leading zeros, re-add below */
            v[i]++;
            n[i]--;
        }
    }
    body = 4 + n[0] + n[1] + (v[0][0] >= 0x80) + (v[1][0] >= 0x80);
    if (1 + der_len_size(body) + body > cap) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL);
    }
    out[0] = 0x30;
    pos = 1 + der_put_len(out + 1, body);
    for (i = 0; i < 2; i++) {
        int pad = v[i][0] >= 0x80;
        out[pos++] = 0x02;
        out[pos++] = (uint8_t)(n[i] + (size_t)pad);
        if (pad) {
            out[pos++] = 0;
        }
        memmove(out + pos, v[i], n[i]);
        pos += n[i];
    }
    *out_len = pos;
    return TMA_OK;
}

tma_status trustm_der_sig_from_chip(uint8_t *buf, size_t len, size_t cap, size_t *out_len)
{
    uint8_t tmp[2 * (TRUSTM_ECDSA_COMP_MAX + 1)];
    const uint8_t *r;
    const uint8_t *s;
    size_t rn;
    size_t sn;
    tma_status st;

    if (buf == NULL || out_len == NULL || len > cap) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    if (der_pair(buf, len, &r, &rn, &s, &sn) != TMA_OK) {
        return BAD;
    }
    memcpy(tmp, r, rn);
    memcpy(tmp + rn, s, sn);
    st = put_sig(tmp, rn, tmp + rn, sn, buf, cap, out_len);
    memset(tmp, 0, sizeof(tmp));
    return st;
}

tma_status trustm_der_sig_body(const uint8_t *der, size_t len, size_t *out_off, size_t *out_len)
{
    size_t h;
    size_t n;
    const uint8_t *r;
    const uint8_t *s;
    size_t rn;
    size_t sn;

    if (der == NULL || out_off == NULL || out_len == NULL) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    if (trustm_der_tlv(der, len, 0x30, &h, &n) != TMA_OK || h + n != len ||
        der_pair(der + h, n, &r, &rn, &s, &sn) != TMA_OK) {
        return BAD;
    }
    *out_off = h;
    *out_len = n;
    return TMA_OK;
}

tma_status trustm_der_sig_to_rs(const uint8_t *der, size_t len, size_t comp, uint8_t *out)
{
    size_t off;
    size_t n;
    const uint8_t *v[2];
    size_t vn[2];
    size_t i;
    tma_status st;

    if (out == NULL || comp == 0 || comp > TRUSTM_ECDSA_COMP_MAX) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    st = trustm_der_sig_body(der, len, &off, &n);
    if (st != TMA_OK) {
        return st;
    }
    (void)der_pair(der + off, n, &v[0], &vn[0], &v[1], &vn[1]);
    for (i = 0; i < 2; i++) {
        while (vn[i] > 1 && v[i][0] == 0) {
            v[i]++;
            vn[i]--;
        }
        if (vn[i] > comp) {
            return BAD;
        }
        memset(out + i * comp, 0, comp - vn[i]);
        memcpy(out + i * comp + comp - vn[i], v[i], vn[i]);
    }
    return TMA_OK;
}

tma_status trustm_der_sig_from_rs(const uint8_t *rs, size_t comp, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    if (rs == NULL || out == NULL || out_len == NULL || comp == 0 ||
        comp > TRUSTM_ECDSA_COMP_MAX) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    return put_sig(rs, comp, rs + comp, comp, out, cap, out_len);
}

tma_status trustm_der_bitstring(const uint8_t *der, size_t len, size_t *out_off, size_t *out_len)
{
    size_t h;
    size_t n;

    if (out_off == NULL || out_len == NULL) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    if (trustm_der_tlv(der, len, 0x03, &h, &n) != TMA_OK || h + n != len || n < 2 ||
        der[h] != 0) {
        return BAD;
    }
    *out_off = h + 1;
    *out_len = n - 1;
    return TMA_OK;
}
