/* Allocation-free JSON pull reader; see include/iothub/json.h. */
#include "iothub/json.h"

#include <string.h>

#define E_BAD TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM)
#define E_MAL TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED)
#define E_END TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_NOT_FOUND)
#define E_DEEP TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_UNSUPPORTED)
#define E_SMALL TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL)

enum {
    ST_VALUE = 0,     /* a value must come */
    ST_VALUE_OR_END,  /* after '[' */
    ST_NAME,          /* after ',' in an object */
    ST_NAME_OR_END,   /* after '{' */
    ST_AFTER_VALUE,   /* ',' or the container's end */
    ST_DONE,
    ST_FAILED
};

#if IOTHUB_JSON_MAX_DEPTH > 32
#error "IOTHUB_JSON_MAX_DEPTH must fit the 32-bit container stack"
#endif

tma_status iothub_json_reader_init(struct iothub_json_reader *r, struct tma_span json)
{
    if (r == NULL || (json.ptr == NULL && json.len > 0u)) {
        return E_BAD;
    }
    memset(r, 0, sizeof(*r));
    r->buf = json.ptr;
    r->len = json.len;
    r->state = ST_VALUE;
    return TMA_OK;
}

static void skip_ws(struct iothub_json_reader *r)
{
    while (r->pos < r->len) {
        uint8_t c = r->buf[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            break;
        }
        r->pos++;
    }
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Scan a string starting at the opening quote; on success pos is past the
 * closing quote and the token spans the content. */
static tma_status scan_string(struct iothub_json_reader *r, struct iothub_json_token *tok)
{
    size_t i = r->pos + 1u;
    bool esc = false;
    while (i < r->len) {
        uint8_t c = r->buf[i];
        if (c == '"') {
            tok->text.ptr = r->buf + r->pos + 1u;
            tok->text.len = i - r->pos - 1u;
            tok->escaped = esc;
            r->pos = i + 1u;
            return TMA_OK;
        }
        if (c < 0x20u) {
            return E_MAL;
        }
        if (c == '\\') {
            esc = true;
            if (i + 1u >= r->len) {
                return E_MAL;
            }
            c = r->buf[i + 1u];
            if (c == 'u') {
                size_t k;
                if (i + 5u >= r->len) {
                    return E_MAL;
                }
                for (k = 2u; k < 6u; k++) {
                    if (hexval(r->buf[i + k]) < 0) {
                        return E_MAL;
                    }
                }
                i += 6u;
                continue;
            }
            if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' &&
                c != 'r' && c != 't') {
                return E_MAL;
            }
            i += 2u;
            continue;
        }
        i++;
    }
    return E_MAL;
}

static tma_status scan_number(struct iothub_json_reader *r, struct iothub_json_token *tok)
{
    size_t i = r->pos;
    if (i < r->len && r->buf[i] == '-') {
        i++;
    }
    if (i >= r->len || !is_digit(r->buf[i])) {
        return E_MAL;
    }
    if (r->buf[i] == '0') {
        i++;
    } else {
        while (i < r->len && is_digit(r->buf[i])) {
            i++;
        }
    }
    if (i < r->len && r->buf[i] == '.') {
        i++;
        if (i >= r->len || !is_digit(r->buf[i])) {
            return E_MAL;
        }
        while (i < r->len && is_digit(r->buf[i])) {
            i++;
        }
    }
    if (i < r->len && (r->buf[i] == 'e' || r->buf[i] == 'E')) {
        i++;
        if (i < r->len && (r->buf[i] == '+' || r->buf[i] == '-')) {
            i++;
        }
        if (i >= r->len || !is_digit(r->buf[i])) {
            return E_MAL;
        }
        while (i < r->len && is_digit(r->buf[i])) {
            i++;
        }
    }
    tok->text.ptr = r->buf + r->pos;
    tok->text.len = i - r->pos;
    r->pos = i;
    return TMA_OK;
}

static tma_status scan_literal(struct iothub_json_reader *r, const char *lit,
                               struct iothub_json_token *tok)
{
    size_t n = strlen(lit);
    if (r->len - r->pos < n || memcmp(r->buf + r->pos, lit, n) != 0) {
        return E_MAL;
    }
    tok->text.ptr = r->buf + r->pos;
    tok->text.len = n;
    r->pos += n;
    return TMA_OK;
}

static void value_done(struct iothub_json_reader *r)
{
    r->state = (uint8_t)(r->depth == 0u ? ST_DONE : ST_AFTER_VALUE);
}

static bool top_is_object(const struct iothub_json_reader *r)
{
    return r->depth > 0u && ((r->stack >> (r->depth - 1u)) & 1u) != 0u;
}

static tma_status read_value(struct iothub_json_reader *r, struct iothub_json_token *tok)
{
    uint8_t c = r->buf[r->pos];
    tma_status st;
    switch (c) {
    case '{':
    case '[':
        if (r->depth >= IOTHUB_JSON_MAX_DEPTH) {
            return E_DEEP;
        }
        if (c == '{') {
            r->stack |= (uint32_t)1u << r->depth;
        } else {
            r->stack &= ~((uint32_t)1u << r->depth);
        }
        r->depth++;
        tok->kind = c == '{' ? IOTHUB_JSON_BEGIN_OBJECT : IOTHUB_JSON_BEGIN_ARRAY;
        tok->text.ptr = r->buf + r->pos;
        tok->text.len = 1u;
        r->pos++;
        r->state = (uint8_t)(c == '{' ? ST_NAME_OR_END : ST_VALUE_OR_END);
        return TMA_OK;
    case '"':
        tok->kind = IOTHUB_JSON_STRING;
        st = scan_string(r, tok);
        break;
    case 't':
        tok->kind = IOTHUB_JSON_TRUE;
        st = scan_literal(r, "true", tok);
        break;
    case 'f':
        tok->kind = IOTHUB_JSON_FALSE;
        st = scan_literal(r, "false", tok);
        break;
    case 'n':
        tok->kind = IOTHUB_JSON_NULL;
        st = scan_literal(r, "null", tok);
        break;
    default:
        tok->kind = IOTHUB_JSON_NUMBER;
        st = scan_number(r, tok);
        break;
    }
    if (st == TMA_OK) {
        value_done(r);
    }
    return st;
}

static tma_status read_name(struct iothub_json_reader *r, struct iothub_json_token *tok)
{
    tma_status st;
    if (r->buf[r->pos] != '"') {
        return E_MAL;
    }
    tok->kind = IOTHUB_JSON_NAME;
    st = scan_string(r, tok);
    if (st != TMA_OK) {
        return st;
    }
    skip_ws(r);
    if (r->pos >= r->len || r->buf[r->pos] != ':') {
        return E_MAL;
    }
    r->pos++;
    r->state = ST_VALUE;
    return TMA_OK;
}

static tma_status read_end(struct iothub_json_reader *r, struct iothub_json_token *tok)
{
    uint8_t c = r->buf[r->pos];
    bool obj = top_is_object(r);
    if ((c == '}' && !obj) || (c == ']' && obj) || (c != '}' && c != ']')) {
        return E_MAL;
    }
    tok->kind = obj ? IOTHUB_JSON_END_OBJECT : IOTHUB_JSON_END_ARRAY;
    tok->text.ptr = r->buf + r->pos;
    tok->text.len = 1u;
    r->pos++;
    r->depth--;
    value_done(r);
    return TMA_OK;
}

static tma_status step(struct iothub_json_reader *r, struct iothub_json_token *tok)
{
    skip_ws(r);
    if (r->state == ST_DONE) {
        if (r->pos != r->len) {
            return E_MAL;
        }
        r->done = true;
        return E_END;
    }
    if (r->pos >= r->len) {
        return E_MAL;
    }
    switch (r->state) {
    case ST_VALUE:
        return read_value(r, tok);
    case ST_VALUE_OR_END:
        if (r->buf[r->pos] == ']') {
            return read_end(r, tok);
        }
        return read_value(r, tok);
    case ST_NAME:
        return read_name(r, tok);
    case ST_NAME_OR_END:
        if (r->buf[r->pos] == '}') {
            return read_end(r, tok);
        }
        return read_name(r, tok);
    case ST_AFTER_VALUE:
        if (r->buf[r->pos] == ',') {
            r->pos++;
            skip_ws(r);
            if (r->pos >= r->len) {
                return E_MAL;
            }
            if (top_is_object(r)) {
                return read_name(r, tok);
            }
            return read_value(r, tok);
        }
        return read_end(r, tok);
    default:
        return E_MAL;
    }
}

tma_status iothub_json_next(struct iothub_json_reader *r, struct iothub_json_token *out_tok)
{
    tma_status st;
    if (r == NULL || out_tok == NULL) {
        return E_BAD;
    }
    if (r->state == ST_FAILED) {
        return E_MAL;
    }
    memset(out_tok, 0, sizeof(*out_tok));
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
        return iothub_json_skip(r, &t);
    }
    if (tok->kind != IOTHUB_JSON_BEGIN_OBJECT && tok->kind != IOTHUB_JSON_BEGIN_ARRAY) {
        return TMA_OK;
    }
    base = r->depth;
    for (;;) {
        st = iothub_json_next(r, &t);
        if (st != TMA_OK) {
            return st == E_END ? E_MAL : st;
        }
        if ((t.kind == IOTHUB_JSON_END_OBJECT || t.kind == IOTHUB_JSON_END_ARRAY) &&
            r->depth < base) {
            return TMA_OK;
        }
    }
}

/* Four hex digits at p (validated or not): the value, or -1. */
static int32_t hex4(const uint8_t *p)
{
    int32_t v = 0;
    size_t k;
    for (k = 0u; k < 4u; k++) {
        int h = hexval(p[k]);
        if (h < 0) {
            return -1;
        }
        v = v << 4 | h;
    }
    return v;
}

/* Decode one (possibly escaped) character at *i of a validated string body
 * into UTF-8; returns its byte count (1..4) or 0 on a bad surrogate/NUL. */
static size_t unescape_one(const uint8_t *p, size_t n, size_t *i, uint8_t out[4])
{
    static const char simple[] = "b\bf\fn\nr\rt\t";
    int32_t cp, lo;
    size_t k, len;
    uint8_t e;
    if (p[*i] != '\\') {
        out[0] = p[*i];
        (*i)++;
        return 1u;
    }
    if (*i + 1u >= n) {
        return 0u;
    }
    e = p[*i + 1u];
    if (e != 'u') {
        out[0] = e; /* '"', '\\', '/' stand for themselves */
        for (k = 0u; k < sizeof(simple) - 1u; k += 2u) {
            if ((uint8_t)simple[k] == e) {
                out[0] = (uint8_t)simple[k + 1u];
            }
        }
        *i += 2u;
        return 1u;
    }
    if (*i + 6u > n) {
        return 0u;
    }
    cp = hex4(p + *i + 2u);
    *i += 6u;
    if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) {
        return 0u;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (*i + 6u > n || p[*i] != '\\' || p[*i + 1u] != 'u') {
            return 0u;
        }
        lo = hex4(p + *i + 2u);
        if (lo < 0xDC00 || lo > 0xDFFF) {
            return 0u;
        }
        *i += 6u;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1u;
    }
    len = cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u;
    for (k = len - 1u; k > 0u; k--) {
        out[k] = (uint8_t)(0x80 | (cp & 0x3F));
        cp >>= 6;
    }
    out[0] = (uint8_t)((0xF00u >> len) | (uint32_t)cp); /* C0, E0, F0 */
    return len;
}

bool iothub_json_token_eq(const struct iothub_json_token *tok, const char *s)
{
    size_t i = 0u, j = 0u, slen;
    uint8_t u[4];
    if (tok == NULL || s == NULL ||
        (tok->kind != IOTHUB_JSON_STRING && tok->kind != IOTHUB_JSON_NAME)) {
        return false;
    }
    slen = strlen(s);
    if (!tok->escaped) {
        return tok->text.len == slen && (slen == 0u || memcmp(tok->text.ptr, s, slen) == 0);
    }
    while (i < tok->text.len) {
        size_t k, n = unescape_one(tok->text.ptr, tok->text.len, &i, u);
        if (n == 0u || j + n > slen) {
            return false;
        }
        for (k = 0u; k < n; k++) {
            if ((uint8_t)s[j + k] != u[k]) {
                return false;
            }
        }
        j += n;
    }
    return j == slen;
}

tma_status iothub_json_token_string(const struct iothub_json_token *tok, char *out, size_t cap,
                                    size_t *out_len)
{
    size_t i = 0u, j = 0u;
    uint8_t u[4];
    if (tok == NULL || out_len == NULL || (out == NULL && cap > 0u) ||
        (tok->kind != IOTHUB_JSON_STRING && tok->kind != IOTHUB_JSON_NAME)) {
        return E_BAD;
    }
    while (i < tok->text.len) {
        size_t k, n = unescape_one(tok->text.ptr, tok->text.len, &i, u);
        if (n == 0u) {
            return E_MAL;
        }
        for (k = 0u; k < n; k++) {
            if (j + k < cap) {
                out[j + k] = (char)u[k];
            }
        }
        j += n;
    }
    *out_len = j;
    if (j + 1u > cap) {
        if (cap > 0u) {
            out[0] = '\0';
        }
        return E_SMALL;
    }
    out[j] = '\0';
    return TMA_OK;
}

tma_status iothub_json_token_int64(const struct iothub_json_token *tok, int64_t *out_value)
{
    size_t i = 0u;
    bool neg = false;
    uint64_t v = 0u, lim;
    if (tok == NULL || out_value == NULL || tok->kind != IOTHUB_JSON_NUMBER) {
        return E_BAD;
    }
    if (tok->text.len > 0u && tok->text.ptr[0] == '-') {
        neg = true;
        i = 1u;
    }
    if (i >= tok->text.len) {
        return E_MAL;
    }
    /* Overflow test with constants only (lim / 10 is the same for both
     * signs): no 64-bit division helper is linked on 32-bit targets. */
    lim = neg ? 8u : 7u; /* last digit of INT64_MAX + 1 and INT64_MAX */
    for (; i < tok->text.len; i++) {
        uint8_t c = tok->text.ptr[i];
        uint64_t d;
        if (!is_digit(c)) {
            return E_MAL;
        }
        d = (uint64_t)(c - '0');
        if (v > (uint64_t)INT64_MAX / 10u || (v == (uint64_t)INT64_MAX / 10u && d > lim)) {
            return E_MAL;
        }
        v = v * 10u + d;
    }
    if (neg) {
        *out_value = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    } else {
        *out_value = (int64_t)v;
    }
    return TMA_OK;
}

tma_status iothub_json_validate(struct tma_span json)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    tma_status st = iothub_json_reader_init(&r, json);
    while (st == TMA_OK) {
        st = iothub_json_next(&r, &t);
    }
    return st == E_END ? TMA_OK : st;
}

tma_status iothub_json_write_string(const char *s, char *out, size_t cap, size_t *out_len)
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0u;
    char tmp[6];
    if (s == NULL || out_len == NULL || (out == NULL && cap > 0u)) {
        return E_BAD;
    }
#define PUT(ch)            \
    do {                   \
        if (j < cap) {     \
            out[j] = (ch); \
        }                  \
        j++;               \
    } while (0)
    PUT('"');
    for (; *s != '\0'; s++) {
        uint8_t c = (uint8_t)*s;
        size_t n = 0u, k;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2u;
        } else if (c < 0x20u) {
            tmp[0] = '\\';
            tmp[1] = 'u';
            tmp[2] = '0';
            tmp[3] = '0';
            tmp[4] = hex[c >> 4];
            tmp[5] = hex[c & 0xFu];
            n = 6u;
        } else {
            tmp[0] = (char)c;
            n = 1u;
        }
        for (k = 0u; k < n; k++) {
            PUT(tmp[k]);
        }
    }
    PUT('"');
#undef PUT
    *out_len = j;
    if (j + 1u > cap) {
        if (cap > 0u) {
            out[0] = '\0';
        }
        return E_SMALL;
    }
    out[j] = '\0';
    return TMA_OK;
}
