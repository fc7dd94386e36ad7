/**
 * @file cmd.h
 * @brief libtrustm command layer: every command of the OPTIGA Trust M.
 *
 * Each function builds one or more command APDUs (spec section 5), sends them
 * through trustm_transceive() (include/trustm/transceive.h) and decodes the
 * response. All calls are synchronous and allocation-free; the caller owns
 * every buffer. Output buffers are written only up to their stated capacity.
 *
 * @par Protection
 * Every function takes @p protect, an enum trustm_protect value passed to the
 * stack unchanged (none / command / response / both protected over the
 * shielded connection, optionally | TRUSTM_PROTECT_REHANDSHAKE). The chip
 * demands protection in some cases (objects with Conf(0xE140)/Int(0xE140)
 * access conditions; EncryptSym commands, DecryptSym responses, DeriveKey and
 * EncryptAsym from a session secret, DecryptAsym exporting plaintext, when a
 * shielded connection is in use); the caller chooses, the library does not
 * override.
 *
 * @par Statuses common to every command (called "COMMON" below)
 * - TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM): NULL context/pointer where data
 *   is required, a length outside the range documented for the parameter, or
 *   an APDU whose InData would exceed TRUSTM_APDU_MAX_IN (1553 bytes).
 * - TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL): the output buffer cannot hold
 *   the response (the response is drained; nothing valid is in the buffer).
 * - TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED): the chip answered success but
 *   its OutData does not have the documented layout.
 * - TMA_CHIP_ERROR(code): the chip answered Sta 0xFF; code is the byte read
 *   from the Last Error Code object 0xF1C2 (spec 6.2), e.g. 0x07 access
 *   conditions not satisfied, 0x08 boundary exceeded.
 * - TMA_ERR(TMA_LAYER_CMD, TRUSTM_CMD_E_NOCODE): the chip answered Sta 0xFF
 *   but 0xF1C2 read back as 0x00 or could not be read with Sta 0x00.
 * - any error of trustm_transceive() (bus, link, network, shield layers; see
 *   trustm/trustm.h), returned unchanged.
 * - TMA_ERR(TMA_LAYER_CMD, TMA_C_INTERNAL): an APDU did not fit the builder's
 *   segments (an internal invariant; no command built by this library can
 *   cause it, the unit tests check the segment counts).
 *
 * @par Timeouts
 * This layer never waits on its own: each APDU is bounded by the stack's
 * response timeout (trustm/trustm.h; the chip needs at most ~130 ms for any
 * non-RSA command plus up to 5 s of security-monitor throttling, and RSA key
 * generation may take tens of seconds). A function that sends several APDUs
 * (chained reads/writes, streamed hash, long symmetric data) is bounded by
 * that number of APDUs times the per-APDU bound; the count is documented per
 * function. Typical chip times quoted below are from the datasheet (spec 10).
 *
 * @par Object identifiers
 * OIDs are uint16_t (0xE0E0, 0xF1D0, ...). Session contexts are
 * TRUSTM_OID_SESSION_1..4 (0xE100..0xE103).
 */
#ifndef TRUSTM_CMD_H
#define TRUSTM_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"
#include "trustm/config.h"
#include "trustm/transceive.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest InData / OutData of one APDU (0xE0C6 = 1557 minus the header). */
#define TRUSTM_APDU_MAX_IN 1553u
/** Largest data chunk of one SetDataObject APDU (1553 - OID - offset). */
#define TRUSTM_WRITE_CHUNK 1549u
/** Largest data chunk read by one GetDataObject APDU. */
#define TRUSTM_READ_CHUNK 1553u

/** Command-layer specific status codes (layer TMA_LAYER_CMD, from 0x40). */
#define TRUSTM_CMD_E_NOCODE 0x40 /**< chip failed without an error code */

/** Special OIDs. */
#define TRUSTM_OID_LAST_ERROR 0xF1C2u
#define TRUSTM_OID_UID 0xE0C2u
#define TRUSTM_OID_SESSION_1 0xE100u
#define TRUSTM_OID_SESSION_2 0xE101u
#define TRUSTM_OID_SESSION_3 0xE102u
#define TRUSTM_OID_SESSION_4 0xE103u
/** Pass as target OID to export a generated key / derived secret instead. */
#define TRUSTM_OID_EXPORT 0x0000u

/** Algorithm identifiers (spec 9.1). */
enum trustm_alg {
    TRUSTM_ALG_P256 = 0x03,
    TRUSTM_ALG_P384 = 0x04,
    TRUSTM_ALG_P521 = 0x05,
    TRUSTM_ALG_BP256 = 0x13,
    TRUSTM_ALG_BP384 = 0x15,
    TRUSTM_ALG_BP512 = 0x16,
    TRUSTM_ALG_RSA1024 = 0x41,
    TRUSTM_ALG_RSA2048 = 0x42,
    TRUSTM_ALG_AES128 = 0x81,
    TRUSTM_ALG_AES192 = 0x82,
    TRUSTM_ALG_AES256 = 0x83
};

/** Key usage bits (spec 9.2). */
enum trustm_key_usage {
    TRUSTM_KU_AUTH = 0x01,
    TRUSTM_KU_ENC = 0x02,
    TRUSTM_KU_SIGN = 0x10,
    TRUSTM_KU_AGREE = 0x20
};

/** Signature schemes (CalcSign / VerifySign Param). */
enum trustm_sig_scheme {
    TRUSTM_SIG_RSA_SHA256 = 0x01, /**< RSASSA-PKCS1-v1_5, digest supplied */
    TRUSTM_SIG_RSA_SHA384 = 0x02,
    TRUSTM_SIG_RSA_SHA512 = 0x03,
    TRUSTM_SIG_ECDSA = 0x11       /**< ECDSA on a supplied digest */
};

/** GetRandom Param. */
enum trustm_rng {
    TRUSTM_RNG_TRNG = 0x00,
    TRUSTM_RNG_DRNG = 0x01,
    TRUSTM_RNG_PREMASTER = 0x04 /**< pre-master secret, kept in the session */
};

/** DeriveKey Param. */
enum trustm_kdf {
    TRUSTM_KDF_PRF_SHA256 = 0x01,
    TRUSTM_KDF_PRF_SHA384 = 0x02,
    TRUSTM_KDF_PRF_SHA512 = 0x03,
    TRUSTM_KDF_HKDF_SHA256 = 0x08,
    TRUSTM_KDF_HKDF_SHA384 = 0x09,
    TRUSTM_KDF_HKDF_SHA512 = 0x0A
};

/** EncryptSym / DecryptSym modes (V3). */
enum trustm_sym_mode {
    TRUSTM_SYM_ECB = 0x08,
    TRUSTM_SYM_CBC = 0x09,
    TRUSTM_SYM_CBC_MAC = 0x0A,
    TRUSTM_SYM_CMAC = 0x0B,
    TRUSTM_SYM_HMAC_SHA256 = 0x20,
    TRUSTM_SYM_HMAC_SHA384 = 0x21,
    TRUSTM_SYM_HMAC_SHA512 = 0x22
};

/** SetDataObject write modes. */
enum trustm_write_mode {
    TRUSTM_WRITE = 0x00,      /**< write at offset */
    TRUSTM_WRITE_ERASE = 0x40 /**< clear the object, then write at offset */
};

/** Life-cycle states (spec 8.4). */
enum trustm_lcs {
    TRUSTM_LCS_CREATION = 0x01,
    TRUSTM_LCS_INIT = 0x03,
    TRUSTM_LCS_OPERATIONAL = 0x07,
    TRUSTM_LCS_TERMINATED = 0x0F
};

/* ------------------------------------------------------------------------ */
/* Application                                                               */
/* ------------------------------------------------------------------------ */

/**
 * @brief OpenApplication: start a fresh application context, or restore the
 * one saved by trustm_close_app() with a hibernate handle.
 * @param t       context
 * @param protect enum trustm_protect
 * @param handle  NULL for a fresh context, or the 8-byte handle returned by
 *                trustm_close_app() to restore
 * @return TMA_OK, or COMMON (TMA_CHIP_ERROR(0x05) for a bad handle). 1 APDU.
 */
tma_status trustm_open_app(struct trustm *t, uint8_t protect, const uint8_t *handle);

/**
 * @brief CloseApplication, optionally saving the context (hibernate).
 * @param out_handle NULL: close without saving; else 8 bytes receive the
 *                   hibernate handle (only allowed while SEC is 0, else
 *                   TMA_CHIP_ERROR(0x0B); after power-up the chip has no
 *                   credit, so the first signature, key derivation or
 *                   shielded handshake raises SEC until t_max, 5 s, passes
 *                   without one).
 * @return TMA_OK, or COMMON. 1 APDU.
 */
tma_status trustm_close_app(struct trustm *t, uint8_t protect, uint8_t *out_handle);

/* ------------------------------------------------------------------------ */
/* Data objects and metadata                                                 */
/* ------------------------------------------------------------------------ */

/**
 * @brief Read a data object from @p offset: up to @p cap bytes or to its end.
 *
 * Loops over GetDataObject chunks of at most 1553 bytes with increasing
 * offsets, until a chunk comes back shorter than asked, @p cap is reached,
 * or a later chunk fails with TMA_CHIP_ERROR(0x08) (end of data).
 * @param buf     receives the data (may be NULL when cap is 0)
 * @param cap     bytes wanted at most (1728-byte certificate: 2 APDUs)
 * @param out_len bytes read
 * @return TMA_OK (also when fewer than cap bytes exist), or COMMON:
 *         TMA_CHIP_ERROR(0x07) unreadable object (e.g. private keys),
 *         TMA_CHIP_ERROR(0x08) offset beyond the used size on the first chunk,
 *         TMA_CHIP_ERROR(0x01) unknown OID. At most ceil(cap/1553)+1 APDUs,
 *         typ. 30 ms per 256 bytes.
 */
tma_status trustm_read_data(struct trustm *t, uint8_t protect, uint16_t oid, uint16_t offset,
                            uint8_t *buf, size_t cap, size_t *out_len);

/**
 * @brief Write @p len bytes at @p offset (SetDataObject), chunked at 1549
 * bytes per APDU; with TRUSTM_WRITE_ERASE the first chunk erases the object
 * (later chunks use plain write). An empty write with TRUSTM_WRITE_ERASE
 * empties the object (used size 0) - see trustm_erase_data().
 * @param mode enum trustm_write_mode
 * @param data bytes to write (NULL only when len is 0); sent without copying
 * @param len  0..65535 - offset
 * @return TMA_OK, or COMMON: TMA_CHIP_ERROR(0x08) beyond the object's max
 *         size, TMA_CHIP_ERROR(0x07) change AC not met. ceil(len/1549)
 *         APDUs (at least 1), typ. 55 ms per 256 bytes. A failure after the
 *         first chunk leaves the earlier chunks written.
 */
tma_status trustm_write_data(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t mode,
                             uint16_t offset, const uint8_t *data, size_t len);

/**
 * @brief Erase a data object: SetDataObject erase&write with no data, which
 * leaves used size 0. @return as trustm_write_data(). 1 APDU.
 */
tma_status trustm_erase_data(struct trustm *t, uint8_t protect, uint16_t oid);

/**
 * @brief Read an object's metadata (`20 LL ...`, at most 44 bytes on the
 * chip). Decode with trustm/metadata.h.
 * @return TMA_OK, or COMMON. 1 APDU.
 */
tma_status trustm_read_metadata(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t *buf,
                                size_t cap, size_t *out_len);

/**
 * @brief Write metadata (`20 LL` + the tags to change; build it with
 * trustm/metadata.h). @p md must start with 0x20 and its length must match.
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM) for a malformed container, or
 *         COMMON (TMA_CHIP_ERROR(0x07) when a tag may no longer change).
 *         1 APDU.
 */
tma_status trustm_write_metadata(struct trustm *t, uint8_t protect, uint16_t oid,
                                 const uint8_t *md, size_t len);

/**
 * @brief Move an object's life-cycle state forward (metadata `20 03 C0 01
 * lcs`); TRUSTM_LCS_OPERATIONAL "locks" it. States only increase.
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM) for lcs not 0x01/0x03/0x07/0x0F,
 *         or COMMON. 1 APDU.
 */
tma_status trustm_set_lcso(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t lcs);

/**
 * @brief Advance a monotonic counter (E120..E123) by @p step (1..255).
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM) for step 0, or COMMON:
 *         TMA_CHIP_ERROR(0x0E) threshold reached. 1 APDU.
 */
tma_status trustm_counter_add(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t step);

/**
 * @brief Read a monotonic counter: value and threshold (8-byte object).
 * @return TMA_OK, TMA_ERR(CMD, MALFORMED) when the object is not 8 bytes,
 *         or COMMON. 1 APDU.
 */
tma_status trustm_counter_read(struct trustm *t, uint8_t protect, uint16_t oid,
                               uint32_t *out_value, uint32_t *out_threshold);

/** SetObjectProtected TLV tags. */
#define TRUSTM_UPD_MANIFEST 0x30
#define TRUSTM_UPD_FINAL 0x31
#define TRUSTM_UPD_CONTINUE 0x32
/** Fragment size of a protected update. */
#define TRUSTM_UPD_FRAGMENT 640u

/**
 * @brief One SetObjectProtected APDU (pass-through, manifest format 1).
 * @param tag  TRUSTM_UPD_MANIFEST, TRUSTM_UPD_CONTINUE or TRUSTM_UPD_FINAL
 * @param data manifest (<= 1550 bytes) or fragment (continue: exactly 640,
 *             final: 1..640)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM) for a bad tag or length, COMMON
 *         (TMA_CHIP_ERROR(0x0F) invalid manifest, 0x10 version, 0x2C
 *         signature, 0x2D integrity). 1 APDU.
 */
tma_status trustm_set_object_protected(struct trustm *t, uint8_t protect, uint8_t tag,
                                       const uint8_t *data, size_t len);

/**
 * @brief A whole protected update: the manifest, then @p payload cut into
 * 640-byte fragments (the last 1..640 bytes) sent as continue/final.
 * @param payload the concatenated fragments (each already carrying the
 *                digest of the next, as the update-data-set tool makes them)
 * @return as trustm_set_object_protected(); 1 + ceil(len/640) APDUs. Stops
 *         at the first failure.
 */
tma_status trustm_protected_update(struct trustm *t, uint8_t protect, const uint8_t *manifest,
                                   size_t manifest_len, const uint8_t *payload,
                                   size_t payload_len);

/* ------------------------------------------------------------------------ */
/* Random                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * @brief GetRandom: @p len (8..256) random bytes into @p out.
 * @param rng TRUSTM_RNG_TRNG or TRUSTM_RNG_DRNG
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM) for len or rng out of range,
 *         TMA_ERR(CMD, MALFORMED) if the chip returned another length, or
 *         COMMON. 1 APDU.
 */
tma_status trustm_get_random(struct trustm *t, uint8_t protect, uint8_t rng, uint8_t *out,
                             size_t len);

/**
 * @brief GetRandom into a session context: the pre-master secret of an RSA
 * key exchange (TRUSTM_RNG_PREMASTER), or (V3) the random of an
 * authorization code (TRNG/DRNG), stored after @p prefix.
 * @param session TRUSTM_OID_SESSION_1..4
 * @param prefix  optional prefix (NULL if prefix_len is 0); prefix_len + len
 *                <= 66
 * @param len     random bytes, 8..256 (8..66 - prefix_len when stored)
 * @param out     receives the random for TRNG/DRNG (len bytes; may be NULL
 *                for PREMASTER, which returns nothing)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, MALFORMED), or
 *         COMMON. 1 APDU.
 */
tma_status trustm_random_to_session(struct trustm *t, uint8_t protect, uint8_t rng,
                                    uint16_t session, const uint8_t *prefix, size_t prefix_len,
                                    size_t len, uint8_t *out);

/* ------------------------------------------------------------------------ */
/* Hash (SHA-256 only on this chip)                                          */
/* ------------------------------------------------------------------------ */

/** Size of the chip's exported SHA-256 intermediate context. */
#define TRUSTM_HASH_CTX_LEN 209u
#define TRUSTM_SHA256_LEN 32u

/**
 * @brief A streamed hash whose intermediate context lives on the host, so
 * any number of hashes may be interleaved with other commands.
 * Caller-owned; initialise with trustm_hash_start(). 217 bytes.
 */
struct trustm_hash {
    /** internal: `06 00 D1 <context> 07 00 00`, the chip's exported context
     * as it goes back to the chip, followed by the export request */
    uint8_t tlv[3 + TRUSTM_HASH_CTX_LEN + 3];
    uint8_t ctx_len; /**< 0 until the first chunk went to the chip */
    uint8_t state;   /**< internal */
};

/**
 * @brief One-shot SHA-256 of @p len bytes (any length; more than ~1.5 kB is
 * streamed in ceil(len/1536) APDUs through the chip's own context; an empty
 * message takes 2, since the chip refuses an empty start&final).
 * @param out 32 bytes
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, MALFORMED), or
 *         COMMON. Typ. 15 kB/s.
 */
tma_status trustm_sha256(struct trustm *t, uint8_t protect, const uint8_t *data, size_t len,
                         uint8_t *out);

/**
 * @brief SHA-256 of bytes [offset, offset+len) of a readable data object,
 * hashed inside the chip (the data never crosses the bus).
 * @return TMA_OK or COMMON (TMA_CHIP_ERROR(0x07) for unreadable objects).
 *         1 APDU.
 */
tma_status trustm_sha256_oid(struct trustm *t, uint8_t protect, uint16_t oid, uint16_t offset,
                             uint16_t len, uint8_t *out);

/** @brief Start a streamed hash (no chip I/O). @return TMA_OK or BAD_PARAM. */
tma_status trustm_hash_start(struct trustm_hash *h);

/**
 * @brief Feed @p len bytes. Each call exports the chip's intermediate
 * context back into @p h (209 bytes each way on the bus).
 * @return TMA_OK, TMA_ERR(CMD, STATE) after finish or after a failed update
 *         (a failed update wipes @p h), TMA_ERR(CMD, MALFORMED) when the
 *         returned context is not 209 bytes, or COMMON; ceil(len/1280) APDUs.
 */
tma_status trustm_hash_update(struct trustm *t, uint8_t protect, struct trustm_hash *h,
                              const uint8_t *data, size_t len);

/**
 * @brief Finish: 32-byte digest into @p out; @p h is wiped and must be
 * started again for reuse.
 * @return TMA_OK, TMA_ERR(CMD, STATE), TMA_ERR(CMD, MALFORMED), or COMMON.
 *         1 APDU (2 when nothing was fed).
 */
tma_status trustm_hash_finish(struct trustm *t, uint8_t protect, struct trustm_hash *h,
                              uint8_t *out);

/* ------------------------------------------------------------------------ */
/* Asymmetric keys, signatures, key agreement                                */
/* ------------------------------------------------------------------------ */

/**
 * @brief Generated key: views into the caller's buffer.
 * pub = content of the public-key BIT STRING without the unused-bits byte:
 * `04 X Y` for ECC, a DER RSAPublicKey SEQUENCE for RSA. priv = the private
 * key (OCTET STRING content) when exported, else empty.
 */
struct trustm_keypair {
    struct tma_span pub;
    struct tma_span priv;
};

/**
 * @brief GenKeyPair: generate an ECC (or, with TRUSTM_CFG_RSA, RSA) key.
 * @param alg   enum trustm_alg (ECC curves, RSA1024/2048)
 * @param oid   key slot (E0F0..E0F3, E0FC/E0FD) or session (E100..E103) to
 *              store the private key in, or TRUSTM_OID_EXPORT to export it
 * @param usage enum trustm_key_usage bits (ignored when exporting)
 * @param buf   receives the response and holds the spans of @p out_key
 *              (P-256: 70 bytes, RSA-2048 with export: 560)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, UNSUPPORTED) for RSA
 *         when compiled out, TMA_ERR(CMD, MALFORMED), or COMMON. 1 APDU;
 *         typ. 55 ms (P-256), RSA-2048 ~3 s and up to tens of seconds.
 */
tma_status trustm_gen_keypair(struct trustm *t, uint8_t protect, uint8_t alg, uint16_t oid,
                              uint8_t usage, uint8_t *buf, size_t cap,
                              struct trustm_keypair *out_key);

/**
 * @brief CalcSign. ECDSA: the signature comes back as a standard DER
 * `SEQUENCE { INTEGER r, INTEGER s }` with minimal integers (the chip's
 * non-minimal padding is stripped). RSA (PKCS#1 v1.5): raw key-size bytes.
 * @param scheme  enum trustm_sig_scheme
 * @param key_oid E0F0..E0F3, E0FC/E0FD or a session context
 * @param digest  ECDSA: 10..64 bytes; RSA: exactly the hash length
 * @param sig     output (ECDSA P-256: 72 bytes suffice, P-521: 139; RSA: 256)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, UNSUPPORTED) (RSA
 *         compiled out), TMA_ERR(CMD, MALFORMED), or COMMON:
 *         TMA_CHIP_ERROR(0x24) key usage forbids signing. 1 APDU, typ.
 *         65 ms (P-256), 310 ms (RSA-2048).
 */
tma_status trustm_sign(struct trustm *t, uint8_t protect, uint8_t scheme, uint16_t key_oid,
                       const uint8_t *digest, size_t digest_len, uint8_t *sig, size_t cap,
                       size_t *out_len);

/**
 * @brief ECDSA sign returning raw r||s, each left-padded to @p comp_len
 * (32 P-256/bp256, 48 P-384/bp384, 64 bp512, 66 P-521).
 * @param out_rs 2*comp_len bytes
 * @return as trustm_sign(); TMA_ERR(CMD, MALFORMED) if a component is longer
 *         than comp_len.
 */
tma_status trustm_ecdsa_sign_rs(struct trustm *t, uint8_t protect, uint16_t key_oid,
                                const uint8_t *digest, size_t digest_len, size_t comp_len,
                                uint8_t *out_rs);

/**
 * @brief A public key for VerifySign / CalcSSec / EncryptAsym: either a
 * certificate object on the chip (cert_oid != 0), or a host key.
 */
struct trustm_pubkey {
    uint16_t cert_oid;  /**< OID of a single DER certificate, or 0 */
    uint8_t alg;        /**< enum trustm_alg of key (host key only) */
    const uint8_t *key; /**< `04 X Y` (ECC) or RSAPublicKey DER (RSA) */
    size_t key_len;     /**< <= 600 */
};

/**
 * @brief VerifySign.
 * @param sig ECDSA: DER `SEQUENCE{r,s}` (as trustm_sign() returns); RSA: raw
 * @return TMA_OK when the signature is valid; TMA_CHIP_ERROR(0x2C) when it is
 *         not; TMA_ERR(CMD, BAD_PARAM) for a malformed DER signature or key;
 *         TMA_ERR(CMD, UNSUPPORTED) (RSA compiled out); COMMON. 1 APDU, typ.
 *         85 ms (P-256), 40 ms (RSA-2048).
 */
tma_status trustm_verify(struct trustm *t, uint8_t protect, uint8_t scheme, const uint8_t *digest,
                         size_t digest_len, const uint8_t *sig, size_t sig_len,
                         const struct trustm_pubkey *key);

/**
 * @brief CalcSSec (ECDH): shared secret of the private key @p priv_oid and the
 * peer's public key.
 * @param peer    host key with alg = curve and key = `04 X Y` (cert_oid 0)
 * @param session TRUSTM_OID_EXPORT to return the x-coordinate in @p out, or a
 *                session context to keep it on the chip (out may be NULL)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), or COMMON. 1 APDU, typ. 60 ms.
 */
tma_status trustm_ecdh(struct trustm *t, uint8_t protect, uint16_t priv_oid,
                       const struct trustm_pubkey *peer, uint16_t session, uint8_t *out,
                       size_t cap, size_t *out_len);

/**
 * @brief DeriveKey: TLS 1.2 PRF (SHA-256/384/512) or HKDF.
 * @param kdf        enum trustm_kdf
 * @param secret_oid session context or PRESSEC data object
 * @param data       PRF: label||seed (8..1024); HKDF: salt (0..1024)
 * @param info       HKDF info (0..256; NULL/0 for none; must be 0 for PRF)
 * @param key_len    16..256 exported, 16..66 into a session
 * @param session    TRUSTM_OID_EXPORT or the session context to store into
 * @param out        key_len bytes when exporting (NULL otherwise)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, UNSUPPORTED) (HKDF
 *         or PRF-384/512 without TRUSTM_CFG_V3), TMA_ERR(CMD, MALFORMED), or
 *         COMMON. 1 APDU, typ. 50 ms (PRF), 130 ms (HKDF).
 */
tma_status trustm_derive_key(struct trustm *t, uint8_t protect, uint8_t kdf, uint16_t secret_oid,
                             const uint8_t *data, size_t data_len, const uint8_t *info,
                             size_t info_len, size_t key_len, uint16_t session, uint8_t *out);

#if TRUSTM_CFG_RSA
/**
 * @brief EncryptAsym, RSAES-PKCS1-v1_5.
 * @param msg      message (<= key size - 11), or NULL with @p session set to
 *                 encrypt the pre-master secret held in that session
 * @param key      certificate OID or host RSA key (alg RSA1024/2048)
 * @param out      ciphertext (128/256 bytes); @p cap must be 3 more (131/259)
 *                 because the response TLV header is removed in place
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, MALFORMED), or
 *         COMMON. 1 APDU, typ. 40 ms.
 */
tma_status trustm_rsa_encrypt(struct trustm *t, uint8_t protect, const uint8_t *msg,
                              size_t msg_len, uint16_t session, const struct trustm_pubkey *key,
                              uint8_t *out, size_t cap, size_t *out_len);

/**
 * @brief DecryptAsym, RSAES-PKCS1-v1_5, with key E0FC/E0FD.
 * @param session TRUSTM_OID_EXPORT to return the plaintext, or a session to
 *                keep it (<= 66 bytes) on the chip
 * @param out     plaintext; @p cap must be 3 more than the plaintext
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, MALFORMED), or
 *         COMMON (TMA_CHIP_ERROR(0x2E) decryption failure). 1 APDU, typ.
 *         315 ms.
 */
tma_status trustm_rsa_decrypt(struct trustm *t, uint8_t protect, uint16_t key_oid,
                              const uint8_t *ct, size_t ct_len, uint16_t session, uint8_t *out,
                              size_t cap, size_t *out_len);
#endif

#if TRUSTM_CFG_V3
/* ------------------------------------------------------------------------ */
/* V3 symmetric: AES key, AES modes, HMAC, authorization                     */
/* ------------------------------------------------------------------------ */

/**
 * @brief GenSymKey: AES key into @p oid (0xE200) or exported into @p out.
 * @param alg TRUSTM_ALG_AES128/192/256
 * @param oid 0xE200, or TRUSTM_OID_EXPORT
 * @param out key bytes when exporting (16/24/32; @p cap 3 more)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, MALFORMED), COMMON.
 *         1 APDU.
 */
tma_status trustm_gen_sym_key(struct trustm *t, uint8_t protect, uint8_t alg, uint16_t oid,
                              uint8_t usage, uint8_t *out, size_t cap, size_t *out_len);

/**
 * @brief EncryptSym: AES-ECB/CBC encryption, CBC-MAC, CMAC or HMAC of
 * @p in. Inputs longer than one APDU are sent as start/continue/final in
 * 608-byte parts; the outputs are concatenated.
 * @param mode    enum trustm_sym_mode
 * @param key_oid 0xE200 for AES; PRESSEC object or session for HMAC
 * @param iv      16-byte IV for CBC (NULL otherwise)
 * @param in      ECB/CBC/CBC-MAC: a multiple of 16 bytes (padding is the
 *                caller's); 1..65535 bytes
 * @param out     ciphertext (len bytes) or MAC (16 / 32 / 48 / 64 bytes);
 *                @p cap must be 3 more than the result (TLV header of each
 *                response is removed in place)
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM), TMA_ERR(CMD, MALFORMED), COMMON.
 *         ceil(len/608) APDUs, typ. 28 ms per 256 bytes.
 */
tma_status trustm_sym_encrypt(struct trustm *t, uint8_t protect, uint8_t mode, uint16_t key_oid,
                              const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *out_len);

/**
 * @brief DecryptSym for AES-ECB/CBC (key 0xE200). Parameters as
 * trustm_sym_encrypt(). When the shielded connection is in use the chip
 * wants the response protected (TRUSTM_PROTECT_RSP).
 */
tma_status trustm_sym_decrypt(struct trustm *t, uint8_t protect, uint8_t mode, uint16_t key_oid,
                              const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out,
                              size_t cap, size_t *out_len);

/**
 * @brief HMAC = trustm_sym_encrypt() with an HMAC mode and key_oid a
 * PRESSEC data object or session; @p mac receives 32/48/64 bytes (@p cap
 * 35/51/67).
 */
tma_status trustm_hmac(struct trustm *t, uint8_t protect, uint8_t mode, uint16_t key_oid,
                       const uint8_t *in, size_t len, uint8_t *mac, size_t cap, size_t *out_len);

/**
 * @brief HMAC verification against an AUTOREF object (authorization flow).
 * First call trustm_random_to_session() to store a random in @p session;
 * then the host computes mac = HMAC(secret, m) where m = optional data ||
 * that random || arbitrary data, and calls this. On success the chip sets
 * the Auto(@p autoref_oid) state.
 * @param mode  TRUSTM_SYM_HMAC_SHA256/384/512
 * @param m     the message (<= 630 - mac_len bytes)
 * @param mac   32/48/64 bytes (the hash length of @p mode)
 * @return TMA_OK, TMA_CHIP_ERROR(0x2F) authorization failure,
 *         TMA_ERR(CMD, BAD_PARAM), COMMON. 1 APDU, typ. 90 ms.
 */
tma_status trustm_hmac_verify(struct trustm *t, uint8_t protect, uint8_t mode,
                              uint16_t autoref_oid, uint16_t session, const uint8_t *m,
                              size_t m_len, const uint8_t *mac, size_t mac_len);

/**
 * @brief Clear the Auto(@p autoref_oid) state (an empty HMAC verification,
 * which the chip answers with an error by design; that error is the expected
 * outcome and is reported as TMA_OK; 0xF1C2 is read, which clears it).
 * @return TMA_OK, TMA_ERR(CMD, BAD_PARAM) for a non-HMAC mode, or a
 *         transceive error. 2 APDUs.
 */
tma_status trustm_clear_auto_state(struct trustm *t, uint8_t protect, uint8_t mode,
                                   uint16_t autoref_oid);
#endif

#ifdef __cplusplus
}
#endif

#endif /* TRUSTM_CMD_H */
