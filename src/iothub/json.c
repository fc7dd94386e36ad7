/* Allocation-free JSON pull reader; see include/iothub/json.h.
 *
 * Written for size (docs/design/iothub-client.md, "Code size"): one step
 * function reads any token, `at()` returns 0 past the end so no scanner needs
 * its own bounds checks (0 is never valid where a byte is looked for), and
 * one decoder serves both unescaping and comparing string tokens. */
#include "iothub/json.h"

#include "topic.h"
#include "wbuf.h"

#include <string.h>

#define E_BAD TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM)
#define E_MAL TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED)
#define E_END TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_NOT_FOUND)
#define E_DEEP TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_UNSUPPORTED)

enum {
    ST_VALUE = 0,     /* a value must come */
    ST_VALUE_OR_END,  /* after '[' */
    ST_NAME,          /* after ',' in an object */
    ST_NAME_OR_END,   /* after '{' */
    ST_AFTER_VALUE,   /* ',' or the container's end */
    ST_DONE,
    ST_FAILED,
    ST_END            /* internal: only the container's end may come */
};

#if IOTHUB_JSON_MAX_DEPTH > 32
#error "IOTHUB_JSON_MAX_DEPTH must fit the 32-bit container stack"
#endif

tma_status iothub_json_reader_init(struct iothub_json_reader *r, struct tma_span json)
{
    if (r == NULL || (json.ptr == NULL && json.len > 0u)) {
        return E_BAD;
    }
    r->buf = json.ptr;
    r->len = json.len;
    r->pos = 0u;
    r->depth = 0u;
    r->stack = 0u;
    r->state = ST_VALUE;
    r->done = false;
    return TMA_OK;
}

/* The byte at i, or 0 past the end. */
static uint8_t at(const struct iothub_json_reader *r, size_t i)
{
    return i < r->len ? r->buf[i] : 0u;
}

static size_t skip_ws(const struct iothub_json_reader *r, size_t i)
{
    for (;;) {
        uint8_t c = at(r, i);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return i;
        }
        i++;
    }
}

/* One or more digits from i: the index past them, or 0 when there is none
 * (never a valid index past a digit). */
static size_t digits(const struct iothub_json_reader *r, size_t i)
{
    size_t s = i;
    while ((uint8_t)(at(r, i) - '0') < 10u) {
        i++;
    }
    return i == s ? 0u : i;
}

/* The one-letter escapes and what they stand for. */
static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";

static int escape_char(uint8_t e)
{
    size_t k;
    for (k = 0u; k < sizeof(escapes) - 1u; k += 2u) {
        if ((uint8_t)escapes[k] == e) {
            return escapes[k + 1u];
        }
    }
    return -1;
}

/* Four hex digits at i (0 past the end fails): the value, or -1. */
static int32_t hex4(const uint8_t *p, size_t n, size_t i)
{
    int32_t v = 0;
    size_t k;
    for (k = 0u; k < 4u; k++) {
        int h = ih_hexval(i + k < n ? p[i + k] : 0u);
        if (h < 0) {
            return -1;
        }
        v = v << 4 | h;
    }
    return v;
}

static int32_t next_char(const uint8_t *p, size_t n, size_t *i);

/* String from the quote at i: the index past the closing quote, or 0. */
static size_t scan_string(const struct iothub_json_reader *r, size_t i, bool *out_esc)
{
    for (i++;;) {
        uint8_t c = at(r, i);
        if (c == '"') {
            return i + 1u;
        }
        if (c < 0x20u) {
            return 0u; /* control character, or the end of the input */
        }
        if (c == '\\') {
            *out_esc = true;
        }
        if (next_char(r->buf, r->len, &i) < 0) {
            return 0u; /* a bad or cut-off escape */
        }
    }
}

/* Number from i (RFC 8259 grammar): the index past it, or 0. A leading zero
 * ends the integer part, so "01" is the number 0 followed by a stray '1'. */
static size_t scan_number(const struct iothub_json_reader *r, size_t i)
{
    if (at(r, i) == '-') {
        i++;
    }
    i = at(r, i) == '0' ? i + 1u : digits(r, i);
    if (i != 0u && at(r, i) == '.') {
        i = digits(r, i + 1u);
    }
    if (i != 0u && (at(r, i) | 0x20u) == 'e') {
        i++;
        if (at(r, i) == '+' || at(r, i) == '-') {
            i++;
        }
        i = digits(r, i);
    }
    return i;
}

static tma_status step(struct iothub_json_reader *r, struct iothub_json_token *tok)
{
    size_t i = skip_ws(r, r->pos), end = 0u;
    uint8_t c = at(r, i), st = r->state;
    bool obj = r->depth > 0u && ((r->stack >> (r->depth - 1u)) & 1u) != 0u;

    if (st == ST_DONE) {
        if (i != r->len) {
            return E_MAL;
        }
        r->pos = i;
        r->done = true;
        return E_END;
    }
    if (st == ST_AFTER_VALUE) {
        if (c == ',') {
            i = skip_ws(r, i + 1u);
            c = at(r, i);
            st = obj ? ST_NAME : ST_VALUE;
        } else {
            st = ST_END;
        }
    }
    if ((st == ST_VALUE_OR_END || st == ST_NAME_OR_END || st == ST_END) && (c == '}' || c == ']')) {
        if ((c == '}') != obj) {
            return E_MAL;
        }
        tok->kind = obj ? IOTHUB_JSON_END_OBJECT : IOTHUB_JSON_END_ARRAY;
        r->depth--;
        end = i + 1u;
    } else if (st == ST_END) {
        return E_MAL;
    } else if (st == ST_NAME || st == ST_NAME_OR_END) {
        if (c != '"' || (end = scan_string(r, i, &tok->escaped)) == 0u) {
            return E_MAL;
        }
        r->pos = skip_ws(r, end);
        if (at(r, r->pos) != ':') {
            return E_MAL;
        }
        r->pos++;
        r->state = ST_VALUE;
        tok->kind = IOTHUB_JSON_NAME;
        tok->text.ptr = r->buf + i + 1u;
        tok->text.len = end - i - 2u;
        return TMA_OK;
    } else if (c == '{' || c == '[') {
        uint32_t bit;
        if (r->depth >= IOTHUB_JSON_MAX_DEPTH) {
            return E_DEEP;
        }
        bit = (uint32_t)1u << r->depth;
        r->stack = c == '{' ? r->stack | bit : r->stack & ~bit;
        r->depth++;
        tok->kind = c == '{' ? IOTHUB_JSON_BEGIN_OBJECT : IOTHUB_JSON_BEGIN_ARRAY;
        tok->text.ptr = r->buf + i;
        tok->text.len = 1u;
        r->pos = i + 1u;
        r->state = (uint8_t)(c == '{' ? ST_NAME_OR_END : ST_VALUE_OR_END);
        return TMA_OK;
    } else if (c == '"') {
        tok->kind = IOTHUB_JSON_STRING;
        end = scan_string(r, i, &tok->escaped);
        if (end == 0u) {
            return E_MAL;
        }
        tok->text.ptr = r->buf + i + 1u;
        tok->text.len = end - i - 2u;
        r->pos = end;
        r->state = (uint8_t)(r->depth == 0u ? ST_DONE : ST_AFTER_VALUE);
        return TMA_OK;
    } else if (c == 't' || c == 'f' || c == 'n') {
        const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        tok->kind = c == 't' ? IOTHUB_JSON_TRUE : c == 'f' ? IOTHUB_JSON_FALSE : IOTHUB_JSON_NULL;
        end = i;
        while (*lit != '\0') {
            if (at(r, end++) != (uint8_t)*lit++) {
                return E_MAL;
            }
        }
    } else {
        tok->kind = IOTHUB_JSON_NUMBER;
        end = scan_number(r, i);
        if (end == 0u) {
            return E_MAL;
        }
    }
    /* A scalar or the end of a container: i..end is the token. */
    tok->text.ptr = r->buf + i;
    tok->text.len = end - i;
    r->pos = end;
    r->state = (uint8_t)(r->depth == 0u ? ST_DONE : ST_AFTER_VALUE);
    return TMA_OK;
}

tma_status iothub_json_next(struct iothub_json_reader *r, struct iothub_json_token *out_tok)
{
    tma_status st;
    if (r == NULL || out_tok == NULL) {
        return E_BAD;
    }
    out_tok->kind = IOTHUB_JSON_NONE;
    out_tok->text.ptr = NULL;
    out_tok->text.len = 0u;
    out_tok->escaped = false;
    if (r->state == ST_FAILED) {
        return E_MAL;
    }
    st = step(r, out_tok);
    if (st != TMA_OK && st != E_END) {
        r->state = ST_FAILED;
        out_tok->kind = IOTHUB_JSON_NONE;
    }
    return st;
}

tma_status iothub_json_skip(struct iothub_json_reader *r, const struct iothub_json_token *tok)
{
    struct iothub_json_token t;
    uint32_t base;
    tma_status st;
    if (r == NULL || tok == NULL) {
        return E_BAD;
    }
    if (tok->kind == IOTHUB_JSON_NAME) {
        st = iothub_json_next(r, &t);
        if (st != TMA_OK) {
            return st;
        }
        tok = &t;
    }
    if (tok->kind != IOTHUB_JSON_BEGIN_OBJECT && tok->kind != IOTHUB_JSON_BEGIN_ARRAY) {
        return TMA_OK;
    }
    /* Only an end token lowers the depth: read until the matching one. */
    base = r->depth;
    do {
        st = iothub_json_next(r, &t);
    } while (st == TMA_OK && r->depth >= base);
    return st == E_END ? E_MAL : st;
}

/* Decode a string/name token. Every output byte is written to out (bounded,
 * counted in *out_len) and, with cmp != NULL, compared with cmp. false for a
 * bad escape (lone surrogate, \u0000, unknown or cut-off escape) or, with
 * cmp, a difference; with cmp, true only when cmp ends where the text does. */
static bool decode(const struct iothub_json_token *tok, char *out, size_t cap, const char *cmp,
                   size_t *out_len)
{
    const uint8_t *p = tok->text.ptr;
    size_t n = tok->text.len, i = 0u, j = 0u;
    while (i < n) {
        uint8_t u[4];
        size_t k, len = 1u;
        int32_t cp = p[i++];
        if (cp == '\\') {
            uint8_t e = i < n ? p[i] : 0u;
            i++;
            if (e != 'u') {
                cp = escape_char(e);
                if (cp < 0) {
                    return false;
                }
            } else {
                cp = hex4(p, n, i);
                i += 4u;
                if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
                    return false;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int32_t lo = (i + 1u < n && p[i] == '\\' && p[i + 1u] == 'u') ? hex4(p, n, i + 2u) : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        return false;
                    }
                    i += 6u;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp >= 0x80) {
                    len = cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u;
                    for (k = len - 1u; k > 0u; k--) {
                        u[k] = (uint8_t)(0x80 | (cp & 0x3F));
                        cp >>= 6;
                    }
                    cp |= (int32_t)(0xF00u >> len); /* lead byte C0, E0, F0 */
                }
            }
        }
        u[0] = (uint8_t)cp; /* raw bytes are copied as they are */
        for (k = 0u; k < len; k++) {
            if (cmp != NULL && (cmp[j] == '\0' || (uint8_t)cmp[j] != u[k])) {
                return false;
            }
            if (j < cap) {
                out[j] = (char)u[k];
            }
            j++;
        }
    }
    *out_len = j;
    return cmp == NULL || cmp[j] == '\0';
}

/* The next character of a string token's text at *i: a raw byte, a
 * one-letter escape's character or the code unit of a \uXXXX escape (no
 * surrogate pairing); < 0 for a bad or cut-off escape. */
static int32_t next_char(const uint8_t *p, size_t n, size_t *i)
{
    size_t k = *i;
    int32_t ch = p[k++];
    if (ch == '\\') {
        uint8_t e = k < n ? p[k] : 0u;
        k++;
        if (e == 'u') {
            size_t end = k + 4u;
            ch = 0;
            while (k < end) {
                int h = ih_hexval(k < n ? p[k] : 0u);
                k++;
                if (h < 0) {
                    return -1; /* *i is not read after an error */
                }
                ch = ch << 4 | h;
            }
        } else {
            ch = escape_char(e);
        }
    }
    *i = k;
    return ch;
}

bool ih_json_name_is(const struct iothub_json_token *tok, const char *ascii)
{
    size_t i = 0u;
    for (; i < tok->text.len; ascii++) {
        int32_t ch = next_char(tok->text.ptr, tok->text.len, &i);
        /* A bad escape (< 0), \u0000 and anything that decodes to more than one
         * byte (>= 0x80) cannot equal an ASCII character; the end of ascii
         * ('\0') differs from every remaining character. */
        if (ch <= 0 || ch != (uint8_t)*ascii) {
            return false;
        }
    }
    return *ascii == '\0';
}

/* Only printable ASCII without space is kept: the strings a device copies
 * (DPS assignedHub, deviceId, operationId) are host names and identifiers
 * that never hold anything else, so a reply with other characters is
 * refused instead of passing them on (and the UTF-8 encoder of decode() is
 * not linked). */
bool ih_json_copy(struct tma_span text, char *dst, size_t cap)
{
    size_t i = 0u, j = 0u;
    for (;;) {
        int32_t ch;
        if (i == text.len) {
            if (j == 0u) {
                break;
            }
            dst[j] = '\0';
            return true;
        }
        if (j + 1u >= cap) {
            break; /* no room for this character and the NUL */
        }
        ch = next_char(text.ptr, text.len, &i);
        if (ch <= 0x20 || ch >= 0x7F) {
            break;
        }
        dst[j++] = (char)ch;
    }
    dst[0] = '\0';
    return false;
}

bool iothub_json_token_eq(const struct iothub_json_token *tok, const char *s)
{
    size_t n;
    return tok != NULL && s != NULL &&
           (tok->kind == IOTHUB_JSON_STRING || tok->kind == IOTHUB_JSON_NAME) &&
           decode(tok, NULL, 0u, s, &n);
}

tma_status iothub_json_token_string(const struct iothub_json_token *tok, char *out, size_t cap,
                                    size_t *out_len)
{
    struct wbuf w;
    if (tok == NULL || out_len == NULL || (out == NULL && cap > 0u) ||
        (tok->kind != IOTHUB_JSON_STRING && tok->kind != IOTHUB_JSON_NAME)) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    if (!decode(tok, out, cap, NULL, &w.len)) {
        return E_MAL;
    }
    return wb_finish(&w, out_len);
}

bool ih_json_int64(struct tma_span s, int64_t *out_value)
{
    uint64_t v; /* set by ih_parse_u64() when it returns true */
    size_t neg = s.len > 0u && s.ptr[0] == '-';
    s.ptr += neg;
    s.len -= neg;
    /* At most 19 digits, so the 64-bit accumulator cannot overflow; the
     * limit is INT64_MAX, or its magnitude plus one for a negative number. */
    if (!ih_parse_u64(s, (uint64_t)INT64_MAX + neg, &v)) {
        return false;
    }
    /* Two's complement (as on every target we build for): 2^63 negated is INT64_MIN. */
    *out_value = (int64_t)(neg != 0u ? 0u - v : v);
    return true;
}

tma_status iothub_json_token_int64(const struct iothub_json_token *tok, int64_t *out_value)
{
    if (tok == NULL || out_value == NULL || tok->kind != IOTHUB_JSON_NUMBER) {
        return E_BAD;
    }
    return ih_json_int64(tok->text, out_value) ? TMA_OK : E_MAL;
}

/* The same grammar as step(), as one structured pass over the whole document:
 * what a device links for validation and member look-up (twin, DPS) without
 * the token-at-a-time reader. Errors come in document order, as from the pull
 * reader (the fuzz target checks that both agree). */
tma_status ih_json_walk(struct tma_span json, ih_json_member_fn fn, void *ctx)
{
    /* What may come next. */
    enum { X_VALUE, X_NAME, X_FIRST_VALUE, X_FIRST_NAME, X_AFTER };
    struct iothub_json_reader r; /* buf and len only: the scanners read through at() */
    struct iothub_json_token name, val;
    uint32_t depth = 0u, stack = 0u;
    size_t i = 0u, end, q;
    bool member = false;
    uint8_t c, x = X_VALUE;
    tma_status st;
    if (json.ptr == NULL && json.len > 0u) {
        return E_BAD;
    }
    r.buf = json.ptr;
    r.len = json.len;
    name.kind = IOTHUB_JSON_NAME;
    for (;;) {
        i = skip_ws(&r, i);
        c = at(&r, i);
        if (x >= X_FIRST_VALUE) {
            /* After a value, or first in a container: its end may come. */
            bool obj;
            if (depth == 0u) {
                return i == r.len ? TMA_OK : E_MAL; /* after the root value */
            }
            obj = ((stack >> (depth - 1u)) & 1u) != 0u;
            if (c == (obj ? '}' : ']')) {
                depth--;
                i++;
                x = X_AFTER;
                continue;
            }
            if (x == X_AFTER) {
                if (c != ',') {
                    return E_MAL;
                }
                i++;
                x = obj ? X_NAME : X_VALUE;
                continue;
            }
            x -= X_FIRST_VALUE; /* X_FIRST_VALUE -> X_VALUE, X_FIRST_NAME -> X_NAME */
        }
        if (x == X_NAME) {
            name.escaped = false;
            if (c != '"' || (end = scan_string(&r, i, &name.escaped)) == 0u) {
                return E_MAL;
            }
            name.text.ptr = r.buf + i + 1u;
            name.text.len = end - i - 2u;
            i = skip_ws(&r, end);
            if (at(&r, i) != ':') {
                return E_MAL;
            }
            i++;
            member = true;
            x = X_VALUE;
            continue;
        }
        /* A value at i. */
        val.escaped = false;
        end = i + 1u;
        if (c == '{' || c == '[') {
            if (depth >= IOTHUB_JSON_MAX_DEPTH) {
                return E_DEEP;
            }
            val.kind = c == '{' ? IOTHUB_JSON_BEGIN_OBJECT : IOTHUB_JSON_BEGIN_ARRAY;
        } else if (c == '"') {
            val.kind = IOTHUB_JSON_STRING;
            end = scan_string(&r, i, &val.escaped);
        } else if (c == 't' || c == 'f' || c == 'n') {
            const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
            size_t n = c == 'f' ? 5u : 4u;
            val.kind = c == 't' ? IOTHUB_JSON_TRUE : c == 'f' ? IOTHUB_JSON_FALSE : IOTHUB_JSON_NULL;
            end = i + n;
            if (end > r.len || memcmp(r.buf + i, lit, n) != 0) {
                return E_MAL;
            }
        } else {
            val.kind = IOTHUB_JSON_NUMBER;
            end = scan_number(&r, i);
        }
        if (end == 0u) {
            return E_MAL;
        }
        q = val.kind == IOTHUB_JSON_STRING; /* the quotes are not in the text */
        val.text.ptr = r.buf + i + q;
        val.text.len = end - i - 2u * q;
        if (fn != NULL && (member || depth == 0u)) {
            st = fn(ctx, depth, member ? &name : NULL, &val);
            if (st != TMA_OK) {
                return st;
            }
        }
        member = false;
        i = end;
        x = X_AFTER;
        if (c == '{' || c == '[') {
            uint32_t bit = (uint32_t)1u << depth;
            stack = c == '{' ? stack | bit : stack & ~bit;
            depth++;
            x = c == '{' ? X_FIRST_NAME : X_FIRST_VALUE;
        }
    }
}

tma_status iothub_json_validate(struct tma_span json)
{
    return ih_json_walk(json, NULL, NULL);
}

void wb_json_str(struct wbuf *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    wb_putc(w, '"');
    for (; *s != '\0'; s++) {
        uint8_t c = (uint8_t)*s;
        if (c == '"' || c == '\\') {
            wb_putc(w, '\\');
        } else if (c < 0x20u) {
            wb_str(w, "\\u00");
            wb_putc(w, hex[c >> 4]);
            c = (uint8_t)hex[c & 0xFu];
        }
        wb_putc(w, (char)c);
    }
    wb_putc(w, '"');
}

tma_status iothub_json_write_string(const char *s, char *out, size_t cap, size_t *out_len)
{
    struct wbuf w;
    if (s == NULL || out_len == NULL || (out == NULL && cap > 0u)) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    wb_json_str(&w, s);
    return wb_finish(&w, out_len);
}
