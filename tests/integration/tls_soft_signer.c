#include "tls_soft_signer.h"

#include <mbedtls/ecdsa.h>
#include <string.h>

static int finish_load(struct soft_signer *s)
{
    mbedtls_ecp_keypair *ec;
    if (mbedtls_pk_get_type(&s->priv) != MBEDTLS_PK_ECKEY) {
        return -1;
    }
    ec = mbedtls_pk_ec(s->priv);
    s->group = ec->grp.id;
    if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED,
                                       &s->pub_len, s->pub, sizeof(s->pub)) != 0) {
        return -1;
    }
    return mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy,
                                 (const unsigned char *)"soft", 4);
}

static void init(struct soft_signer *s)
{
    memset(s, 0, sizeof(*s));
    mbedtls_pk_init(&s->priv);
    mbedtls_entropy_init(&s->entropy);
    mbedtls_ctr_drbg_init(&s->drbg);
}

int soft_signer_load(struct soft_signer *s, const char *key_path)
{
    init(s);
    if (mbedtls_pk_parse_keyfile(&s->priv, key_path, NULL) != 0) {
        return -1;
    }
    return finish_load(s);
}

int soft_signer_load_buf(struct soft_signer *s, const unsigned char *buf, size_t len)
{
    init(s);
    if (mbedtls_pk_parse_key(&s->priv, buf, len, NULL, 0) != 0) {
        return -1;
    }
    return finish_load(s);
}

void soft_signer_free(struct soft_signer *s)
{
    mbedtls_pk_free(&s->priv);
    mbedtls_ctr_drbg_free(&s->drbg);
    mbedtls_entropy_free(&s->entropy);
}

/* INTEGER padded to n bytes, 0x00 in front when the top bit is set. */
static size_t put_int(uint8_t *o, const mbedtls_mpi *x, size_t n)
{
    uint8_t v[48];
    size_t pad;
    (void)mbedtls_mpi_write_binary(x, v, n);
    pad = (v[0] & 0x80u) ? 1u : 0u;
    o[0] = 0x02;
    o[1] = (uint8_t)(n + pad);
    if (pad) {
        o[2] = 0;
    }
    memcpy(o + 2 + pad, v, n);
    return 2 + pad + n;
}

tma_status soft_signer_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *out,
                            size_t out_size, size_t *out_len)
{
    struct soft_signer *s = ctx;
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(s->priv);
    size_t n = (ec->grp.pbits + 7) / 8;
    mbedtls_mpi r, sv;
    tma_status st = TMA_ERR(TMA_LAYER_CHIP, 0x07);

    s->calls++;
    s->last_hash_len = hash_len;
    if (s->fail) {
        return st;
    }
    if (out_size < 2 * (n + 3)) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL);
    }
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&sv);
    if (mbedtls_ecdsa_sign(&ec->grp, &r, &sv, &ec->d, hash, hash_len, mbedtls_ctr_drbg_random,
                           &s->drbg) == 0) {
        size_t off = put_int(out, &r, n);
        off += put_int(out + off, &sv, n);
        *out_len = off;
        st = TMA_OK;
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&sv);
    return st;
}
