/*
 * Simulator application: life cycle, command dispatcher, error reporting
 * (Sta 0xFF + last error in 0xF1C2), OpenApplication / CloseApplication with
 * hibernate, and the deterministic random source.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "app_int.h"

static const uint8_t AID[16] = {0xD2, 0x76, 0x00, 0x00, 0x04, 0x47, 0x65, 0x6E,
                                0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

uint16_t app_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t app_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void app_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void app_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int app_rsp_put(struct rsp *r, const uint8_t *p, size_t n)
{
    if (n > r->cap - r->len) {
        return E_MEMORY;
    }
    if (n) {
        memcpy(r->out + r->len, p, n);
    }
    r->len += n;
    return 0;
}

int app_rsp_tlv(struct rsp *r, uint8_t tag, const uint8_t *p, size_t n)
{
    uint8_t h[3] = {tag, (uint8_t)(n >> 8), (uint8_t)n};
    if (n > 0xFFFF || 3 + n > r->cap - r->len) {
        return E_MEMORY;
    }
    app_rsp_put(r, h, 3);
    return app_rsp_put(r, p, n);
}

int app_tlv_parse(const uint8_t *in, size_t in_len, struct tlv *out, int n)
{
    int count = 0;
    size_t i = 0;
    while (i < in_len) {
        if (in_len - i < 3) {
            return -E_LENGTH;
        }
        uint16_t l = app_be16(in + i + 1);
        if (l > in_len - i - 3) {
            return -E_LENGTH;
        }
        if (count == n) {
            return -E_DATA;
        }
        for (int k = 0; k < count; k++) {
            if (out[k].tag == in[i]) {
                return -E_DATA; /* a tag given twice is ambiguous */
            }
        }
        out[count].tag = in[i];
        out[count].len = l;
        out[count].v = in + i + 3;
        count++;
        i += 3u + l;
    }
    return count;
}

const struct tlv *app_tlv_find(const struct tlv *t, int n, uint8_t tag)
{
    for (int i = 0; i < n; i++) {
        if (t[i].tag == tag) {
            return &t[i];
        }
    }
    return NULL;
}

/* Deterministic entropy: SHA-256(seed || boot count || position). The
 * simulator is a test instrument, so reproducibility beats unpredictability. */
static int seeded_entropy(void *ctx, unsigned char *out, size_t len)
{
    struct sim_app *app = ctx;
    while (len) {
        uint8_t in[20], h[32];
        for (int i = 0; i < 8; i++) {
            in[i] = (uint8_t)(app->cfg.seed >> (56 - 8 * i));
            in[12 + i] = (uint8_t)(app->entropy_ctr >> (56 - 8 * i));
        }
        app_put_be32(in + 8, app->boot_count);
        app->entropy_ctr++;
        mbedtls_sha256_ret(in, sizeof in, h, 0);
        size_t n = len < sizeof h ? len : sizeof h;
        memcpy(out, h, n);
        out += n;
        len -= n;
    }
    return 0;
}

int app_random(struct sim_app *app, uint8_t *out, size_t len)
{
    while (len) {
        size_t n = len > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : len;
        if (mbedtls_ctr_drbg_random(&app->drbg, out, n) != 0) {
            return E_INTERNAL;
        }
        out += n;
        len -= n;
    }
    return 0;
}

int app_rng(void *ctx, unsigned char *out, size_t len)
{
    return app_random(ctx, out, len) ? -1 : 0;
}

static tma_status drbg_start(struct sim_app *app)
{
    static const char pers[] = "trustm-sim runtime";
    mbedtls_ctr_drbg_free(&app->drbg);
    mbedtls_ctr_drbg_init(&app->drbg);
    app->entropy_ctr = 0;
    if (mbedtls_ctr_drbg_seed(&app->drbg, seeded_entropy, app, (const unsigned char *)pers,
                              sizeof pers - 1) != 0) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_CRYPTO);
    }
    return TMA_OK;
}

static void sessions_clear(struct sim_session *s)
{
    mbedtls_platform_zeroize(s, sizeof(struct sim_session) * SESSION_COUNT);
}

static void volatile_reset(struct sim_app *app)
{
    app->open = false;
    app->last_error = 0;
    sessions_clear(app->sessions);
    memset(app->auto_oid, 0, sizeof app->auto_oid);
    app->hash_active = false;
    mbedtls_platform_zeroize(app->hash_ctx, sizeof app->hash_ctx);
    app_sym_free(app);
    app->sec_credit = 0;
    app->secmon_time_known = false;
    mbedtls_platform_zeroize(&app->pu, sizeof app->pu);
    struct sim_obj *g = app_obj_find(app, 0xE0C1);
    if (g) {
        g->data[0] = 0x20; /* boot-phase flag set after reset */
    }
}

tma_status sim_app_open(struct sim_app **out_app, const struct sim_app_config *cfg)
{
    if (!out_app || !cfg) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    *out_app = NULL;
    uint8_t version = cfg->version ? cfg->version : 3;
    if (version != 1 && version != 3) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    struct sim_app *app = calloc(1, sizeof *app);
    if (!app) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_FULL);
    }
    app->cfg = *cfg;
    app->cfg.version = version;
    app->cfg.state_path = NULL;
    app->state_lock_fd = -1;
    mbedtls_ctr_drbg_init(&app->drbg);
    tma_status st = TMA_OK;
    if (cfg->state_path) {
        app->state_path = strdup(cfg->state_path);
        if (!app->state_path) {
            st = TMA_ERR(TMA_LAYER_SIM, TMA_C_FULL);
            goto fail;
        }
        app->cfg.state_path = app->state_path;
        app->state_lock_fd = app_persist_lock(app->state_path, &st);
        if (app->state_lock_fd < 0) {
            goto fail;
        }
    }
    st = app_obj_table_init(app);
    if (st != TMA_OK) {
        goto fail;
    }
    bool fresh = true;
    if (app->state_path) {
        st = app_persist_load(app, app->state_path);
        if (st == TMA_OK) {
            fresh = false;
        } else if (st != TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND)) {
            goto fail; /* corrupt or unreadable: refuse, never reset silently */
        }
    }
    if (fresh) {
        app->boot_count = 0;
        st = app_factory_provision(app);
        if (st != TMA_OK) {
            goto fail;
        }
    }
    app->boot_count++;
    st = drbg_start(app);
    if (st != TMA_OK) {
        goto fail;
    }
    volatile_reset(app);
    if (app->state_path) {
        st = app_persist_save(app, app->state_path); /* records the boot count */
        if (st != TMA_OK) {
            goto fail;
        }
    }
    *out_app = app;
    return TMA_OK;
fail:
    sim_app_close(app);
    return st;
}

void sim_app_close(struct sim_app *app)
{
    if (!app) {
        return;
    }
    app_sym_free(app);
    app_obj_table_free(app);
    mbedtls_ctr_drbg_free(&app->drbg);
    free(app->state_path);
    if (app->state_lock_fd >= 0) {
        close(app->state_lock_fd);
    }
    mbedtls_platform_zeroize(app, sizeof *app);
    free(app);
}

void sim_app_reset(struct sim_app *app, bool power_cycle)
{
    (void)power_cycle; /* every reset type loses the same volatile state */
    if (app) {
        volatile_reset(app);
    }
}

bool sim_app_hibernated(const struct sim_app *app)
{
    return app && app->hibernated;
}

tma_status sim_app_set_prl_context(struct sim_app *app, const uint8_t *blob, size_t len)
{
    if (!app || (!blob && len) || len > PRL_CTX_MAX) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    if (len) {
        memcpy(app->prl_ctx, blob, len);
    }
    app->prl_ctx_len = len;
    if (app->state_path) {
        return app_persist_save(app, app->state_path);
    }
    return TMA_OK;
}

tma_status sim_app_get_prl_context(struct sim_app *app, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!app || !out_len || (!out && cap)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    *out_len = app->prl_ctx_len;
    if (cap < app->prl_ctx_len) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL);
    }
    if (app->prl_ctx_len) {
        memcpy(out, app->prl_ctx, app->prl_ctx_len);
    }
    return TMA_OK;
}

tma_status sim_app_pbs(struct sim_app *app, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!app || !out_len || (!out && cap)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    struct sim_obj *o = app_obj_find(app, 0xE140);
    if (!o) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_INTERNAL);
    }
    *out_len = o->used;
    if (cap < o->used) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL);
    }
    memcpy(out, o->data, o->used);
    return TMA_OK;
}

uint32_t sim_app_security_event(struct sim_app *app, uint64_t now_us)
{
    if (!app) {
        return 0;
    }
    app->busy_us = 0;
    app->dirty = false;
    app_secmon_tick(app, now_us);
    app_secmon_event(app, now_us);
    if (app->dirty && app->state_path) {
        (void)app_persist_save(app, app->state_path); /* SEC is NVM */
    }
    app->dirty = false;
    return app->busy_us;
}

/* ---- OpenApplication / CloseApplication ---- */

static int cmd_open_app(struct sim_app *app, const struct cmd *c)
{
    if (c->param > 0x01) {
        return E_PARAM;
    }
    size_t want = c->param == 0x00 ? 16u : 24u;
    if (c->in_len != want) {
        return E_LENGTH;
    }
    if (memcmp(c->in, AID, sizeof AID) != 0) {
        return E_DATA;
    }
    if (c->param == 0x00) {
        sessions_clear(app->sessions);
        if (app->hibernated) {
            /* a clean start invalidates any saved context */
            app->hibernated = false;
            sessions_clear(app->saved_sessions);
            mbedtls_platform_zeroize(app->handle, sizeof app->handle);
            app->prl_ctx_len = 0;
            app->dirty = true;
        }
    } else {
        if (!app->hibernated) {
            return E_SEQUENCE;
        }
        bool ok = memcmp(c->in + 16, app->handle, 8) == 0;
        if (!ok) {
            /* a bad handle flushes the saved context */
            app->hibernated = false;
            sessions_clear(app->saved_sessions);
            mbedtls_platform_zeroize(app->handle, sizeof app->handle);
            app->prl_ctx_len = 0;
            app->dirty = true;
            return E_DATA;
        }
        memcpy(app->sessions, app->saved_sessions, sizeof app->sessions);
        sessions_clear(app->saved_sessions);
        mbedtls_platform_zeroize(app->handle, sizeof app->handle);
        app->hibernated = false;
        app->dirty = true;
    }
    app->open = true;
    app->hash_active = false;
    app_sym_free(app);
    struct sim_obj *a = app_obj_find(app, 0xF1C1);
    if (a) {
        a->data[0] = 0x20; /* boot-phase flag of the application */
    }
    return 0;
}

static int cmd_close_app(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    if (c->param > 0x01) {
        return E_PARAM;
    }
    if (c->in_len != 0) {
        return E_LENGTH;
    }
    if (c->param == 0x01) {
        if (app->sec > 0) {
            return E_SEQUENCE;
        }
        uint8_t h[8];
        if (app_random(app, h, sizeof h)) {
            return E_INTERNAL;
        }
        memcpy(app->handle, h, sizeof h);
        memcpy(app->saved_sessions, app->sessions, sizeof app->sessions);
        app->hibernated = true;
        app->prl_ctx_len = 0; /* the protocol engine stores its context next */
        app->dirty = true;
        int e = app_rsp_put(r, h, sizeof h);
        if (e) {
            return e;
        }
    }
    sessions_clear(app->sessions);
    memset(app->auto_oid, 0, sizeof app->auto_oid);
    app->hash_active = false;
    app_sym_free(app);
    app->open = false;
    return 0;
}

static bool command_known(const struct sim_app *app, uint8_t code)
{
    switch (code) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x0C:
    case 0x1E:
    case 0x1F:
    case 0x30:
    case 0x31:
    case 0x32:
    case 0x33:
    case 0x34:
    case 0x38:
    case 0x70:
    case 0x71:
        return true;
    case 0x14:
    case 0x15:
    case 0x39:
        return app->cfg.version >= 3;
    default:
        return false;
    }
}

static int dispatch(struct sim_app *app, const struct cmd *c, struct rsp *r)
{
    switch (c->code) {
    case 0x01:
        return app_cmd_get_data(app, c, r);
    case 0x02:
        return app_cmd_set_data(app, c, r);
    case 0x03:
        return app_cmd_set_object_protected(app, c, r);
    case 0x0C:
        return app_cmd_get_random(app, c, r);
    case 0x14:
        return app_cmd_encrypt_sym(app, c, r);
    case 0x15:
        return app_cmd_decrypt_sym(app, c, r);
    case 0x1E:
        return app_cmd_encrypt_asym(app, c, r);
    case 0x1F:
        return app_cmd_decrypt_asym(app, c, r);
    case 0x30:
        return app_cmd_calc_hash(app, c, r);
    case 0x31:
        return app_cmd_calc_sign(app, c, r);
    case 0x32:
        return app_cmd_verify_sign(app, c, r);
    case 0x33:
        return app_cmd_calc_ssec(app, c, r);
    case 0x34:
        return app_cmd_derive_key(app, c, r);
    case 0x38:
        return app_cmd_gen_keypair(app, c, r);
    case 0x39:
        return app_cmd_gen_symkey(app, c, r);
    case 0x70:
        return cmd_open_app(app, c);
    case 0x71:
        return cmd_close_app(app, c, r);
    default:
        return E_COMMAND;
    }
}

tma_status sim_app_execute(struct sim_app *app, const struct sim_sec *sec, uint64_t now_us,
                           const uint8_t *apdu, size_t apdu_len, uint8_t *rsp, size_t rsp_cap,
                           size_t *rsp_len, uint32_t *busy_us)
{
    static const struct sim_sec plain = {false, false, false, false};
    if (!app || !rsp || rsp_cap < 4 || !rsp_len || !busy_us || (!apdu && apdu_len)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    *rsp_len = 0;
    *busy_us = 0;
    app->busy_us = 0;
    app->dirty = false;
    app->last_algo = 0;
    app_secmon_tick(app, now_us);

    struct cmd c = {0};
    c.sec = sec ? sec : &plain;
    c.now_us = now_us;
    struct rsp r = {rsp + 4, rsp_cap - 4 < APP_DATA_MAX ? rsp_cap - 4 : APP_DATA_MAX, 0};
    int err;
    if (apdu_len < 4) {
        if (apdu_len >= 1 && (apdu[0] & 0x80)) {
            app->last_error = 0;
        }
        err = E_LENGTH;
    } else {
        if (apdu[0] & 0x80) {
            app->last_error = 0;
        }
        c.code = apdu[0] & 0x7F;
        c.param = apdu[1];
        c.in = apdu + 4;
        c.in_len = apdu_len - 4;
        if (!command_known(app, c.code)) {
            err = E_COMMAND;
        } else if (app_be16(apdu + 2) != apdu_len - 4) {
            err = E_LENGTH;
        } else if (apdu_len - 4 > APP_DATA_MAX) {
            err = E_LENGTH;
        } else if (!app->open && c.code != 0x70) {
            err = E_NOT_AVAIL;
        } else {
            err = dispatch(app, &c, &r);
        }
    }
    tma_status st = TMA_OK;
    if (app->dirty && app->state_path) {
        st = app_persist_save(app, app->state_path);
        if (st != TMA_OK) {
            /* NVM write failed: the command did not happen. Roll the persistent
             * state back to what the file holds, so memory and NVM agree. */
            if (app_persist_load(app, app->state_path) != TMA_OK) {
                st = TMA_ERR(TMA_LAYER_STORE, TMA_C_FAILED);
            }
            err = err > E_INTERNAL ? err : E_INTERNAL;
        }
    }
    if (err) {
        if (err > app->last_error) {
            app->last_error = (uint8_t)err;
        }
        rsp[0] = 0xFF;
        rsp[1] = 0x00;
        rsp[2] = 0x00;
        rsp[3] = 0x00;
        mbedtls_platform_zeroize(r.out, r.len);
        r.len = 0;
    } else {
        rsp[0] = 0x00;
        rsp[1] = 0x00;
        app_put_be16(rsp + 2, (uint16_t)r.len);
    }
    *rsp_len = 4 + r.len;
    *busy_us = app_timing_us(app, &c, r.len, err == 0) + app->busy_us;
    return st;
}
