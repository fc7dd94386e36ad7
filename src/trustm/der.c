/* DER codecs for ECDSA signatures and public-key BIT STRINGs. */
#include "trustm/der.h"

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

/* Drop all leading zero bytes of a big-endian value, keeping one byte. */
static size_t strip(const uint8_t **v, size_t n)
{
    while (n > 1 && (*v)[0] == 0) {
        (*v)++;
        n--;
    }
    return n;
}

/* SEQUENCE body of two non-negative INTEGERs filling p[0..len): r and s
 * without any leading zero bytes, each at most TRUSTM_ECDSA_COMP_MAX. */
static tma_status der_pair(const uint8_t *p, size_t len, const uint8_t *v[2], size_t n[2])
{
    size_t i;
    size_t h;

    for (i = 0; i < 2; i++) {
        if (trustm_der_tlv(p, len, 0x02, &h, &n[i]) != TMA_OK || n[i] == 0 ||
            (p[h] & 0x80) != 0) {
            return BAD;
        }
        v[i] = p + h;
        p += h + n[i];
        len -= h + n[i];
        if ((n[i] = strip(&v[i], n[i])) > TRUSTM_ECDSA_COMP_MAX) {
            return BAD;
        }
    }
    return len == 0 ? TMA_OK : BAD;
}

/* Write SEQUENCE{r, s} of two values without redundant leading zero bytes
 * (strip()); a value with its top bit set gets a 0x00. */
static tma_status put_sig(const uint8_t *v[2], const size_t n[2], uint8_t *out, size_t cap,
                          size_t *out_len)
{
    size_t body;
    size_t pos;
    size_t i;

    body = 0;
    for (i = 0; i < 2; i++) {
        body += 2 + n[i] + (v[i][0] >> 7u);
    }
    if (1 + der_len_size(body) + body > cap) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL);
    }
    out[0] = 0x30;
    pos = 1 + der_put_len(out + 1, body);
    for (i = 0; i < 2; i++) {
        /* (read before the byte stores, which may alias v and n) */
        const uint8_t *vi = v[i];
        size_t ni = n[i];
        unsigned pad = vi[0] >> 7;
        out[pos++] = 0x02;
        out[pos++] = (uint8_t)(ni + pad);
        out[pos] = 0;
        pos += pad;
        cmd_copy(out + pos, vi, ni); /* v never points into out */
        pos += ni;
    }
    *out_len = pos;
    return TMA_OK;
}

tma_status trustm_der_sig_from_chip(uint8_t *buf, size_t len, size_t cap, size_t *out_len)
{
    uint8_t tmp[2 * TRUSTM_ECDSA_COMP_MAX];
    const uint8_t *v[2];
    size_t n[2];

    if (buf == NULL || out_len == NULL || len > cap) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    if (der_pair(buf, len, v, n) != TMA_OK) {
        return BAD;
    }
    cmd_copy(tmp, v[0], n[0]);
    cmd_copy(tmp + n[0], v[1], n[1]);
    v[0] = tmp;
    v[1] = tmp + n[0];
    /* a signature is public: the copy needs no wiping */
    return put_sig(v, n, buf, cap, out_len);
}

/* A whole DER signature: header size, body length and the two values. */
static tma_status sig_parse(const uint8_t *der, size_t len, size_t *h, size_t *body,
                            const uint8_t *v[2], size_t n[2])
{
    if (trustm_der_tlv(der, len, 0x30, h, body) != TMA_OK || *h + *body != len ||
        der_pair(der + *h, *body, v, n) != TMA_OK) {
        return BAD;
    }
    return TMA_OK;
}

tma_status trustm_der_sig_body(const uint8_t *der, size_t len, size_t *out_off, size_t *out_len)
{
    const uint8_t *v[2];
    size_t n[2];

    if (der == NULL || out_off == NULL || out_len == NULL) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    return sig_parse(der, len, out_off, out_len, v, n);
}

tma_status trustm_der_sig_to_rs(const uint8_t *der, size_t len, size_t comp, uint8_t *out)
{
    size_t h;
    size_t body;
    const uint8_t *v[2];
    size_t n[2];
    size_t i;

    if (der == NULL || out == NULL || comp == 0 || comp > TRUSTM_ECDSA_COMP_MAX) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    if (sig_parse(der, len, &h, &body, v, n) != TMA_OK || n[0] > comp || n[1] > comp) {
        return BAD;
    }
    trustm_wipe(out, 2 * comp);
    for (i = 0; i < 2; i++) {
        cmd_copy(out + (i + 1) * comp - n[i], v[i], n[i]);
    }
    return TMA_OK;
}

tma_status trustm_der_sig_from_rs(const uint8_t *rs, size_t comp, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    const uint8_t *v[2];
    size_t n[2];
    size_t i;

    if (rs == NULL || out == NULL || out_len == NULL || comp == 0 ||
        comp > TRUSTM_ECDSA_COMP_MAX) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    for (i = 0; i < 2; i++) {
        v[i] = rs + i * comp;
        n[i] = strip(&v[i], comp);
    }
    return put_sig(v, n, out, cap, out_len);
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
