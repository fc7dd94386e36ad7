/* V3 symmetric commands: GenSymKey, EncryptSym/DecryptSym, HMAC, Auto state. */
#include "apdu.h"

#if TRUSTM_CFG_V3

#define BAD_PARAM CMD_ERR(TMA_C_BAD_PARAM)
#define MALFORMED CMD_ERR(TMA_C_MALFORMED)

/* Data per APDU: KeyOID(2) + 0y LL LL + part + 41 00 10 IV <= 640. */
#define SYM_PART 608u

tma_status trustm_gen_sym_key(struct trustm *t, uint8_t protect, uint8_t alg, uint16_t oid,
                              uint8_t usage, uint8_t *out, size_t cap, size_t *out_len)
{
    struct apdu a;
    tma_status st;
    int exp = oid == TRUSTM_OID_EXPORT;

    if (alg < TRUSTM_ALG_AES128 || alg > TRUSTM_ALG_AES256 ||
        (exp && (out == NULL || out_len == NULL))) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_GEN_SYMKEY << 8 | alg);
    apdu_keydest(&a, oid, usage);
    st = apdu_exec(&a, out, exp ? cap : 0u); /* into the slot: no answer */
    if (st == TMA_OK && exp) {
        st = apdu_untag(&a, out, 0x01, 16u + 8u * (unsigned)(alg - TRUSTM_ALG_AES128));
        *out_len = a.total;
    }
    return st;
}

static size_t mac_len(uint8_t mode)
{
    /* HMAC_SHA256/384/512 = 0x20, 0x21, 0x22: 32, 48, 64 bytes */
    return (unsigned)mode - TRUSTM_SYM_HMAC_SHA256 < 3u ? 16u * (mode - 0x1Eu) : 0u;
}

/* cmd_mode: command code << 8 | mode, so sym() takes the public functions'
 * arguments in the same places and they reach it with a plain branch. */
static tma_status sym(struct trustm *t, uint8_t protect, unsigned cmd_mode, uint16_t key_oid,
                      const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    uint8_t cmd = (uint8_t)(cmd_mode >> 8);
    uint8_t mode = (uint8_t)cmd_mode;
    size_t done = 0;
    size_t got = 0;
    tma_status st = TMA_OK;
    int block = mode >= TRUSTM_SYM_ECB && mode <= TRUSTM_SYM_CBC_MAC;

    if (in == NULL || len - 1u > 0xFFFEu || out == NULL || out_len == NULL ||
        (block ? len % 16 != 0 : mode != TRUSTM_SYM_CMAC && mac_len(mode) == 0) ||
        (cmd == CMD_DECRYPT_SYM && (unsigned)mode - TRUSTM_SYM_ECB > 1u) ||
        ((iv != NULL) != (mode == TRUSTM_SYM_CBC))) {
        return BAD_PARAM;
    }
    while (done < len) {
        struct apdu a;
        size_t n = len - done;
        uint8_t seq;
        if (n > SYM_PART) {
            n = SYM_PART;
        }
        /* 0 start, 1 start&final, 2 continue, 3 final */
        seq = (uint8_t)((done != 0) << 1 | (done + n == len));
        apdu_begin(&a, t, protect, cmd_mode);
        apdu_be(&a, key_oid, 2);
        apdu_tlv(&a, seq, in + done, n);
        if (done == 0 && iv != NULL) {
            apdu_tlv(&a, 0x41, iv, 16);
        }
        st = apdu_exec(&a, out + got, cap - got);
        if (st == TMA_OK && a.total != 0) {
            st = apdu_untag(&a, out + got, 0x61, 0);
            got += a.total;
            a.total = 0;
        }
        if (st != TMA_OK) {
            /* the parts so far and what the failed answer left */
            trustm_wipe(out, got + a.total);
            got = 0;
            break;
        }
        done += n;
    }
    *out_len = got;
    return st;
}

tma_status trustm_sym_encrypt(struct trustm *t, uint8_t protect, uint8_t mode, uint16_t key_oid,
                              const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *out_len)
{
    return sym(t, protect, (CMD_ENCRYPT_SYM << 8) | mode, key_oid, iv, in, len, out, cap, out_len);
}

tma_status trustm_sym_decrypt(struct trustm *t, uint8_t protect, uint8_t mode, uint16_t key_oid,
                              const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *out_len)
{
    return sym(t, protect, (CMD_DECRYPT_SYM << 8) | mode, key_oid, iv, in, len, out, cap, out_len);
}

tma_status trustm_hmac(struct trustm *t, uint8_t protect, uint8_t mode, uint16_t key_oid,
                       const uint8_t *in, size_t len, uint8_t *mac, size_t cap, size_t *out_len)
{
    if (mac_len(mode) == 0) {
        return BAD_PARAM;
    }
    return sym(t, protect, (CMD_ENCRYPT_SYM << 8) | mode, key_oid, NULL, in, len, mac, cap,
               out_len);
}

tma_status trustm_hmac_verify(struct trustm *t, uint8_t protect, uint8_t mode,
                              uint16_t autoref_oid, uint16_t session, const uint8_t *m,
                              size_t m_len, const uint8_t *mac, size_t mac_len_)
{
    struct apdu a;
    size_t ml = mac_len(mode);

    if (ml == 0 || mac == NULL || mac_len_ != ml || (m == NULL && m_len != 0) ||
        m_len > 630 - ml) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_DECRYPT_SYM << 8 | mode);
    apdu_be(&a, autoref_oid, 2);
    apdu_tl(&a, 0x01, 2 + m_len);
    apdu_be(&a, session, 2);
    apdu_put(&a, m, m_len);
    apdu_tlv(&a, 0x43, mac, ml);
    return apdu_exec(&a, NULL, 0);
}

tma_status trustm_clear_auto_state(struct trustm *t, uint8_t protect, uint8_t mode,
                                   uint16_t autoref_oid)
{
    struct apdu a;
    tma_status st;

    if (mac_len(mode) == 0) {
        return BAD_PARAM;
    }
    apdu_begin(&a, t, protect, CMD_DECRYPT_SYM << 8 | mode);
    apdu_be(&a, autoref_oid, 2);
    apdu_tl(&a, 0x01, 0);
    apdu_tl(&a, 0x43, 0);
    st = apdu_exec(&a, NULL, 0);
    /* The chip refuses the empty verification by design; that refusal is
     * the way the Auto state is cleared. */
    if (TMA_IS_CHIP_ERROR(st) || st == CMD_ERR(TRUSTM_CMD_E_NOCODE)) {
        st = TMA_OK;
    }
    return st;
}

#endif
