/*
 * Chip state in one file, like NVM.
 *
 * File = "TMSIMNV1" | format version (4, BE) | payload length (4, BE) |
 *        payload | SHA-256 over everything before it.
 * Writes are atomic: write <path>.tmp, fsync, rename over <path>, fsync the
 * directory. A crash at any point leaves either the old or the new file.
 * A file that fails any check is refused with a clear status, never reset.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "app_int.h"

#define MAGIC "TMSIMNV1"
#define FORMAT_VERSION 1u
#define FILE_MAX (512u * 1024u)

int sim_persist_crash_point;

struct buf {
    uint8_t *p;
    size_t len, cap;
    bool bad;
};

static void put(struct buf *b, const void *v, size_t n)
{
    if (b->bad || n > b->cap - b->len) {
        b->bad = true;
        return;
    }
    memcpy(b->p + b->len, v, n);
    b->len += n;
}

static void put8(struct buf *b, uint8_t v)
{
    put(b, &v, 1);
}

static void put16(struct buf *b, uint16_t v)
{
    uint8_t x[2];
    app_put_be16(x, v);
    put(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
    uint8_t x[4];
    app_put_be32(x, v);
    put(b, x, 4);
}

static void put_ac(struct buf *b, const struct ac *ac)
{
    put8(b, ac->len);
    put(b, ac->b, ac->len);
}

static void put_sessions(struct buf *b, const struct sim_session *s)
{
    for (int i = 0; i < SESSION_COUNT; i++) {
        put8(b, s[i].kind);
        put8(b, s[i].algo);
        put8(b, s[i].usage);
        put8(b, s[i].len);
        put(b, s[i].data, sizeof s[i].data);
    }
}

static void serialize(const struct sim_app *app, struct buf *b)
{
    put(b, MAGIC, 8);
    put32(b, FORMAT_VERSION);
    put32(b, 0); /* payload length, patched below */
    size_t start = b->len;
    put32(b, (uint32_t)(app->cfg.seed >> 32));
    put32(b, (uint32_t)app->cfg.seed);
    put8(b, app->cfg.version);
    put32(b, app->boot_count);
    put8(b, app->sec);
    put8(b, app->hibernated ? 1 : 0);
    put(b, app->handle, sizeof app->handle);
    put_sessions(b, app->saved_sessions);
    put16(b, (uint16_t)app->prl_ctx_len);
    put(b, app->prl_ctx, app->prl_ctx_len);
    put16(b, (uint16_t)app->nobjs);
    for (size_t i = 0; i < app->nobjs; i++) {
        const struct sim_obj *o = &app->objs[i];
        put16(b, o->oid);
        put8(b, o->kind);
        put16(b, o->max);
        put16(b, o->used);
        put8(b, o->lcso);
        put_ac(b, &o->change);
        put_ac(b, &o->read);
        put_ac(b, &o->exe);
        put_ac(b, &o->mupd);
        put8(b, o->has_type);
        put8(b, o->type);
        put8(b, o->has_usage);
        put8(b, o->usage);
        put8(b, o->algo);
        put8(b, o->has_reset);
        put8(b, o->reset);
        put8(b, o->has_version);
        put16(b, o->version);
        put(b, o->data, o->used);
    }
    if (!b->bad) {
        app_put_be32(b->p + 12, (uint32_t)(b->len - start));
        uint8_t h[32];
        mbedtls_sha256_ret(b->p, b->len, h, 0);
        put(b, h, sizeof h);
    }
}

static tma_status write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
        }
        p += w;
        n -= (size_t)w;
    }
    return TMA_OK;
}

tma_status app_persist_save(struct sim_app *app, const char *path)
{
    struct buf b = {malloc(FILE_MAX), 0, FILE_MAX, false};
    if (!b.p) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    }
    serialize(app, &b);
    tma_status st = TMA_OK;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    char *dir = malloc(pl + 2);
    if (b.bad || !tmp || !dir) {
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
        goto out;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    /* The file holds every key of the chip: always a new inode made 0600 here,
     * never a leftover PATH.tmp reused (O_TRUNC kept its mode, e.g. 0644, and
     * the rename then published it) nor written through a link. Under the
     * state lock PATH.tmp can only be a dead writer's. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
        goto out;
    }
    st = sim_persist_crash_point == 2 ? TMA_ERR(TMA_LAYER_STORE, TMA_C_IO) /* test: disk full */
                                      : write_all(fd, b.p, b.len);
    if (st == TMA_OK && fsync(fd) != 0) {
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    if (close(fd) != 0 && st == TMA_OK) {
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    if (st != TMA_OK) {
        unlink(tmp);
        goto out;
    }
    if (sim_persist_crash_point == 1) {
        _exit(0); /* test hook: die between the temp write and the rename */
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
        goto out;
    }
    /* make the rename itself durable */
    memcpy(dir, path, pl + 1);
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        slash[1] = '\0';
    } else if (slash) {
        *slash = '\0';
    } else {
        dir[0] = '.';
        dir[1] = '\0';
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0) {
            st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
        }
        close(dfd);
    }
out:
    if (b.p) {
        mbedtls_platform_zeroize(b.p, b.len);
    }
    free(b.p);
    free(tmp);
    free(dir);
    return st;
}

/* ---- load ---- */

struct rd {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
};

static void get(struct rd *r, void *out, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p + r->pos, n);
    r->pos += n;
}

static uint8_t get8(struct rd *r)
{
    uint8_t v;
    get(r, &v, 1);
    return v;
}

static uint16_t get16(struct rd *r)
{
    uint8_t x[2];
    get(r, x, 2);
    return app_be16(x);
}

static uint32_t get32(struct rd *r)
{
    uint8_t x[4];
    get(r, x, 4);
    return app_be32(x);
}

static void get_ac(struct rd *r, struct ac *ac)
{
    memset(ac, 0, sizeof *ac);
    ac->len = get8(r);
    if (ac->len > AC_MAX) {
        r->bad = true;
        return;
    }
    get(r, ac->b, ac->len);
    if (ac->len && !app_ac_valid(ac->b, ac->len)) {
        r->bad = true;
    }
}

static void get_sessions(struct rd *r, struct sim_session *s)
{
    for (int i = 0; i < SESSION_COUNT; i++) {
        s[i].kind = get8(r);
        s[i].algo = get8(r);
        s[i].usage = get8(r);
        s[i].len = get8(r);
        get(r, s[i].data, sizeof s[i].data);
        if (s[i].kind > SESS_RANDOM || s[i].len > sizeof s[i].data) {
            r->bad = true;
        }
    }
}

static tma_status parse(struct sim_app *app, const uint8_t *p, size_t n)
{
    const tma_status bad = TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED);
    if (n < 16 + 32 || memcmp(p, MAGIC, 8) != 0) {
        return bad;
    }
    if (app_be32(p + 8) != FORMAT_VERSION) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_UNSUPPORTED);
    }
    if ((size_t)app_be32(p + 12) != n - 16 - 32) {
        return bad;
    }
    uint8_t h[32];
    mbedtls_sha256_ret(p, n - 32, h, 0);
    if (memcmp(h, p + n - 32, 32) != 0) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_INTEGRITY);
    }
    struct rd r = {p + 16, n - 16 - 32, 0, false};
    uint64_t seed = (uint64_t)get32(&r) << 32;
    seed |= get32(&r);
    uint8_t version = get8(&r);
    if (version != 1 && version != 3) {
        return bad;
    }
    if (version != app->cfg.version) {
        /* the file defines the chip: rebuild the table for its version */
        app_obj_table_free(app);
        app->cfg.version = version;
        tma_status st = app_obj_table_init(app);
        if (st != TMA_OK) {
            return st;
        }
    }
    app->cfg.seed = seed;
    app->boot_count = get32(&r);
    app->sec = get8(&r);
    uint8_t hib = get8(&r);
    app->hibernated = hib == 1;
    get(&r, app->handle, sizeof app->handle);
    get_sessions(&r, app->saved_sessions);
    app->prl_ctx_len = get16(&r);
    if (hib > 1 || app->prl_ctx_len > PRL_CTX_MAX) {
        return bad;
    }
    get(&r, app->prl_ctx, app->prl_ctx_len);
    uint16_t nobjs = get16(&r);
    for (uint16_t i = 0; i < nobjs && !r.bad; i++) {
        uint16_t oid = get16(&r);
        struct sim_obj *o = app_obj_find(app, oid);
        struct sim_obj t;
        memset(&t, 0, sizeof t);
        t.oid = oid;
        t.kind = get8(&r);
        t.max = get16(&r);
        t.used = get16(&r);
        t.lcso = get8(&r);
        get_ac(&r, &t.change);
        get_ac(&r, &t.read);
        get_ac(&r, &t.exe);
        get_ac(&r, &t.mupd);
        t.has_type = get8(&r);
        t.type = get8(&r);
        t.has_usage = get8(&r);
        t.usage = get8(&r);
        t.algo = get8(&r);
        t.has_reset = get8(&r);
        t.reset = get8(&r);
        t.has_version = get8(&r);
        t.version = get16(&r);
        if (!o || o->kind != t.kind || o->max != t.max || t.used > t.max) {
            return bad;
        }
        t.data = o->data;
        memset(t.data, 0, t.max);
        get(&r, t.data, t.used);
        *o = t;
    }
    if (r.bad || r.pos != r.len) {
        return bad;
    }
    return TMA_OK;
}

int app_persist_lock(const char *path, tma_status *st)
{
    size_t n = strlen(path);
    char *lock = malloc(n + sizeof ".lock");
    int fd = -1;
    *st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    if (!lock) {
        *st = TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
        return -1;
    }
    memcpy(lock, path, n);
    memcpy(lock + n, ".lock", sizeof ".lock");
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock);
    if (fd < 0) {
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            *st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IN_USE);
        }
        close(fd);
        return -1;
    }
    *st = TMA_OK;
    return fd;
}

tma_status app_persist_load(struct sim_app *app, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return errno == ENOENT ? TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND)
                               : TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    uint8_t *p = malloc(FILE_MAX + 1);
    if (!p) {
        fclose(f);
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    }
    size_t n = fread(p, 1, FILE_MAX + 1, f);
    bool err = ferror(f) != 0;
    fclose(f);
    tma_status st;
    if (err) {
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    } else if (n > FILE_MAX) {
        st = TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED);
    } else {
        st = parse(app, p, n);
    }
    mbedtls_platform_zeroize(p, n < FILE_MAX ? n : FILE_MAX);
    free(p);
    return st;
}

tma_status app_persist_snapshot(struct sim_app *app, uint8_t **out, size_t *out_len)
{
    struct buf b = {malloc(FILE_MAX), 0, FILE_MAX, false};
    if (!b.p) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    }
    serialize(app, &b);
    if (b.bad) {
        free(b.p);
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    }
    *out = b.p;
    *out_len = b.len;
    return TMA_OK;
}

tma_status app_persist_restore(struct sim_app *app, const uint8_t *p, size_t len)
{
    return parse(app, p, len);
}
