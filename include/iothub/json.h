/**
 * @file json.h
 * @brief Allocation-free, depth-limited JSON pull reader (RFC 8259).
 *
 * The reader walks a caller-owned buffer and returns one token per call.
 * Tokens point into that buffer (zero copy) and stay valid as long as it
 * does. The whole grammar is checked as the reader goes: an input that is
 * not exactly one JSON value (plus surrounding white space) yields
 * TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED) at the first bad byte, never a
 * partial "success". Nesting deeper than IOTHUB_JSON_MAX_DEPTH is refused.
 *
 * Used for the device twin and DPS bodies; the hub may reuse it.
 */
#ifndef IOTHUB_JSON_H
#define IOTHUB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Deepest nesting accepted (objects + arrays). Twin documents allow 10. */
#define IOTHUB_JSON_MAX_DEPTH 32

enum iothub_json_kind {
    IOTHUB_JSON_NONE = 0,
    IOTHUB_JSON_BEGIN_OBJECT,
    IOTHUB_JSON_END_OBJECT,
    IOTHUB_JSON_BEGIN_ARRAY,
    IOTHUB_JSON_END_ARRAY,
    IOTHUB_JSON_NAME,   /**< object member name; text without quotes, still escaped */
    IOTHUB_JSON_STRING, /**< string value; text without quotes, still escaped */
    IOTHUB_JSON_NUMBER, /**< number; text as written */
    IOTHUB_JSON_TRUE,
    IOTHUB_JSON_FALSE,
    IOTHUB_JSON_NULL
};

struct iothub_json_token {
    enum iothub_json_kind kind;
    struct tma_span text; /**< points into the reader's buffer */
    bool escaped;         /**< string/name contains backslash escapes */
};

struct iothub_json_reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    uint32_t depth;
    uint32_t stack;       /**< bit i set: level i is an object (else array) */
    uint8_t state;        /**< private */
    bool done;
};

/** @brief Start reading @p json. Returns TMA_C_BAD_PARAM for a NULL buffer with len > 0. */
tma_status iothub_json_reader_init(struct iothub_json_reader *r, struct tma_span json);

/**
 * @brief Next token.
 * @return TMA_OK with @p out_tok set; TMA_ERR(IOTHUB, TMA_C_NOT_FOUND) after the
 *         last token of a complete document; TMA_C_MALFORMED on a grammar
 *         error (the reader then stays failed); TMA_C_UNSUPPORTED (layer
 *         IOTHUB) when nesting exceeds IOTHUB_JSON_MAX_DEPTH.
 */
tma_status iothub_json_next(struct iothub_json_reader *r, struct iothub_json_token *out_tok);

/**
 * @brief Skip the value that @p tok starts (a scalar: nothing to do; an
 * object/array begin: read through its matching end). For a NAME token,
 * skips the member's value.
 */
tma_status iothub_json_skip(struct iothub_json_reader *r, const struct iothub_json_token *tok);

/** @brief True when the (escaped) string/name token equals the plain string @p s after unescaping. */
bool iothub_json_token_eq(const struct iothub_json_token *tok, const char *s);

/**
 * @brief Unescape a string/name token into @p out (NUL-terminated).
 * \uXXXX escapes (including surrogate pairs) become UTF-8. Returns
 * TMA_C_TOO_SMALL with *out_len = bytes needed (without NUL) when @p cap is
 * too small; TMA_C_MALFORMED for a lone surrogate or a \u0000.
 */
tma_status iothub_json_token_string(const struct iothub_json_token *tok, char *out, size_t cap,
                                    size_t *out_len);

/** @brief Number token as int64. TMA_C_MALFORMED if not an integer or out of range. */
tma_status iothub_json_token_int64(const struct iothub_json_token *tok, int64_t *out_value);

/**
 * @brief Validate a whole document (grammar and depth) without looking at it.
 * @return TMA_OK, TMA_C_MALFORMED or TMA_C_UNSUPPORTED (too deep), layer IOTHUB.
 */
tma_status iothub_json_validate(struct tma_span json);

/**
 * @brief Write @p s as a JSON string literal (with quotes) into @p out.
 * Escapes quote, backslash and control characters. NUL-terminates.
 * TMA_C_TOO_SMALL with *out_len = bytes needed (without NUL).
 */
tma_status iothub_json_write_string(const char *s, char *out, size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif
