/**
 * @file metadata.h
 * @brief Object metadata (spec section 8): builder, parser, access-condition
 * codec, and renderers into words for tools. Pure functions: no I/O, no
 * allocation; parsers never read past the given length.
 *
 * Statuses used throughout: TMA_OK;
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM) NULL pointer or invalid value to
 * encode; TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED) input that does not parse;
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL) output does not fit (the metadata
 * container itself is limited to TRUSTM_MD_MAX bytes);
 * TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND) end of iteration.
 */
#ifndef TRUSTM_METADATA_H
#define TRUSTM_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest metadata container the chip stores (`20 LL ...`). */
#define TRUSTM_MD_MAX 44u

/** Metadata tags. */
enum trustm_md_tag {
    TRUSTM_MD_LCSO = 0xC0,
    TRUSTM_MD_VERSION = 0xC1,
    TRUSTM_MD_MAX_SIZE = 0xC4,
    TRUSTM_MD_USED_SIZE = 0xC5,
    TRUSTM_MD_CHANGE = 0xD0,
    TRUSTM_MD_READ = 0xD1,
    TRUSTM_MD_EXECUTE = 0xD3,
    TRUSTM_MD_MUPD = 0xD8,
    TRUSTM_MD_ALGORITHM = 0xE0,
    TRUSTM_MD_KEY_USAGE = 0xE1,
    TRUSTM_MD_TYPE = 0xE8,
    TRUSTM_MD_RESET_TYPE = 0xF0
};

/** Access-condition identifiers and operators (spec 8.3). */
enum trustm_ac_id {
    TRUSTM_AC_ALW = 0x00,
    TRUSTM_AC_SECSTAG = 0x10, /**< arg = mask */
    TRUSTM_AC_CONF = 0x20,    /**< arg = OID */
    TRUSTM_AC_INT = 0x21,     /**< arg = OID */
    TRUSTM_AC_AUTO = 0x23,    /**< arg = OID */
    TRUSTM_AC_LUC = 0x40,     /**< arg = counter OID */
    TRUSTM_AC_LCSG = 0x70,    /**< op + arg = state */
    TRUSTM_AC_SECSTAA = 0x90, /**< arg = mask */
    TRUSTM_AC_LCSA = 0xE0,    /**< op + arg = state */
    TRUSTM_AC_LCSO = 0xE1,    /**< op + arg = state */
    TRUSTM_AC_NEV = 0xFF
};
enum trustm_ac_op {
    TRUSTM_AC_EQ = 0xFA,
    TRUSTM_AC_GT = 0xFB,
    TRUSTM_AC_LT = 0xFC,
    TRUSTM_AC_AND = 0xFD,
    TRUSTM_AC_OR = 0xFE
};

#define TRUSTM_AC_MAX_TOKENS 3u
#define TRUSTM_AC_MAX_CONDS 7u

/** One simple access condition. */
struct trustm_ac_cond {
    uint8_t id;   /**< enum trustm_ac_id */
    uint8_t op;   /**< TRUSTM_AC_EQ/GT/LT for LcsG/LcsA/LcsO, else 0 */
    uint16_t arg; /**< OID, mask or life-cycle value (0 for ALW/NEV) */
};

/**
 * @brief A decoded access condition: up to 3 tokens joined by OR, each up to
 * 7 simple conditions joined by AND. ALW and NEV stand alone (ntok 1,
 * ncond[0] 1).
 */
struct trustm_ac {
    uint8_t ntok;
    uint8_t ncond[TRUSTM_AC_MAX_TOKENS];
    struct trustm_ac_cond cond[TRUSTM_AC_MAX_TOKENS][TRUSTM_AC_MAX_CONDS];
};

/** @brief Decode access-condition bytes (the value of a D0/D1/D3/D8 tag). */
tma_status trustm_ac_decode(const uint8_t *p, size_t len, struct trustm_ac *out);

/** @brief Encode an access condition; rejects what the chip would reject
 * (ALW/NEV inside a complex AC, too many tokens/conditions, bad operator). */
tma_status trustm_ac_encode(const struct trustm_ac *ac, uint8_t *out, size_t cap,
                            size_t *out_len);

/**
 * @brief Metadata builder over a caller buffer. Errors are sticky: check only
 * the result of trustm_md_end().
 */
struct trustm_md_builder {
    uint8_t *buf;
    size_t cap;
    size_t len;
    tma_status err;
};

/** @brief Start `20 00` in buf (cap >= 2; more than 44 is never used). */
void trustm_md_begin(struct trustm_md_builder *b, uint8_t *buf, size_t cap);
/** @brief Add a tag with raw value bytes (1..40). A repeated tag is an error. */
void trustm_md_add(struct trustm_md_builder *b, uint8_t tag, const uint8_t *v, size_t n);
/** @brief Add a 1-byte tag (LcsO, algorithm, key usage, type, reset type). */
void trustm_md_add_u8(struct trustm_md_builder *b, uint8_t tag, uint8_t v);
/** @brief Add C1 version (always 2 bytes) or C4/C5 size (1 byte if < 256). */
void trustm_md_add_u16(struct trustm_md_builder *b, uint8_t tag, uint16_t v);
/** @brief Add an access condition (D0/D1/D3/D8). */
void trustm_md_add_ac(struct trustm_md_builder *b, uint8_t tag, const struct trustm_ac *ac);
/** @brief Finish: patch the container length. @param out_len total bytes. */
tma_status trustm_md_end(struct trustm_md_builder *b, size_t *out_len);

/**
 * @brief Iterate the tags of a container `20 LL ...` filling md[0..len).
 * Start with *pos = 0.
 * @return TMA_OK with the next tag; TMA_ERR(CMD, NOT_FOUND) at the end;
 *         TMA_ERR(CMD, MALFORMED) for a bad container or truncated tag.
 */
tma_status trustm_md_next(const uint8_t *md, size_t len, size_t *pos, uint8_t *out_tag,
                          struct tma_span *out_val);

/** Presence bits of struct trustm_md. */
#define TRUSTM_MDF_LCSO 0x0001u
#define TRUSTM_MDF_VERSION 0x0002u
#define TRUSTM_MDF_MAX_SIZE 0x0004u
#define TRUSTM_MDF_USED_SIZE 0x0008u
#define TRUSTM_MDF_CHANGE 0x0010u
#define TRUSTM_MDF_READ 0x0020u
#define TRUSTM_MDF_EXECUTE 0x0040u
#define TRUSTM_MDF_MUPD 0x0080u
#define TRUSTM_MDF_ALGORITHM 0x0100u
#define TRUSTM_MDF_KEY_USAGE 0x0200u
#define TRUSTM_MDF_TYPE 0x0400u
#define TRUSTM_MDF_RESET_TYPE 0x0800u

/** @brief Decoded metadata; AC spans point into the input. */
struct trustm_md {
    uint16_t present; /**< TRUSTM_MDF_* bits */
    uint8_t lcso;
    uint8_t algorithm;
    uint8_t key_usage;
    uint8_t type;
    uint8_t reset_type;
    uint8_t unknown_tags; /**< tags this decoder does not know (skipped) */
    uint16_t version;
    uint16_t max_size;
    uint16_t used_size;
    struct tma_span change, read, execute, mupd;
};

/**
 * @brief Decode a container. Checks each known tag's length and each AC's
 * syntax; a repeated tag is malformed; unknown tags are counted and skipped.
 */
tma_status trustm_md_decode(const uint8_t *md, size_t len, struct trustm_md *out);

/* ---- words for tools (host library trustm_host, src/trustm_host/metadata_text.c;
 * a device does not link it) ---- */

/**
 * @brief Render access-condition bytes as words, e.g. "LcsO < op ||
 * Conf(0xE140)", "ALW", "NEV". Always NUL-terminates when cap > 0.
 * @return TMA_OK; TMA_ERR(CMD, MALFORMED) (out says "invalid");
 *         TMA_ERR(CMD, TOO_SMALL) (out truncated).
 */
tma_status trustm_ac_render(const uint8_t *ac, size_t len, char *out, size_t cap);

/** @brief "cr", "in", "op", "te" or NULL. */
const char *trustm_lcs_name(uint8_t lcs);
/** @brief Tag name, e.g. "LcsO", "Change", "Key usage"; NULL if unknown. */
const char *trustm_md_tag_name(uint8_t tag);
/** @brief Data object type name (e.g. "DEVCERT"); NULL if unknown. */
const char *trustm_md_type_name(uint8_t type);
/** @brief Algorithm name (e.g. "NIST P-256", "RSA 2048", "AES-128"). */
const char *trustm_alg_name(uint8_t alg);
/**
 * @brief Key usage bits as words joined by ',' ("Auth,Sign"); unknown bits
 * as hex. @return as trustm_ac_render().
 */
tma_status trustm_key_usage_render(uint8_t usage, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
