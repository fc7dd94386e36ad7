/*
 * Metadata (spec section 8): encoding, metadata writes with the change rule
 * of each tag, and evaluation of simple and complex access conditions.
 */
#include <string.h>

#include "app_int.h"

#define LCS_OP 0x07
#define LCS_TE 0x0F

/* ---- encoding ---- */

static size_t put_tag(uint8_t *out, size_t i, uint8_t tag, const uint8_t *v, size_t n)
{
    out[i++] = tag;
    out[i++] = (uint8_t)n;
    memcpy(out + i, v, n);
    return i + n;
}

static size_t put_size(uint8_t *out, size_t i, uint8_t tag, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return v < 256 ? put_tag(out, i, tag, b + 1, 1) : put_tag(out, i, tag, b, 2);
}

static size_t meta_body(const struct sim_app *app, const struct sim_obj *o, uint8_t *out)
{
    size_t i = 0;
    if (o->lcso) {
        i = put_tag(out, i, 0xC0, &o->lcso, 1);
    }
    if (o->has_version) {
        uint8_t v[2] = {(uint8_t)(o->version >> 8), (uint8_t)o->version};
        i = put_tag(out, i, 0xC1, v, 2);
    }
    if (o->kind == KIND_DATA) {
        i = put_size(out, i, 0xC4, o->max);
        uint16_t used = o->used;
        if (o->oid == 0xF1C2 || o->oid == 0xE0C5) {
            used = 1;
        }
        i = put_size(out, i, 0xC5, used);
    }
    if (o->change.len) {
        i = put_tag(out, i, 0xD0, o->change.b, o->change.len);
    }
    if (o->read.len) {
        i = put_tag(out, i, 0xD1, o->read.b, o->read.len);
    }
    if (o->exe.len) {
        i = put_tag(out, i, 0xD3, o->exe.b, o->exe.len);
    }
    if (o->mupd.len) {
        i = put_tag(out, i, 0xD8, o->mupd.b, o->mupd.len);
    }
    if (o->kind != KIND_DATA && o->algo && o->used) {
        i = put_tag(out, i, 0xE0, &o->algo, 1);
    }
    if (o->kind != KIND_DATA && o->has_usage) {
        i = put_tag(out, i, 0xE1, &o->usage, 1);
    }
    if (o->has_type) {
        i = put_tag(out, i, 0xE8, &o->type, 1);
    }
    if (o->has_reset && app->cfg.version >= 3) {
        i = put_tag(out, i, 0xF0, &o->reset, 1);
    }
    return i;
}

size_t app_meta_encode(const struct sim_app *app, const struct sim_obj *o, uint8_t *out)
{
    /* body is at most 42 bytes: meta_write refuses anything longer */
    uint8_t body[128];
    size_t n = meta_body(app, o, body);
    out[0] = 0x20;
    out[1] = (uint8_t)n;
    memcpy(out + 2, body, n);
    return n + 2;
}

/* ---- access conditions ---- */

static bool is_op(uint8_t b)
{
    return b == 0xFA || b == 0xFB || b == 0xFC;
}

/* Length of the simple AC starting at b[0], or 0 if it is not one. */
static size_t simple_len(const uint8_t *b, size_t n)
{
    if (n == 0) {
        return 0;
    }
    switch (b[0]) {
    case 0x10:
    case 0x90:
        return n >= 2 ? 2 : 0;
    case 0x20:
    case 0x21:
    case 0x23:
    case 0x40:
        return n >= 3 ? 3 : 0;
    case 0x70:
    case 0xE0:
    case 0xE1:
        return n >= 3 && is_op(b[1]) ? 3 : 0;
    default:
        return 0;
    }
}

bool app_ac_valid(const uint8_t *b, size_t len)
{
    if (len == 0 || len > AC_MAX) {
        return false;
    }
    if (len == 1) {
        return b[0] == 0x00 || b[0] == 0xFF;
    }
    size_t i = 0;
    int tokens = 1, simples = 0;
    for (;;) {
        size_t l = simple_len(b + i, len - i);
        if (!l) {
            return false;
        }
        i += l;
        if (++simples > 7) {
            return false;
        }
        if (i == len) {
            return true;
        }
        if (b[i] == 0xFD) {
            i++;
        } else if (b[i] == 0xFE) {
            i++;
            simples = 0;
            if (++tokens > 3) {
                return false;
            }
        } else {
            return false;
        }
        if (i == len) {
            return false; /* dangling operator */
        }
    }
}

static bool cmp(uint8_t have, uint8_t op, uint8_t want)
{
    switch (op) {
    case 0xFA:
        return have == want;
    case 0xFB:
        return have > want;
    case 0xFC:
        return have < want;
    default:
        return false;
    }
}

static uint8_t obj_byte(struct sim_app *app, uint16_t oid)
{
    struct sim_obj *x = app_obj_find(app, oid);
    return x ? x->data[0] : 0;
}

static bool simple_eval(struct sim_app *app, const struct sim_obj *o, const uint8_t *b,
                        const struct cmd *c, enum access a)
{
    uint16_t oid = (uint16_t)((b[1] << 8) | (b[0] == 0x10 || b[0] == 0x90 ? 0 : b[2]));
    switch (b[0]) {
    case 0x10:
        return app->cfg.version >= 3 && (obj_byte(app, 0xE0C1) & b[1]) == b[1];
    case 0x90:
        return app->cfg.version >= 3 && (obj_byte(app, 0xF1C1) & b[1]) == b[1];
    case 0x20: /* Conf: protected (encrypted) transfer with the binding secret, or a
                  protected update whose payload is encrypted with this secret */
        if (c && c->conf_oid && c->conf_oid == oid) {
            return true;
        }
        if (oid != 0xE140 || !c || !c->sec->session) {
            return false;
        }
        return a == ACC_READ ? c->sec->rsp_protected : c->sec->cmd_protected;
    case 0x21: /* Int: MAC'd transfer with the binding secret (the response
                  for a read, the command otherwise: SRM Tab.44), or a
                  protected update whose manifest this trust anchor verified */
        if (c && c->int_oid && c->int_oid == oid) {
            return true;
        }
        if (oid != 0xE140 || !c || !c->sec->session) {
            return false;
        }
        return a == ACC_READ ? c->sec->rsp_protected : c->sec->cmd_protected;
    case 0x23:
        if (app->cfg.version < 3) {
            return false;
        }
        for (int i = 0; i < AUTO_MAX; i++) {
            if (app->auto_oid[i] && app->auto_oid[i] == oid) {
                return true;
            }
        }
        return false;
    case 0x40: {
        struct sim_obj *ctr = app_obj_find(app, oid);
        if (!ctr || !ctr->has_type || ctr->type != 0x01 || ctr->used != 8) {
            return false;
        }
        return app_be32(ctr->data) < app_be32(ctr->data + 4);
    }
    case 0x70:
        return cmp(obj_byte(app, 0xE0C0), b[1], b[2]);
    case 0xE0:
        return cmp(obj_byte(app, 0xF1C0), b[1], b[2]);
    case 0xE1:
        return cmp(o->lcso ? o->lcso : LCS_OP, b[1], b[2]);
    default:
        return false;
    }
}

bool app_ac_eval(struct sim_app *app, const struct sim_obj *o, const struct ac *ac,
                 const struct cmd *c, enum access a)
{
    if (!ac || ac->len == 0 || !app_ac_valid(ac->b, ac->len)) {
        return false; /* absent = NEV; malformed never grants */
    }
    if (ac->len == 1) {
        return ac->b[0] == 0x00;
    }
    size_t i = 0;
    bool token = true;
    for (;;) {
        size_t l = simple_len(ac->b + i, ac->len - i);
        token = token && simple_eval(app, o, ac->b + i, c, a);
        i += l;
        if (i == ac->len) {
            return token;
        }
        if (ac->b[i] == 0xFE) {
            if (token) {
                return true;
            }
            token = true;
        }
        i++;
    }
}

/* Each execution under a Luc(counter) condition advances that counter. */
static void luc_advance(struct sim_app *app, const struct ac *ac)
{
    if (ac->len < 3) {
        return;
    }
    size_t i = 0;
    while (i < ac->len) {
        size_t l = simple_len(ac->b + i, ac->len - i);
        if (!l) {
            return;
        }
        if (ac->b[i] == 0x40) {
            struct sim_obj *ctr = app_obj_find(app, (uint16_t)((ac->b[i + 1] << 8) | ac->b[i + 2]));
            if (ctr && ctr->used == 8) {
                uint32_t v = app_be32(ctr->data), t = app_be32(ctr->data + 4);
                if (v < t) {
                    app_put_be32(ctr->data, v + 1);
                    app->dirty = true;
                }
            }
        }
        i += l + 1;
    }
}

int app_ac_check(struct sim_app *app, const struct sim_obj *o, enum access a, const struct cmd *c)
{
    const struct ac *ac = a == ACC_READ     ? &o->read
                          : a == ACC_CHANGE ? &o->change
                          : a == ACC_EXE    ? &o->exe
                                            : &o->mupd;
    if (o->lcso == LCS_TE && a != ACC_MUPD) {
        return E_ACCESS;
    }
    if (!app_ac_eval(app, o, ac, c, a)) {
        return E_ACCESS;
    }
    if (a == ACC_EXE) {
        luc_advance(app, ac);
    }
    return 0;
}

/* ---- metadata write ---- */

static bool type_ok(const struct sim_app *app, uint8_t t)
{
    switch (t) {
    case 0x00:
    case 0x01:
    case 0x11:
    case 0x12:
    case 0x21:
    case 0x22:
        return true;
    case 0x23:
    case 0x31:
        return app->cfg.version >= 3;
    default:
        return false;
    }
}

int app_meta_write(struct sim_app *app, struct sim_obj *o, const uint8_t *in, size_t len,
                   const struct cmd *c)
{
    /* a verified protected metadata update may change every writable tag,
     * in any life-cycle state (spec 8.4, 9.7) */
    bool privileged = c && c->int_oid;
    if (len < 2 || in[0] != 0x20) {
        return E_METADATA;
    }
    if (in[1] != len - 2) {
        return E_METADATA;
    }
    if (len > META_MAX) {
        return E_METADATA;
    }
    struct sim_obj n = *o;
    uint8_t cur = o->lcso;
    bool unlocked = privileged || (cur != 0 && cur < LCS_OP); /* most tags: LcsO < op */
    uint32_t seen = 0;
    size_t i = 2;
    while (i < len) {
        if (len - i < 2 || in[i + 1] > len - i - 2) {
            return E_METADATA;
        }
        uint8_t tag = in[i], l = in[i + 1];
        const uint8_t *v = in + i + 2;
        i += 2u + l;
        int bit;
        switch (tag) {
        case 0xC0:
            bit = 0;
            break;
        case 0xC1:
            bit = 1;
            break;
        case 0xC4:
            bit = 2;
            break;
        case 0xC5:
            bit = 3;
            break;
        case 0xD0:
            bit = 4;
            break;
        case 0xD1:
            bit = 5;
            break;
        case 0xD3:
            bit = 6;
            break;
        case 0xD8:
            bit = 7;
            break;
        case 0xE0:
            bit = 8;
            break;
        case 0xE1:
            bit = 9;
            break;
        case 0xE8:
            bit = 10;
            break;
        case 0xF0:
            bit = 11;
            break;
        default:
            return E_DATA;
        }
        if (seen & (1u << bit)) {
            return E_DATA;
        }
        seen |= 1u << bit;
        switch (tag) {
        case 0xC0:
            if (l != 1 || (v[0] != 0x01 && v[0] != 0x03 && v[0] != 0x07 && v[0] != 0x0F)) {
                return E_DATA;
            }
            if (!privileged && cur == 0) {
                return E_ACCESS; /* no LcsO: behaves as operational, frozen */
            }
            if (!privileged && v[0] < cur) {
                return E_DATA; /* life-cycle state only moves forward */
            }
            n.lcso = v[0];
            break;
        case 0xC4:
        case 0xC5:
        case 0xE0:
            return E_ACCESS; /* maintained by the chip */
        case 0xC1:
            if (privileged) {
                return E_DATA; /* the version comes from the manifest */
            }
            if (!unlocked) {
                return E_ACCESS;
            }
            if (l != 2 || app->cfg.version < 3) {
                return E_DATA;
            }
            n.has_version = true;
            n.version = (uint16_t)((v[0] << 8) | v[1]);
            break;
        case 0xD0:
        case 0xD1:
        case 0xD3:
        case 0xD8: {
            if (!unlocked) {
                return E_ACCESS;
            }
            if (tag == 0xD8 && app->cfg.version < 3) {
                return E_DATA;
            }
            if (!app_ac_valid(v, l)) {
                return E_DATA;
            }
            struct ac *dst = tag == 0xD0   ? &n.change
                             : tag == 0xD1 ? &n.read
                             : tag == 0xD3 ? &n.exe
                                           : &n.mupd;
            memset(dst, 0, sizeof *dst);
            memcpy(dst->b, v, l);
            dst->len = l;
            break;
        }
        case 0xE1:
            if (!unlocked) {
                return E_ACCESS;
            }
            if (l != 1 || o->kind == KIND_DATA || (v[0] & (uint8_t)~0x33u) != 0) {
                return E_DATA;
            }
            n.has_usage = true;
            n.usage = v[0];
            break;
        case 0xE8:
            if (!unlocked) {
                return E_ACCESS;
            }
            if (l != 1 || o->kind != KIND_DATA || !type_ok(app, v[0])) {
                return E_DATA;
            }
            n.has_type = v[0] != 0x00;
            n.type = v[0];
            break;
        case 0xF0: {
            if (!unlocked) {
                return E_ACCESS;
            }
            if (l != 1 || app->cfg.version < 3) {
                return E_DATA;
            }
            uint8_t hi = v[0] & 0xF0, lo = v[0] & 0x0F;
            if ((hi != 0x00 && hi != 0x10 && hi != 0x20) ||
                (lo != 0 && lo != 1 && lo != 3 && lo != 7 && lo != 0xF)) {
                return E_DATA;
            }
            n.has_reset = true;
            n.reset = v[0];
            break;
        }
        default:
            return E_DATA;
        }
    }
    uint8_t body[128];
    if (meta_body(app, &n, body) > META_MAX - 2) {
        return E_METADATA; /* would not fit the 44-byte metadata */
    }
    *o = n;
    app->dirty = true;
    return 0;
}
