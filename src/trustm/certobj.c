/* Certificate object formats: raw DER, TLS identity (0xC0), USB Type-C (0xC2). */
#include "trustm/certobj.h"

#include "apdu.h"
#include "trustm/der.h"

#define BAD_PARAM TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM)
#define MALFORMED TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED)
#define NOT_FOUND TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND)

static size_t be(const uint8_t *p, size_t n)
{
    size_t v = 0;
    while (n-- > 0) {
        v = (v << 8) | *p++;
    }
    return v;
}

/* Size of the DER SEQUENCE starting at p (within len), or 0. */
static size_t der_cert_size(const uint8_t *p, size_t len)
{
    size_t h;
    size_t n;
    if (trustm_der_tlv(p, len, 0x30, &h, &n) != TMA_OK || n == 0) {
        return 0;
    }
    return h + n;
}

/* Walk the entries of a body; entry = [3-byte length] cert (TLS) or cert
 * (USB-C/DER). Returns the number of certificates, or 0 if malformed (an
 * entry that is not exactly one non-empty DER SEQUENCE).
 * With want < count stores that certificate in out. */
static size_t walk(uint8_t format, const uint8_t *p, size_t len, size_t want,
                   struct tma_span *out)
{
    size_t pos = 0;
    size_t count = 0;

    while (pos < len) {
        size_t n;
        size_t c;
        if (format == TRUSTM_CERTOBJ_TLS) {
            if (len - pos < 3) {
                return 0;
            }
            n = be(p + pos, 3);
            pos += 3;
            /* (an empty entry is refused: n - 1 wraps) */
            if (n - 1u >= len - pos || der_cert_size(p + pos, n) != n) {
                return 0;
            }
        } else {
            n = der_cert_size(p + pos, len - pos);
            if (n == 0) {
                return 0;
            }
        }
        if (count == want && out != NULL) {
            out->ptr = p + pos;
            out->len = n;
        }
        c = n;
        pos += c;
        count++;
        if (format == TRUSTM_CERTOBJ_DER) {
            break;
        }
    }
    return count;
}

tma_status trustm_certobj_parse(const uint8_t *obj, size_t len, struct trustm_certobj *out)
{
    size_t n;

    if (obj == NULL || out == NULL) {
        return BAD_PARAM;
    }
    trustm_wipe(out, sizeof(*out));
    if (len == 0 || obj[0] == 0x00) {
        return NOT_FOUND;
    }
    out->format = obj[0];
    if (obj[0] == TRUSTM_CERTOBJ_DER) {
        n = der_cert_size(obj, len);
        if (n == 0) {
            return MALFORMED;
        }
        out->body.ptr = obj;
        out->body.len = n;
        out->used = n;
    } else if (obj[0] == TRUSTM_CERTOBJ_TLS || obj[0] == TRUSTM_CERTOBJ_USBC) {
        if (len < 3 || (n = be(obj + 1, 2)) > len - 3) {
            return MALFORMED;
        }
        out->used = 3 + n;
        if (obj[0] == TRUSTM_CERTOBJ_TLS) {
            if (n < 3 || be(obj + 3, 3) != n - 3) {
                return MALFORMED;
            }
            out->body.ptr = obj + 6;
            out->body.len = n - 3;
        } else {
            out->body.ptr = obj + 3;
            out->body.len = n;
        }
    } else {
        return MALFORMED;
    }
    out->count = walk(out->format, out->body.ptr, out->body.len, 0, NULL);
    if (out->count == 0) {
        trustm_wipe(out, sizeof(*out));
        return MALFORMED;
    }
    return TMA_OK;
}

tma_status trustm_certobj_cert(const struct trustm_certobj *o, size_t index,
                               struct tma_span *out_cert)
{
    if (o == NULL || out_cert == NULL || o->count == 0) {
        return BAD_PARAM;
    }
    if (index >= o->count) {
        return NOT_FOUND;
    }
    (void)walk(o->format, o->body.ptr, o->body.len, index, out_cert);
    return TMA_OK;
}

/* The entries of a chain body, run twice: without out it checks the
 * certificates and measures (0 if one is empty or not a single DER SEQUENCE
 * or the body passes 0xFFF0 bytes), with out it writes them. */
static size_t entries(size_t per, const struct tma_span *certs, size_t n, uint8_t *out)
{
    size_t total = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t len = certs[i].len;
        if (out != NULL) {
            if (per != 0) {
                out[total] = (uint8_t)(len >> 16);
                out[total + 1] = (uint8_t)(len >> 8);
                out[total + 2] = (uint8_t)len;
            }
            cmd_copy(out + total + per, certs[i].ptr, len);
        } else if (certs[i].ptr == NULL || len == 0 || der_cert_size(certs[i].ptr, len) != len ||
                   per + len > 0xFFF0u - total) {
            return 0;
        }
        total += per + len;
    }
    return total;
}

tma_status trustm_certobj_build(uint8_t format, const struct tma_span *certs, size_t n,
                                uint8_t *out, size_t cap, size_t *out_len)
{
    size_t per = format == TRUSTM_CERTOBJ_TLS ? 3u : 0u;
    size_t hdr = format == TRUSTM_CERTOBJ_TLS ? 6u : format == TRUSTM_CERTOBJ_USBC ? 3u : 0u;
    size_t total;

    if (certs == NULL || out == NULL || out_len == NULL || n == 0 ||
        (format != TRUSTM_CERTOBJ_DER && hdr == 0) ||
        (format == TRUSTM_CERTOBJ_DER && n != 1)) {
        return BAD_PARAM;
    }
    *out_len = 0;
    total = entries(per, certs, n, NULL);
    if (total == 0) {
        return BAD_PARAM;
    }
    if (hdr + total > cap) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL);
    }
    if (hdr != 0) {
        size_t body = total + hdr - 3;
        out[0] = format;
        out[1] = (uint8_t)(body >> 8);
        out[2] = (uint8_t)body;
        if (per != 0) {
            out[3] = 0;
            out[4] = (uint8_t)(total >> 8);
            out[5] = (uint8_t)total;
        }
    }
    (void)entries(per, certs, n, out + hdr);
    *out_len = hdr + total;
    return TMA_OK;
}
