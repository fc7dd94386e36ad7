/* Private: APDU builder and response helpers shared by the cmd_*.c files.
 *
 * A command APDU is assembled as transceive segments: small fields are copied
 * into a header buffer kept in the builder (on the caller's stack), large
 * caller data is referenced without copying. */
#ifndef TRUSTM_APDU_H
#define TRUSTM_APDU_H

#include <stddef.h>
#include <stdint.h>

#include "stack.h" /* trustm_copy(), trustm_wipe() (ccm.c) */
#include "trustm/cmd.h"

/* Run-time-length copies and clears of the command layer go through the
 * stack's byte copy and zero fill, so no image links libc memcpy/memset
 * (fixed small sizes are expanded inline by the compiler). */
#define cmd_copy trustm_copy

/* Library-internal symbols carry the trustm_ prefix in the object files. */
#define apdu_be trustm_i_apdu_be
#define apdu_begin trustm_i_apdu_begin
#define apdu_exec trustm_i_apdu_exec
#define apdu_exec_n trustm_i_apdu_exec_n
#define apdu_keydest trustm_i_apdu_keydest
#define apdu_pubkey trustm_i_apdu_pubkey
#define apdu_put trustm_i_apdu_put
#define apdu_tl trustm_i_apdu_tl
#define apdu_tlv trustm_i_apdu_tlv
#define apdu_tlv16 trustm_i_apdu_tlv16
#define apdu_untag trustm_i_apdu_untag
#define der_len_size trustm_i_der_len_size
#define der_put_len trustm_i_der_put_len


/* Caller data up to this size is copied rather than given its own segment. */
#define APDU_COPY_MAX 66u

/* Bytes of copied fields one APDU may carry (header, tags, OIDs, digests).
 * The pieces apdu_be(), apdu_tl() and apdu_pubkey() build in their own
 * locals must all land here: a piece that does not fit becomes a segment
 * pointing at it, and those locals are gone when apdu_exec() sends. So the
 * buffer holds, for every command, the header, every tag, length and OID,
 * and the caller data of up to APDU_COPY_MAX bytes that comes before the
 * last such piece (caller data after it may go by reference). Worst cases,
 * each driven byte for byte by tests/unit/trustm_cmd_apdu.c (worst_case_*): */
/* verify: 01 digest (<= 64), 02 signature (copied up to 66), 05 00 01 alg,
 * 06 LL LL, BIT STRING header 03 82 LL LL 00 (the key goes by reference) */
#define APDU_WORST_VERIFY (4u + 3u + 64u + 3u + APDU_COPY_MAX + 4u + 3u + 5u)
/* ecdh: 01 OID, a key of up to 66 bytes (03 LL 00), then 08 OID */
#define APDU_WORST_ECDH (4u + 5u + 4u + 3u + 3u + APDU_COPY_MAX + 5u)
/* derive_key: 01 OID, 03 length, 08 OID, 04 info (copied up to 66), 02 TL */
#define APDU_WORST_DERIVE (4u + 5u + 5u + 5u + 3u + APDU_COPY_MAX + 3u)
/* rsa_encrypt: 61 message (copied up to 66), then the key as for verify */
#define APDU_WORST_RSA_ENC (4u + 3u + APDU_COPY_MAX + 4u + 3u + 5u)
/* sym / hmac: key OID, data (copied up to 66), 41 TL of the IV */
#define APDU_WORST_SYM (4u + 2u + 3u + APDU_COPY_MAX + 3u)
/* hmac_verify: OID, 01 TL, session, message (copied up to 66), 43 TL */
#define APDU_WORST_HMAC_VERIFY (4u + 2u + 3u + 2u + APDU_COPY_MAX + 3u)
/* sign: 01 digest (<= 64), 03 OID. The other commands copy at most 17
 * bytes up to their last such piece (rsa_decrypt: the header, 61 TL, then
 * 03 OID and 02 OID after the ciphertext); what follows it is caller data. */
#define APDU_WORST_SIGN (4u + 3u + 64u + 5u)
#define APDU_BUF 152u
typedef char apdu_buf_holds_every_command[
    (APDU_WORST_VERIFY <= APDU_BUF && APDU_WORST_ECDH <= APDU_BUF &&
     APDU_WORST_DERIVE <= APDU_BUF && APDU_WORST_RSA_ENC <= APDU_BUF &&
     APDU_WORST_SYM <= APDU_BUF && APDU_WORST_HMAC_VERIFY <= APDU_BUF &&
     APDU_WORST_SIGN <= APDU_BUF) ? 1 : -1];

/* Segments: the buffer, then one per piece of caller data longer than
 * APDU_COPY_MAX (or no longer fitting), and the buffer again after such a
 * piece when more copied fields follow. The most any command opens is TRUSTM_MAX_SEGMENTS (4):
 * verify (digest and tags | a signature body > 66 | the key's header | the
 * key), rsa_encrypt (tags | a message > 66 | the key's header | the key) and
 * derive_key (OIDs and tags | info > 66 | 02 TL | the data), each ending
 * with that fourth piece; the others open at most 3. apdu_put() relies on it
 * (the tests check the count for each of these). */

/* One command APDU under construction. The context and protection travel
 * in it, so apdu_exec() needs no more than the output buffer. */
struct apdu {
    struct trustm *t;
    size_t nseg;
    size_t used;   /* bytes of buf in use */
    size_t total;  /* APDU length so far; after apdu_exec() succeeded: OutLen */
    uint8_t protect;
    struct tma_span seg[TRUSTM_MAX_SEGMENTS];
    uint8_t buf[APDU_BUF];
};

/* Command codes (plain; bit 7 = clear last error first). */
#define CMD_GET_DATA 0x81u
#define CMD_SET_DATA 0x82u
#define CMD_SET_PROTECTED 0x83u
#define CMD_GET_RANDOM 0x8Cu
#define CMD_ENCRYPT_SYM 0x94u
#define CMD_DECRYPT_SYM 0x95u
#define CMD_ENCRYPT_ASYM 0x9Eu
#define CMD_DECRYPT_ASYM 0x9Fu
#define CMD_CALC_HASH 0xB0u
#define CMD_CALC_SIGN 0xB1u
#define CMD_VERIFY_SIGN 0xB2u
#define CMD_CALC_SSEC 0xB3u
#define CMD_DERIVE_KEY 0xB4u
#define CMD_GEN_KEYPAIR 0xB8u
#define CMD_GEN_SYMKEY 0xB9u
#define CMD_OPEN_APP 0xF0u
#define CMD_CLOSE_APP 0xF1u

#define CMD_ERR(code) TMA_ERR(TMA_LAYER_CMD, (code))

/* Start an APDU: cmd_param = command code << 8 | Param. */
void apdu_begin(struct apdu *a, struct trustm *t, uint8_t protect, unsigned cmd_param);
/* Append bytes: copied when small, else referenced (must outlive exec). */
void apdu_put(struct apdu *a, const uint8_t *p, size_t n);
/* Append the n (1..4) low bytes of v, big-endian. */
void apdu_be(struct apdu *a, uint32_t v, size_t n);
/* TLV header: tag, 2-byte length. */
void apdu_tl(struct apdu *a, uint8_t tag, size_t len);
/* Tag, length 2, 16-bit value (OIDs). */
void apdu_tlv16(struct apdu *a, uint8_t tag, unsigned v);
/* Tag, length, value. */
void apdu_tlv(struct apdu *a, uint8_t tag, const uint8_t *p, size_t n);
/* Where a generated key goes: 07 00 00 (export) or 01 00 02 OID 02 00 01 usage. */
void apdu_keydest(struct apdu *a, uint16_t oid, uint8_t usage);
/* Public key reference: 04 00 02 OID, or 05 00 01 alg 06 LL <BIT STRING>. */
void apdu_pubkey(struct apdu *a, const struct trustm_pubkey *k);

/* Send; on Sta 0xFF read 0xF1C2 and return TMA_CHIP_ERROR(code). OutData
 * goes to out (cap bytes; out NULL only with cap 0). On success a->total =
 * OutLen, on failure 0. */
tma_status apdu_exec(struct apdu *a, uint8_t *out, size_t cap);
/* apdu_exec() for an answer of exactly n bytes (else MALFORMED). */
tma_status apdu_exec_n(struct apdu *a, uint8_t *out, size_t n);

/* The answer in buf[0..a->total) must be exactly one TLV `tag LL LL value`
 * with want value bytes (want 0: any): the value moves to buf[0] and
 * a->total becomes its length. Else TMA_ERR(CMD, MALFORMED), with
 * buf[0..a->total) wiped (it may hold key material) and a->total 0. */
tma_status apdu_untag(struct apdu *a, uint8_t *buf, uint8_t tag, size_t want);

/* Length in bytes of a DER length field for n. */
size_t der_len_size(size_t n);
/* Write a DER length field; returns its size. */
size_t der_put_len(uint8_t *p, size_t n);


#endif
