/* Metadata container and access-condition codecs (spec 8). */
#include "trustm/metadata.h"

#include <stddef.h>
#include <string.h>

#include "apdu.h"

#define BAD_PARAM TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM)
#define MALFORMED TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED)
#define TOO_SMALL TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL)

/* The simple conditions, grouped by encoded size: 1 byte (ALW, NEV), 2
 * (SecStaG, SecStaA), 3 (the rest; the life-cycle ones, which carry an
 * operator, last). */
static const uint8_t ac_ids[] = {
    TRUSTM_AC_ALW,  TRUSTM_AC_NEV, TRUSTM_AC_SECSTAG, TRUSTM_AC_SECSTAA,
    TRUSTM_AC_CONF, TRUSTM_AC_INT, TRUSTM_AC_AUTO,    TRUSTM_AC_LUC,
    TRUSTM_AC_LCSG, TRUSTM_AC_LCSA, TRUSTM_AC_LCSO};
#define AC_FIRST_LCS 8u

/* Index of id in ac_ids; sizeof(ac_ids) if unknown. */
static unsigned ac_kind(uint8_t id)
{
    unsigned i = 0;
    while (i < sizeof(ac_ids) && ac_ids[i] != id) {
        i++;
    }
    return i;
}

/* Encoded size of a condition of this kind, 0 if unknown. */
static size_t kind_size(unsigned k)
{
    return k < sizeof(ac_ids) ? 1u + (k > 1) + (k > 3) : 0u;
}

static int is_cmp(uint8_t op)
{
    return op >= TRUSTM_AC_EQ && op <= TRUSTM_AC_LT;
}

tma_status trustm_ac_decode(const uint8_t *p, size_t len, struct trustm_ac *out)
{
    const uint8_t *end;
    struct trustm_ac_cond *c; /* next free condition of the current token */
    uint8_t *nc;              /* condition count of the current token */

    if (p == NULL || out == NULL) {
        return BAD_PARAM;
    }
    trustm_wipe(out, sizeof(*out));
    out->ntok = 1;
    nc = out->ncond;
    c = out->cond[0];
    end = p + len;
    for (;;) {
        unsigned k;
        size_t n;
        unsigned v;
        uint8_t id;
        uint8_t b1;

        /* empty input, or an operator with nothing after it */
        if (p == end) {
            return MALFORMED;
        }
        id = p[0];
        k = ac_kind(id);
        n = kind_size(k);
        if (n == 0 || n > (size_t)(end - p) || *nc == TRUSTM_AC_MAX_CONDS ||
            (n == 1 && len != 1)) {
            return MALFORMED; /* ALW/NEV are never part of a complex condition */
        }
        /* (the input bytes are read before the stores into *out, which may
         * alias them) */
        b1 = n > 1 ? p[1] : 0u;
        v = n > 1 ? p[n - 1] : 0u;
        (*nc)++;
        c->id = id;
        if (k >= AC_FIRST_LCS) {
            if (!is_cmp(b1)) {
                return MALFORMED;
            }
            c->op = b1;
        } else if (n == 3) {
            v |= (unsigned)b1 << 8;
        }
        c->arg = (uint16_t)v;
        c++;
        p += n;
        if (p == end) {
            return TMA_OK;
        }
        if (*p == TRUSTM_AC_OR) {
            if (out->ntok == TRUSTM_AC_MAX_TOKENS) {
                return MALFORMED;
            }
            c = out->cond[out->ntok++];
            nc++;
        } else if (*p != TRUSTM_AC_AND) {
            return MALFORMED; /* missing operator */
        }
        p++;
    }
}

tma_status trustm_ac_encode(const struct trustm_ac *ac, uint8_t *out, size_t cap,
                            size_t *out_len)
{
    size_t pos = 0;
    size_t total = 0;
    size_t i;
    size_t j;

    if (ac == NULL || out == NULL || out_len == NULL || ac->ntok == 0 ||
        ac->ntok > TRUSTM_AC_MAX_TOKENS) {
        return BAD_PARAM;
    }
    for (i = 0; i < ac->ntok; i++) {
        if (ac->ncond[i] == 0 || ac->ncond[i] > TRUSTM_AC_MAX_CONDS) {
            return BAD_PARAM;
        }
        total += ac->ncond[i];
    }
    for (i = 0; i < ac->ntok; i++) {
        for (j = 0; j < ac->ncond[i]; j++) {
            const struct trustm_ac_cond *c = &ac->cond[i][j];
            unsigned k = ac_kind(c->id);
            size_t n = kind_size(k);
            int lcs = k >= AC_FIRST_LCS;
            unsigned v = c->arg;
            size_t m;
            if (n == 0 || (n == 1 && total != 1) || (n < 3 && v > 0xFFu) ||
                (lcs && (!is_cmp(c->op) || v > 0xFFu))) {
                return BAD_PARAM;
            }
            if (n + (pos != 0) > cap - pos) {
                return TOO_SMALL;
            }
            if (pos != 0) {
                out[pos++] = j == 0 ? TRUSTM_AC_OR : TRUSTM_AC_AND;
            }
            if (lcs) {
                v |= (unsigned)c->op << 8;
            }
            out[pos] = c->id;
            for (m = n; m-- > 1;) {
                out[pos + m] = (uint8_t)v; /* value bytes, last first */
                v >>= 8;
            }
            pos += n;
        }
    }
    *out_len = pos;
    return TMA_OK;
}

/* ---- container ----------------------------------------------------------- */

static tma_status container(const uint8_t *md, size_t len)
{
    if (md == NULL) {
        return BAD_PARAM;
    }
    if (len < 2 || md[0] != 0x20 || md[1] != len - 2) {
        return MALFORMED;
    }
    return TMA_OK;
}

tma_status trustm_md_next(const uint8_t *md, size_t len, size_t *pos, uint8_t *out_tag,
                          struct tma_span *out_val)
{
    size_t p;
    size_t n;
    tma_status st = container(md, len);

    if (st != TMA_OK) {
        return st;
    }
    if (pos == NULL || out_tag == NULL || out_val == NULL) {
        return BAD_PARAM;
    }
    p = *pos < 2 ? 2 : *pos;
    if (p >= len) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND);
    }
    if (len - p < 2 || md[p + 1] > len - p - 2) {
        return MALFORMED;
    }
    n = md[p + 1];
    *out_tag = md[p];
    out_val->ptr = md + p + 2;
    out_val->len = n;
    *pos = p + 2 + n;
    return TMA_OK;
}

void trustm_md_begin(struct trustm_md_builder *b, uint8_t *buf, size_t cap)
{
    if (b == NULL) {
        return;
    }
    b->buf = buf;
    b->cap = cap > TRUSTM_MD_MAX ? TRUSTM_MD_MAX : cap;
    b->len = 2;
    b->err = buf == NULL || cap < 2 ? BAD_PARAM : TMA_OK;
    if (b->err == TMA_OK) {
        buf[0] = 0x20;
        buf[1] = 0;
    }
}

void trustm_md_add(struct trustm_md_builder *b, uint8_t tag, const uint8_t *v, size_t n)
{
    size_t pos;
    uint8_t *d;

    if (b == NULL || b->err != TMA_OK) {
        return;
    }
    if (v == NULL || n == 0 || n > TRUSTM_MD_MAX - 4) {
        b->err = BAD_PARAM;
        return;
    }
    /* the tags so far (written by this builder; every read stays below len) */
    for (pos = 2; pos + 1 < b->len; pos += 2u + b->buf[pos + 1]) {
        if (b->buf[pos] == tag) {
            b->err = BAD_PARAM;
            return;
        }
    }
    if (n + 2 > b->cap - b->len) {
        b->err = TOO_SMALL;
        return;
    }
    d = b->buf + b->len; /* (byte stores may alias *b: load once) */
    d[0] = tag;
    d[1] = (uint8_t)n;
    cmd_copy(d + 2, v, n);
    b->len += n + 2;
}

void trustm_md_add_u8(struct trustm_md_builder *b, uint8_t tag, uint8_t v)
{
    trustm_md_add(b, tag, &v, 1);
}

void trustm_md_add_u16(struct trustm_md_builder *b, uint8_t tag, uint16_t v)
{
    uint8_t x[2];
    size_t n = 1u + (tag == TRUSTM_MD_VERSION || v > 0xFF);
    x[0] = (uint8_t)(v >> 8);
    x[1] = (uint8_t)v;
    trustm_md_add(b, tag, x + 2 - n, n);
}

void trustm_md_add_ac(struct trustm_md_builder *b, uint8_t tag, const struct trustm_ac *ac)
{
    uint8_t x[TRUSTM_MD_MAX];
    size_t n;
    tma_status st;

    if (b == NULL || b->err != TMA_OK) {
        return;
    }
    st = trustm_ac_encode(ac, x, sizeof(x), &n);
    if (st != TMA_OK) {
        b->err = st;
        return;
    }
    trustm_md_add(b, tag, x, n);
}

tma_status trustm_md_end(struct trustm_md_builder *b, size_t *out_len)
{
    size_t len;

    if (b == NULL || out_len == NULL) {
        return BAD_PARAM;
    }
    *out_len = 0;
    if (b->err != TMA_OK) {
        return b->err;
    }
    len = b->len;
    b->buf[1] = (uint8_t)(len - 2);
    *out_len = len;
    return TMA_OK;
}

/* ---- decode -------------------------------------------------------------- */

/* Known tags in the order of their TRUSTM_MDF_* bits (bit i = tag i), and
 * where each lands in struct trustm_md. Tags 0 and 8..11 hold one byte,
 * 1 exactly two, 2..3 one or two, 4..7 an access condition of 1..40. */
static const uint8_t md_tags[12] = {
    TRUSTM_MD_LCSO,    TRUSTM_MD_VERSION,   TRUSTM_MD_MAX_SIZE, TRUSTM_MD_USED_SIZE,
    TRUSTM_MD_CHANGE,  TRUSTM_MD_READ,      TRUSTM_MD_EXECUTE,  TRUSTM_MD_MUPD,
    TRUSTM_MD_ALGORITHM, TRUSTM_MD_KEY_USAGE, TRUSTM_MD_TYPE,   TRUSTM_MD_RESET_TYPE};
static const uint8_t md_offs[12] = {
    offsetof(struct trustm_md, lcso),      offsetof(struct trustm_md, version),
    offsetof(struct trustm_md, max_size),  offsetof(struct trustm_md, used_size),
    offsetof(struct trustm_md, change),    offsetof(struct trustm_md, read),
    offsetof(struct trustm_md, execute),   offsetof(struct trustm_md, mupd),
    offsetof(struct trustm_md, algorithm), offsetof(struct trustm_md, key_usage),
    offsetof(struct trustm_md, type),      offsetof(struct trustm_md, reset_type)};

static const uint8_t md_max[12] = {1, 2, 2, 2, 40, 40, 40, 40, 1, 1, 1, 1};

tma_status trustm_md_decode(const uint8_t *md, size_t len, struct trustm_md *out)
{
    size_t pos = 0;
    uint8_t tag;
    struct tma_span v;
    tma_status st;

    if (out == NULL) {
        return BAD_PARAM;
    }
    trustm_wipe(out, sizeof(*out));
    while ((st = trustm_md_next(md, len, &pos, &tag, &v)) == TMA_OK) {
        unsigned i = 0;
        unsigned flag;
        uint8_t *dst;
        while (i < sizeof(md_tags) && md_tags[i] != tag) {
            i++;
        }
        if (i == sizeof(md_tags)) {
            out->unknown_tags++;
            continue;
        }
        flag = 1u << i;
        dst = (uint8_t *)out + md_offs[i];
        /* lengths: 1 byte (tags 0, 8..11), exactly 2 (1), 1..2 (2, 3),
         * an access condition of 1..40 (4..7) */
        if ((out->present & flag) != 0 || v.len == 0 || v.len > md_max[i] ||
            (i == 1 && v.len != 2)) {
            return MALFORMED;
        }
        out->present = (uint16_t)(out->present | flag);
        if (i >= 4 && i <= 7) {
            struct trustm_ac ac;
            if (trustm_ac_decode(v.ptr, v.len, &ac) != TMA_OK) {
                return MALFORMED;
            }
            memcpy(dst, &v, sizeof(v));
        } else if (i >= 1 && i <= 3) {
            uint16_t val = (uint16_t)(v.len == 2 ? (v.ptr[0] << 8) | v.ptr[1] : v.ptr[0]);
            memcpy(dst, &val, sizeof(val));
        } else {
            *dst = v.ptr[0];
        }
    }
    return st == TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND) ? TMA_OK : st;
}
