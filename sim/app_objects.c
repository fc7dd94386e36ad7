/*
 * Object store of the simulated chip (spec section 7): the table with sizes,
 * default content and default metadata, and the GetDataObject /
 * SetDataObject commands.
 */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "app_int.h"

#define LCS_CR 0x01
#define LCS_IN 0x03
#define LCS_OP 0x07
#define LCS_TE 0x0F

static const uint8_t AC_ALW[] = {0x00};
static const uint8_t AC_NEV[] = {0xFF};
static const uint8_t AC_LT_OP[] = {0xE1, 0xFC, 0x07};
static const uint8_t AC_PBS_CHANGE[] = {0xE1, 0xFC, 0x07, 0xFE, 0x20, 0xE1, 0x40};

struct def {
    uint16_t oid;
    uint8_t kind;
    uint16_t max;
    uint8_t lcso;
    const uint8_t *chg;
    uint8_t chg_len;
    const uint8_t *rd;
    uint8_t rd_len;
    const uint8_t *exe;
    uint8_t exe_len;
    int type; /* -1 = no E8 tag */
    uint8_t min_version;
};

#define A(x) x, (uint8_t)sizeof(x)
#define NONE NULL, 0

static const struct def DEFS[] = {
    {0xE0C0, KIND_DATA, 1, LCS_OP, A(AC_ALW), A(AC_ALW), NONE, -1, 1},
    {0xE0C1, KIND_DATA, 1, LCS_OP, A(AC_ALW), A(AC_ALW), NONE, -1, 1},
    {0xE0C2, KIND_DATA, 27, LCS_OP, A(AC_NEV), A(AC_ALW), NONE, -1, 1},
    {0xE0C3, KIND_DATA, 1, LCS_OP, A(AC_ALW), A(AC_ALW), NONE, -1, 1},
    {0xE0C4, KIND_DATA, 1, LCS_OP, A(AC_ALW), A(AC_ALW), NONE, -1, 1},
    {0xE0C5, KIND_DATA, 1, LCS_OP, A(AC_NEV), A(AC_ALW), NONE, -1, 1},
    {0xE0C6, KIND_DATA, 2, LCS_OP, A(AC_NEV), A(AC_ALW), NONE, -1, 1},
    {0xE0C9, KIND_DATA, 8, LCS_CR, A(AC_LT_OP), A(AC_ALW), NONE, -1, 3},
    {0xE0E0, KIND_DATA, 1728, LCS_CR, A(AC_NEV), A(AC_ALW), A(AC_ALW), 0x12, 1},
    {0xE0E1, KIND_DATA, 1728, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x12, 1},
    {0xE0E2, KIND_DATA, 1728, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x12, 1},
    {0xE0E3, KIND_DATA, 1728, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x12, 1},
    {0xE0E8, KIND_DATA, 1200, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x11, 1},
    {0xE0E9, KIND_DATA, 1200, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x11, 1},
    {0xE0EF, KIND_DATA, 1200, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x11, 1},
    {0xE0F0, KIND_ECC, KEYBLOB_MAX, LCS_CR, A(AC_NEV), NONE, A(AC_ALW), -1, 1},
    {0xE0F1, KIND_ECC, KEYBLOB_MAX, LCS_CR, A(AC_LT_OP), NONE, A(AC_ALW), -1, 1},
    {0xE0F2, KIND_ECC, KEYBLOB_MAX, LCS_CR, A(AC_LT_OP), NONE, A(AC_ALW), -1, 1},
    {0xE0F3, KIND_ECC, KEYBLOB_MAX, LCS_CR, A(AC_LT_OP), NONE, A(AC_ALW), -1, 1},
    {0xE0FC, KIND_RSA, KEYBLOB_MAX, LCS_CR, A(AC_LT_OP), NONE, A(AC_ALW), -1, 1},
    {0xE0FD, KIND_RSA, KEYBLOB_MAX, LCS_CR, A(AC_LT_OP), NONE, A(AC_ALW), -1, 1},
    {0xE120, KIND_DATA, 8, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x01, 1},
    {0xE121, KIND_DATA, 8, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x01, 1},
    {0xE122, KIND_DATA, 8, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x01, 1},
    {0xE123, KIND_DATA, 8, LCS_CR, A(AC_LT_OP), A(AC_ALW), A(AC_ALW), 0x01, 1},
    {0xE140, KIND_DATA, 64, LCS_CR, A(AC_PBS_CHANGE), A(AC_LT_OP), A(AC_ALW), 0x22, 1},
    {0xE200, KIND_AES, KEYBLOB_MAX, LCS_CR, A(AC_NEV), NONE, A(AC_ALW), -1, 3},
    {0xF1C0, KIND_DATA, 1, LCS_OP, A(AC_ALW), A(AC_ALW), NONE, -1, 1},
    {0xF1C1, KIND_DATA, 1, LCS_OP, A(AC_ALW), A(AC_ALW), NONE, -1, 1},
    {0xF1C2, KIND_DATA, 1, LCS_OP, A(AC_NEV), A(AC_ALW), NONE, -1, 1},
};

static void set_ac(struct ac *ac, const uint8_t *b, uint8_t len)
{
    memset(ac, 0, sizeof *ac);
    if (b && len) {
        memcpy(ac->b, b, len);
        ac->len = len;
    }
}

static struct sim_obj *add_obj(struct sim_app *app, const struct def *d)
{
    struct sim_obj *o = &app->objs[app->nobjs];
    memset(o, 0, sizeof *o);
    o->data = calloc(1, d->max);
    if (!o->data) {
        return NULL;
    }
    app->nobjs++;
    o->oid = d->oid;
    o->kind = d->kind;
    o->max = d->max;
    o->lcso = d->lcso;
    set_ac(&o->change, d->chg, d->chg_len);
    set_ac(&o->read, d->rd, d->rd_len);
    set_ac(&o->exe, d->exe, d->exe_len);
    if (d->type >= 0) {
        o->has_type = true;
        o->type = (uint8_t)d->type;
    }
    return o;
}

tma_status app_obj_table_init(struct sim_app *app)
{
    size_t cap = sizeof DEFS / sizeof DEFS[0] + 14;
    app->objs = calloc(cap, sizeof *app->objs);
    if (!app->objs) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_FULL);
    }
    app->nobjs = 0;
    for (size_t i = 0; i < sizeof DEFS / sizeof DEFS[0]; i++) {
        if (DEFS[i].min_version > app->cfg.version) {
            continue;
        }
        if (!add_obj(app, &DEFS[i])) {
            return TMA_ERR(TMA_LAYER_SIM, TMA_C_FULL);
        }
    }
    /* Arbitrary data objects: Read ALW, Change LcsO < op, Execute NEV ([CG]). */
    for (uint16_t i = 0; i < 14; i++) {
        struct def d = {(uint16_t)(i < 12 ? 0xF1D0 + i : 0xF1E0 + (i - 12)),
                        KIND_DATA,
                        (uint16_t)(i < 12 ? 140 : 1500),
                        LCS_CR,
                        A(AC_LT_OP),
                        A(AC_ALW),
                        NONE,
                        -1,
                        1};
        if (!add_obj(app, &d)) {
            return TMA_ERR(TMA_LAYER_SIM, TMA_C_FULL);
        }
    }
    /* Default contents of the fixed objects. */
    static const struct {
        uint16_t oid;
        uint8_t len;
        uint8_t v[8];
    } init[] = {
        {0xE0C0, 1, {0x07}},
        {0xE0C1, 1, {0x20}},
        {0xE0C3, 1, {0x14}},
        {0xE0C4, 1, {0x06}},
        {0xE0C5, 1, {0x00}},
        {0xE0C6, 2, {0x06, 0x15}},
        /* byte 0 = 50 decimal (x 100 ms = 5 s); see docs/decisions/sim-app.md */
        {0xE0C9, 8, {0x32, 0x00, 0x05, 0x01, 0, 0, 0, 0}},
        /* counters: value 0, threshold 0xFFFFFFFF (decision, see docs) */
        {0xE120, 8, {0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}},
        {0xE121, 8, {0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}},
        {0xE122, 8, {0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}},
        {0xE123, 8, {0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}},
        {0xF1C0, 1, {0x01}},
        {0xF1C1, 1, {0x20}},
        {0xF1C2, 1, {0x00}},
    };
    for (size_t i = 0; i < sizeof init / sizeof init[0]; i++) {
        struct sim_obj *o = app_obj_find(app, init[i].oid);
        if (o) {
            memcpy(o->data, init[i].v, init[i].len);
            o->used = init[i].len;
        }
    }
    return TMA_OK;
}

void app_obj_table_free(struct sim_app *app)
{
    if (!app->objs) {
        return;
    }
    for (size_t i = 0; i < app->nobjs; i++) {
        mbedtls_platform_zeroize(app->objs[i].data, app->objs[i].max);
        free(app->objs[i].data);
    }
    free(app->objs);
    app->objs = NULL;
    app->nobjs = 0;
}

struct sim_obj *app_obj_find(struct sim_app *app, uint16_t oid)
{
    for (size_t i = 0; i < app->nobjs; i++) {
        if (app->objs[i].oid == oid) {
            return &app->objs[i];
        }
    }
    return NULL;
}

bool app_oid_is_session(uint16_t oid)
{
    return oid >= 0xE100 && oid <= 0xE103;
}

struct sim_session *app_session_get(struct sim_app *app, uint16_t oid)
{
    return app_oid_is_session(oid) ? &app->sessions[oid - 0xE100] : NULL;
}

int app_obj_key_store(struct sim_app *app, struct sim_obj *o, uint8_t algo, uint8_t usage,
                      const uint8_t *blob, size_t len)
{
    if (len > o->max) {
        return E_INTERNAL;
    }
    mbedtls_platform_zeroize(o->data, o->max);
    memcpy(o->data, blob, len);
    o->used = (uint16_t)len;
    o->algo = algo;
    o->has_usage = true;
    o->usage = usage;
    app->dirty = true;
    return 0;
}

/* ---- GetDataObject ---- */

int app_cmd_get_data(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    if (c->param > 0x01) {
        return E_PARAM;
    }
    if (c->in_len < 2) {
        return E_LENGTH;
    }
    uint16_t oid = app_be16(c->in);
    if (app_oid_is_session(oid)) {
        return E_ACCESS;
    }
    struct sim_obj *o = app_obj_find(app, oid);
    if (!o) {
        return E_OID;
    }
    if (c->param == 0x01) {
        if (c->in_len != 2) {
            return E_LENGTH;
        }
        uint8_t m[META_MAX + 8];
        size_t n = app_meta_encode(app, o, m);
        return app_rsp_put(r, m, n);
    }
    if (c->in_len != 2 && c->in_len != 6) {
        return E_LENGTH;
    }
    uint16_t offset = 0, length = 0xFFFF;
    if (c->in_len == 6) {
        offset = app_be16(c->in + 2);
        length = app_be16(c->in + 4);
        if (length == 0) {
            return E_LENGTH;
        }
    }
    if (o->kind != KIND_DATA) {
        return E_ACCESS; /* key objects are never readable */
    }
    if (o->lcso == LCS_TE) {
        return E_ACCESS;
    }
    int e = app_ac_check(app, o, ACC_READ, c);
    if (e) {
        return e;
    }
    /* dynamic contents */
    if (oid == 0xF1C2) {
        o->data[0] = app->last_error;
        app->last_error = 0; /* cleared on read */
    } else if (oid == 0xE0C5) {
        o->data[0] = app->sec;
    }
    uint16_t used = o->used;
    if (offset > used || (offset == used && used != 0)) {
        return E_BOUNDARY;
    }
    size_t n = used - offset;
    if (length < n) {
        n = length;
    }
    return app_rsp_put(r, o->data + offset, n);
}

/* ---- SetDataObject ---- */

static bool lcs_value_ok(uint8_t v, bool app_level)
{
    return v == LCS_CR || v == LCS_IN || v == LCS_OP || (!app_level && v == LCS_TE);
}

static int write_special(struct sim_app *app, struct sim_obj *o, uint8_t param, uint16_t offset,
                         const uint8_t *d, size_t n)
{
    if (offset != 0 || n != 1) {
        return n == 0 ? E_LENGTH : E_BOUNDARY;
    }
    switch (o->oid) {
    case 0xE0C1:
    case 0xF1C1:
        /* only achieved bits can be cleared */
        o->data[0] = param == 0x40 ? 0x00 : (uint8_t)(o->data[0] & d[0]);
        return 0;
    case 0xE0C0:
    case 0xF1C0:
        if (!lcs_value_ok(d[0], o->oid == 0xF1C0) || d[0] < o->data[0]) {
            return E_DATA; /* life-cycle states only move forward */
        }
        o->data[0] = d[0];
        app->dirty = true;
        return 0;
    case 0xE0C3:
        if (d[0] < 20) {
            return E_DATA;
        }
        break;
    case 0xE0C4:
        if (d[0] < 6 || d[0] > 15) {
            return E_DATA;
        }
        break;
    default:
        break;
    }
    o->data[0] = d[0];
    o->used = 1;
    app->dirty = true;
    return 0;
}

static int count(struct sim_app *app, struct sim_obj *o, const struct cmd *c, const uint8_t *d,
                 size_t n)
{
    if (!o->has_type || o->type != 0x01 || o->used != 8) {
        return E_DATA;
    }
    if (n != 1) {
        return E_LENGTH;
    }
    if (d[0] == 0) {
        return E_DATA;
    }
    if (o->lcso == LCS_TE) {
        return E_ACCESS;
    }
    int e = app_ac_check(app, o, ACC_EXE, c);
    if (e) {
        return e;
    }
    uint32_t value = app_be32(o->data), threshold = app_be32(o->data + 4);
    if (value >= threshold) {
        return E_COUNTER;
    }
    uint64_t nv = (uint64_t)value + d[0];
    app_put_be32(o->data, nv >= threshold ? threshold : (uint32_t)nv);
    app->dirty = true;
    return 0;
}

int app_cmd_set_data(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    (void)r;
    if (c->param != 0x00 && c->param != 0x01 && c->param != 0x02 && c->param != 0x40) {
        return E_PARAM;
    }
    if (c->in_len < 4) {
        return E_LENGTH;
    }
    uint16_t oid = app_be16(c->in);
    uint16_t offset = app_be16(c->in + 2);
    const uint8_t *d = c->in + 4;
    size_t n = c->in_len - 4;
    if (app_oid_is_session(oid)) {
        return E_ACCESS;
    }
    struct sim_obj *o = app_obj_find(app, oid);
    if (!o) {
        return E_OID;
    }
    if (c->param == 0x01) {
        if (offset != 0) {
            return E_DATA;
        }
        return app_meta_write(app, o, d, n, c);
    }
    if (c->param == 0x02) {
        return count(app, o, c, d, n);
    }
    if (o->kind != KIND_DATA) {
        return E_ACCESS; /* key data is never written with SetDataObject */
    }
    if (o->lcso == LCS_TE) {
        return E_ACCESS;
    }
    int e = app_ac_check(app, o, ACC_CHANGE, c);
    if (e) {
        return e;
    }
    if (n == 0 && c->param == 0x00) {
        return E_LENGTH;
    }
    if ((size_t)offset + n > o->max) {
        return E_BOUNDARY;
    }
    if (o->max == 1 && o->oid != 0xE0C9) {
        return write_special(app, o, c->param, offset, d, n);
    }
    if (c->param == 0x40) {
        memset(o->data, 0, o->max);
        o->used = 0;
    }
    memcpy(o->data + offset, d, n);
    if (offset + n > o->used) {
        o->used = (uint16_t)(offset + n);
    }
    app->dirty = true;
    return 0;
}
