/* Fuzz: shielded record decode (SCTR, sequence window, streaming AES-CCM-8
 * decryption into a caller buffer, tag check). Input: byte 0 = options,
 * then the record split into chunks by a 1-byte length prefix. Half of the
 * runs turn the input into a valid record first (encrypted with the same
 * keys), so the MAC-accepting path is reached and then mutated. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[16] = {0x43, 0x77, 0x8E, 0xA3, 0x14, 0x7F, 0x90, 0xDB,
                                0x64, 0xBF, 0x4A, 0xAD, 0x07, 0xE7, 0xE7, 0x96};
static const uint8_t npre[4] = {0x8C, 0xC5, 0x01, 0x0B};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[TRUSTM_APDU_MAX];
    static uint8_t msg[1 + 4 + TRUSTM_APDU_MAX + 8];
    struct trustm_rec_rx r;
    struct trustm_rsp rsp;
    const struct trustm_crypto_ops *ops = trustm_crypto_mbedtls();
    tma_status st = TMA_OK;
    size_t n;
    if (size < 2) {
        return 0;
    }
    uint8_t opt = data[0];
    size_t cap = (opt & 2u) ? TRUSTM_APDU_MAX : 8u;
    data++;
    size--;
    if (opt & 1u) {
        /* Build a valid record from the input as APDU payload. */
        size_t plen = size > 300 ? 300 : size;
        uint8_t ad[8], nonce[8];
        struct trustm_msg_tx m;
        struct tma_span sp;
        uint8_t apdu[304];
        apdu[0] = 0;
        apdu[1] = 0;
        apdu[2] = (uint8_t)(plen >> 8);
        apdu[3] = (uint8_t)plen;
        memcpy(apdu + 4, data, plen);
        sp.ptr = apdu;
        sp.len = plen + 4;
        msg[0] = 0x23;
        msg[1] = 0;
        msg[2] = 0;
        msg[3] = 0x12;
        msg[4] = (uint8_t)(0x35 + (opt >> 6)); /* in or out of the window */
        trustm_msg_tx_init(&m, &sp, 1, plen + 4);
        trustm_msg_tx_pre(&m, msg, 5);
        trustm_msg_tx_protect(&m, ops, key, npre);
        (void)ad;
        (void)nonce;
        if (trustm_msg_tx_read(&m, msg, m.total) != TMA_OK) {
            return 0;
        }
        n = m.total;
        if (opt & 4u) {
            msg[(size_t)data[0] % n] ^= (uint8_t)(1u << (opt >> 5 & 7u)); /* one bit flip */
        }
    } else {
        n = size > sizeof msg ? sizeof msg : size;
        memcpy(msg, data, n);
    }
    trustm_rec_rx_init(&r, TRUSTM_REC_PROT, 0x23, out, cap);
    uint32_t sseq = 0x1234;
    trustm_rec_rx_keys(&r, ops, key, npre, &sseq);
    size_t off = 0;
    size_t chunk = (size_t)(opt >> 3) + 1u;
    while (off < n && st == TMA_OK) {
        size_t k = n - off < chunk ? n - off : chunk;
        st = trustm_rec_rx_feed(&r, msg + off, k);
        off += k;
    }
    if (st == TMA_OK) {
        st = trustm_rec_rx_finish(&r, &rsp);
        if ((opt & 5u) == 1u && (opt >> 6) < 3u && st != TMA_OK && !(cap == 8u && st == TRUSTM_ST(CMD, TOO_SMALL))) {
            __builtin_trap(); /* an untouched valid record must be accepted */
        }
        if ((opt & 5u) == 5u && st == TMA_OK && (opt >> 6) < 3u) {
            /* a flipped bit must never be accepted */
            __builtin_trap();
        }
    }
    return 0;
}
