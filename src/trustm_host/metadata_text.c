/* Metadata in words for tools (trustm CLI "metadata show"). Host-only: it is
 * built into the trustm_host library, which a device does not link. */
#include <string.h>

#include "trustm/cmd.h"
#include "trustm/metadata.h"

struct out {
    char *p;
    size_t cap;
    size_t len;
    int trunc;
};

static void emit(struct out *o, const char *s)
{
    while (*s != '\0') {
        if (o->len + 1 < o->cap) {
            o->p[o->len++] = *s;
        } else {
            o->trunc = 1;
        }
        s++;
    }
    if (o->cap > 0) {
        o->p[o->len] = '\0';
    }
}

static void emit_hex(struct out *o, unsigned v, int digits)
{
    static const char hx[] = "0123456789ABCDEF";
    char b[8];
    int i;
    b[0] = '0';
    b[1] = 'x';
    for (i = 0; i < digits; i++) {
        b[2 + i] = hx[(v >> (4 * (digits - 1 - i))) & 0xFu];
    }
    b[2 + digits] = '\0';
    emit(o, b);
}

static tma_status done(const struct out *o)
{
    return o->trunc ? TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL) : TMA_OK;
}

const char *trustm_lcs_name(uint8_t lcs)
{
    switch (lcs) {
    case TRUSTM_LCS_CREATION:
        return "cr";
    case TRUSTM_LCS_INIT:
        return "in";
    case TRUSTM_LCS_OPERATIONAL:
        return "op";
    case TRUSTM_LCS_TERMINATED:
        return "te";
    default:
        return NULL;
    }
}

struct name {
    uint8_t v;
    const char *s;
};

static const char *lookup(const struct name *t, size_t n, uint8_t v)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (t[i].v == v) {
            return t[i].s;
        }
    }
    return NULL;
}

#define LOOKUP(t, v) lookup(t, sizeof(t) / sizeof(t[0]), v)

static const struct name tag_names[] = {
    {0xC0, "LcsO"},        {0xC1, "Version"},   {0xC4, "Max size"},   {0xC5, "Used size"},
    {0xD0, "Change"},      {0xD1, "Read"},      {0xD3, "Execute"},    {0xD8, "MUPD"},
    {0xE0, "Algorithm"},   {0xE1, "Key usage"}, {0xE8, "Type"},       {0xF0, "Reset type"},
};

static const struct name type_names[] = {
    {0x00, "BSTR"},    {0x01, "UPCTR"},   {0x11, "TA"},       {0x12, "DEVCERT"},
    {0x21, "PRESSEC"}, {0x22, "PTFBIND"}, {0x23, "UPDATSEC"}, {0x31, "AUTOREF"},
};

static const struct name alg_names[] = {
    {0x03, "NIST P-256"},      {0x04, "NIST P-384"},      {0x05, "NIST P-521"},
    {0x13, "brainpoolP256r1"}, {0x15, "brainpoolP384r1"}, {0x16, "brainpoolP512r1"},
    {0x41, "RSA 1024"},        {0x42, "RSA 2048"},        {0x81, "AES-128"},
    {0x82, "AES-192"},         {0x83, "AES-256"},         {0xE2, "SHA-256"},
};

static const struct name ac_names[] = {
    {TRUSTM_AC_SECSTAG, "SecStaG"}, {TRUSTM_AC_CONF, "Conf"}, {TRUSTM_AC_INT, "Int"},
    {TRUSTM_AC_AUTO, "Auto"},       {TRUSTM_AC_LUC, "Luc"},   {TRUSTM_AC_LCSG, "LcsG"},
    {TRUSTM_AC_SECSTAA, "SecStaA"}, {TRUSTM_AC_LCSA, "LcsA"}, {TRUSTM_AC_LCSO, "LcsO"},
};

const char *trustm_md_tag_name(uint8_t tag)
{
    return LOOKUP(tag_names, tag);
}

const char *trustm_md_type_name(uint8_t type)
{
    return LOOKUP(type_names, type);
}

const char *trustm_alg_name(uint8_t alg)
{
    return LOOKUP(alg_names, alg);
}

tma_status trustm_ac_render(const uint8_t *ac, size_t len, char *out, size_t cap)
{
    struct trustm_ac d;
    struct out o;
    size_t i;
    size_t j;

    o.p = out;
    o.cap = out == NULL ? 0 : cap;
    o.len = 0;
    o.trunc = 0;
    if (o.cap > 0) {
        out[0] = '\0';
    }
    if (trustm_ac_decode(ac, len, &d) != TMA_OK) {
        emit(&o, "invalid");
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED);
    }
    for (i = 0; i < d.ntok; i++) {
        for (j = 0; j < d.ncond[i]; j++) {
            const struct trustm_ac_cond *c = &d.cond[i][j];
            const char *name = LOOKUP(ac_names, c->id);
            if (i + j != 0) {
                emit(&o, j == 0 ? " || " : " && ");
            }
            if (c->id == TRUSTM_AC_ALW || c->id == TRUSTM_AC_NEV) {
                emit(&o, c->id == TRUSTM_AC_ALW ? "ALW" : "NEV");
                continue;
            }
            emit(&o, name);
            if (c->op != 0) {
                const char *lcs = trustm_lcs_name((uint8_t)c->arg);
                emit(&o, c->op == TRUSTM_AC_EQ ? " == " : c->op == TRUSTM_AC_GT ? " > " : " < ");
                if (lcs != NULL) {
                    emit(&o, lcs);
                } else {
                    emit_hex(&o, c->arg, 2);
                }
            } else {
                emit(&o, "(");
                emit_hex(&o, c->arg, c->id == TRUSTM_AC_SECSTAG || c->id == TRUSTM_AC_SECSTAA
                                         ? 2
                                         : 4);
                emit(&o, ")");
            }
        }
    }
    return done(&o);
}

tma_status trustm_key_usage_render(uint8_t usage, char *out, size_t cap)
{
    static const struct name bits[] = {
        {TRUSTM_KU_AUTH, "Auth"}, {TRUSTM_KU_ENC, "Enc"},
        {TRUSTM_KU_SIGN, "Sign"}, {TRUSTM_KU_AGREE, "KeyAgree"}};
    struct out o;
    unsigned rest = usage;
    size_t i;

    o.p = out;
    o.cap = out == NULL ? 0 : cap;
    o.len = 0;
    o.trunc = 0;
    if (o.cap > 0) {
        out[0] = '\0';
    }
    for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if ((usage & bits[i].v) != 0) {
            emit(&o, o.len != 0 ? "," : "");
            emit(&o, bits[i].s);
            rest &= ~(unsigned)bits[i].v;
        }
    }
    if (rest != 0 || usage == 0) {
        emit(&o, o.len != 0 ? "," : "");
        emit_hex(&o, rest, 2);
    }
    return done(&o);
}
