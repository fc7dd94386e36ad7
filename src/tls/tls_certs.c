/* Certificate input formats: PEM (one or more CERTIFICATE blocks), DER (one
 * or more concatenated), and the chip's TLS-identity wrapper
 * 0xC0 || len(2) || list len(3) || { cert len(3) || DER }*. */
#include "tma/tls.h"

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <string.h>

#define CERT_ERR(code) TMA_ERR(TMA_LAYER_TLS, (code))

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

static const uint8_t *find(const uint8_t *p, const uint8_t *end, const char *needle)
{
    size_t n = strlen(needle);
    while ((size_t)(end - p) >= n) {
        if (memcmp(p, needle, n) == 0) {
            return p;
        }
        p++;
    }
    return NULL;
}

static uint32_t get24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[2];
}

/* Length of the DER element at p (tag 0x30 expected), or 0 if it does not fit. */
static size_t der_seq_len(const uint8_t *p, size_t avail)
{
    size_t n;
    size_t hdr;
    if (avail < 2u || p[0] != 0x30u) {
        return 0;
    }
    if (p[1] < 0x80u) {
        n = p[1];
        hdr = 2;
    } else if (p[1] == 0x81u && avail >= 3u) {
        n = p[2];
        hdr = 3;
    } else if (p[1] == 0x82u && avail >= 4u) {
        n = ((size_t)p[2] << 8) | p[3];
        hdr = 4;
    } else {
        return 0;
    }
    if (n > avail - hdr) {
        return 0;
    }
    return n + hdr;
}

static tma_status parse_der_list(mbedtls_x509_crt *chain, const uint8_t *p, size_t len,
                                 size_t *count)
{
    while (len > 0u) {
        size_t n = der_seq_len(p, len);
        if (n == 0u || mbedtls_x509_crt_parse_der(chain, p, n) != 0) {
            return CERT_ERR(TMA_C_MALFORMED);
        }
        (*count)++;
        p += n;
        len -= n;
    }
    return TMA_OK;
}

static tma_status parse_identity(mbedtls_x509_crt *chain, const uint8_t *p, size_t len,
                                 size_t *count)
{
    size_t outer;
    size_t list;
    if (len < 6u) {
        return CERT_ERR(TMA_C_MALFORMED);
    }
    outer = ((size_t)p[1] << 8) | p[2];
    list = get24(p + 3);
    /* Bytes after the wrapper are ignored (an object read in full may carry
     * padding); the wrapper's own lengths must agree exactly. */
    if (outer < 3u || outer > len - 3u || list != outer - 3u) {
        return CERT_ERR(TMA_C_MALFORMED);
    }
    p += 6;
    while (list > 0u) {
        size_t n;
        if (list < 3u) {
            return CERT_ERR(TMA_C_MALFORMED);
        }
        n = get24(p);
        if (n == 0u || n > list - 3u || der_seq_len(p + 3, n) != n ||
            mbedtls_x509_crt_parse_der(chain, p + 3, n) != 0) {
            return CERT_ERR(TMA_C_MALFORMED);
        }
        (*count)++;
        p += 3u + n;
        list -= 3u + n;
    }
    return *count > 0u ? TMA_OK : CERT_ERR(TMA_C_MALFORMED);
}

static tma_status parse_pem(mbedtls_x509_crt *chain, const uint8_t *p, size_t len,
                            size_t *count)
{
    const uint8_t *end = p + len;
    uint8_t der[4096];
    tma_status st = TMA_OK;

    for (;;) {
        const uint8_t *b = find(p, end, pem_begin);
        const uint8_t *e;
        size_t olen = 0;
        if (b == NULL) {
            break;
        }
        b += sizeof(pem_begin) - 1u;
        e = find(b, end, pem_end);
        if (e == NULL) {
            st = CERT_ERR(TMA_C_MALFORMED);
            break;
        }
        if (mbedtls_base64_decode(der, sizeof(der), &olen, b, (size_t)(e - b)) != 0 ||
            olen == 0u || mbedtls_x509_crt_parse_der(chain, der, olen) != 0) {
            st = CERT_ERR(TMA_C_MALFORMED);
            break;
        }
        (*count)++;
        p = e + sizeof(pem_end) - 1u;
    }
    mbedtls_platform_zeroize(der, sizeof(der));
    if (st == TMA_OK && *count == 0u) {
        st = CERT_ERR(TMA_C_MALFORMED);
    }
    return st;
}

tma_status tma_tls_parse_certs(mbedtls_x509_crt *chain, struct tma_span in, size_t *out_count)
{
    size_t count = 0;
    tma_status st;

    if (out_count != NULL) {
        *out_count = 0;
    }
    if (chain == NULL || in.ptr == NULL || in.len == 0u) {
        return CERT_ERR(TMA_C_BAD_PARAM);
    }
    if (in.ptr[0] == 0x30u) {
        st = parse_der_list(chain, in.ptr, in.len, &count);
    } else if (in.ptr[0] == 0xC0u) {
        st = parse_identity(chain, in.ptr, in.len, &count);
    } else {
        st = parse_pem(chain, in.ptr, in.len, &count);
    }
    if (out_count != NULL) {
        *out_count = count;
    }
    return st;
}
