/* Chip ECDSA signature (INTEGER r || INTEGER s, maybe non-minimal, maybe
 * already in a SEQUENCE) -> minimal DER ECDSA-Sig-Value. Pure, no I/O. */
#include "tma/tls.h"

#include <string.h>

#define SIG_ERR(code) TMA_ERR(TMA_LAYER_TLS, (code))

/* Reads a DER length at *p (short form, or 0x81/0x82 long form). */
static int read_len(const uint8_t **p, const uint8_t *end, size_t *out_len)
{
    size_t n;
    if (*p >= end) {
        return -1;
    }
    n = **p;
    (*p)++;
    if (n < 0x80u) {
        *out_len = n;
        return 0;
    }
    if (n == 0x81u) {
        if (*p >= end || **p < 0x80u) {
            return -1; /* non-minimal length */
        }
        *out_len = **p;
        (*p)++;
        return 0;
    }
    return -1; /* signatures here are never longer than 255 bytes */
}

/* One positive INTEGER; returns its magnitude without leading zeros. */
static int read_uint(const uint8_t **p, const uint8_t *end, size_t max_bytes,
                     const uint8_t **out_val, size_t *out_len)
{
    size_t len;
    const uint8_t *v;
    if (*p >= end || **p != 0x02u) {
        return -1;
    }
    (*p)++;
    if (read_len(p, end, &len) != 0 || len == 0u || len > (size_t)(end - *p)) {
        return -1;
    }
    v = *p;
    *p += len;
    if ((v[0] & 0x80u) != 0u) {
        return -1; /* negative */
    }
    while (len > 0u && v[0] == 0u) {
        v++;
        len--;
    }
    if (len == 0u || len > max_bytes) {
        return -1; /* zero, or larger than the curve order can be */
    }
    *out_val = v;
    *out_len = len;
    return 0;
}

static size_t put_uint(uint8_t *o, const uint8_t *v, size_t len)
{
    size_t pad = (v[0] & 0x80u) != 0u ? 1u : 0u;
    o[0] = 0x02u;
    o[1] = (uint8_t)(len + pad);
    if (pad != 0u) {
        o[2] = 0u;
    }
    memcpy(o + 2 + pad, v, len);
    return 2u + pad + len;
}

tma_status tma_tls_sig_to_der(struct tma_span in, size_t key_bytes, uint8_t *out,
                              size_t out_size, size_t *out_len)
{
    const uint8_t *p;
    const uint8_t *end;
    const uint8_t *r = NULL;
    const uint8_t *s = NULL;
    size_t rl = 0;
    size_t sl = 0;
    size_t content;
    size_t hdr;
    size_t off;

    if (out_len != NULL) {
        *out_len = 0;
    }
    if (in.ptr == NULL || out == NULL || out_len == NULL || key_bytes == 0u ||
        key_bytes > 66u) {
        return SIG_ERR(TMA_C_BAD_PARAM);
    }
    p = in.ptr;
    end = in.ptr + in.len;
    if (in.len > 0u && p[0] == 0x30u) {
        size_t seq_len;
        p++;
        if (read_len(&p, end, &seq_len) != 0 || seq_len != (size_t)(end - p)) {
            return SIG_ERR(TMA_C_MALFORMED);
        }
    }
    if (read_uint(&p, end, key_bytes, &r, &rl) != 0 ||
        read_uint(&p, end, key_bytes, &s, &sl) != 0 || p != end) {
        return SIG_ERR(TMA_C_MALFORMED);
    }
    content = 2u + rl + ((r[0] & 0x80u) != 0u ? 1u : 0u) + 2u + sl +
              ((s[0] & 0x80u) != 0u ? 1u : 0u);
    hdr = content < 0x80u ? 2u : 3u;
    if (hdr + content > out_size) {
        *out_len = hdr + content;
        return SIG_ERR(TMA_C_TOO_SMALL);
    }
    out[0] = 0x30u;
    if (hdr == 2u) {
        out[1] = (uint8_t)content;
    } else {
        out[1] = 0x81u;
        out[2] = (uint8_t)content;
    }
    off = hdr;
    off += put_uint(out + off, r, rl);
    off += put_uint(out + off, s, sl);
    *out_len = off;
    return TMA_OK;
}
