/*
 * localhub mosquitto plugin (v5 plugin API, mosquitto 2.0): makes the broker
 * treat devices the way Azure IoT Hub and DPS do.
 *
 *  - BASIC_AUTH: user name / client id / certificate / SAS checks; every
 *    failure is MOSQ_ERR_AUTH (CONNACK 5 on MQTT 3.1.1).
 *  - ACL_CHECK: a device subscribes and publishes only to its own topics.
 *  - MESSAGE: telemetry is stored (telemetry.jsonl), twin / method / DPS
 *    requests are answered; nothing a device publishes is routed by the broker.
 *  - TICK: polls the registry for work queued by the CLI (C2D messages,
 *    desired-property pushes, method calls), kicks expired SAS sessions.
 *  - DISCONNECT: connection state bookkeeping.
 *
 * Options: plugin_opt_state_dir <dir> (required). Settings of `localhub start`
 * come from the registry's meta table: telemetry_max_bytes / telemetry_keep
 * (rotation of telemetry.jsonl), dps_op_retention_s (pruning of dps_ops).
 *
 * Clocks: periodic work and method timeouts run on CLOCK_MONOTONIC
 * (localhub_mono_ms), so a step of the wall clock neither stops nor rushes
 * them; the wall clock is kept for what is wall-clock time (SAS and C2D
 * expiries, timestamps).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "localhub_db.h"
#include "localhub_parse.h"
#include "localhub_pki.h"

#define D2C_MAX_SIZE (256 * 1024)
#define TICK_PERIOD_MS 20
#define PRUNE_PERIOD_MS 1000
#define PKI_CHECK_PERIOD_MS (24LL * 3600 * 1000)
/* Defaults of the settings `localhub start` can change (docs/localhub.md) */
#define TELEMETRY_MAX_BYTES_DEFAULT (64LL * 1024 * 1024)
#define TELEMETRY_KEEP_DEFAULT 3
#define DPS_OP_RETENTION_S_DEFAULT 3600
#define CONN_BUCKETS 4096

struct conn {
    struct mosquitto *client;
    char id[LOCALHUB_ID_MAX + 1];     /* device (or registration) id */
    char module[LOCALHUB_ID_MAX + 1]; /* module id, "" for a device */
    char key[2 * LOCALHUB_ID_MAX + 2];/* client id: "{d}" or "{d}/{m}" (twin, methods, kicks) */
    int is_dps;
    int subs;               /* LOCALHUB_S_* bits of this session */
    int64_t sas_expiry_s;   /* 0 when not SAS */
    const char *auth_type;  /* "x509Certificate" / "sas" */
    int64_t generation;
    int gone;               /* DISCONNECT seen; kept until the next tick for its Will */
    char model_id[256];     /* PnP model id from the user name -> dt-dataschema */
    /* DPS: what the registration will create in the hub */
    int dps_enabled;
    char dps_device_id[LOCALHUB_ID_MAX + 1];
    char dps_auth[24];
    char dps_thumb[65];
    char dps_key[64];
    struct conn *next;
};

struct kick {
    char id[2 * LOCALHUB_ID_MAX + 2]; /* a client id: "{d}" or "{d}/{m}" (struct conn.key) */
    struct kick *next;
};

/* A kick_requests row done, its row not deleted yet (registry locked). */
struct kick_done {
    struct kick_done *next;
    int64_t rowid;
    char device[]; /* the row's device: a VACUUM renumbers the rows */
};

/* Registry writes kept in memory until the write lock can be had without
 * waiting (flush_pending()): bookkeeping a device's answer does not depend
 * on, and a device's method response, which must not be lost. */
struct pend_state { /* connection state of a device or module */
    struct pend_state *next;
    char id[LOCALHUB_ID_MAX + 1];
    char module[LOCALHUB_ID_MAX + 1]; /* "" for a device */
    char state[16];
    int64_t at_s;                     /* last_activity */
    int subs, set_subs;               /* subs (and a device's had_session) written when set_subs */
};

struct pend_purge { /* a CleanSession CONNECT drops the C2D queued until then */
    struct pend_purge *next;
    char device[LOCALHUB_ID_MAX + 1];
    int64_t max_seq;
};

struct pend_mres { /* a device's answer to a direct method */
    struct pend_mres *next;
    int64_t id;
    int status, len;
    char key[2 * LOCALHUB_ID_MAX + 2];
    char payload[];
};

static struct {
    mosquitto_plugin_id_t *pid;
    sqlite3 *db;
    FILE *telemetry;
    char state_dir[2048];
    char hostname[LOCALHUB_HOST_MAX + 1];
    char id_scope[64];
    STACK_OF(X509) *(*chain_for)(X509 *leaf);
    int64_t last_tick_mono_ms;  /* CLOCK_MONOTONIC */
    int64_t last_prune_mono_ms; /* CLOCK_MONOTONIC */
    int64_t last_pki_check_mono_ms;
    int reloading;              /* between MOSQ_EVT_RELOAD and the next tick */
    int own_reload;             /* the SIGHUP came from check_pki() */
    int pki_check_now;          /* after an operator's reload: at the next tick */
    int64_t telemetry_seq;
    int64_t telemetry_size;     /* bytes in telemetry.jsonl */
    int64_t telemetry_max;      /* rotate before a line would pass this */
    int telemetry_keep;         /* telemetry.jsonl.1 .. .N */
    int64_t telemetry_errors;   /* failed writes, also meta telemetry_write_errors */
    int64_t dps_retention_s;
    int64_t generation;
    struct conn *buckets[CONN_BUCKETS];
    struct kick *kicks;
    struct kick_done *kicks_done; /* kick_requests rows done, not yet deleted */
    struct pend_state *pend_states;
    struct pend_purge *pend_purges;
    struct pend_mres *pend_mres, **pend_mres_tail;
    int pend_tel_errors;        /* telemetry_write_errors to write */
    int pend_fail_logged;
    int busy_seen;              /* a request found the registry locked at busy_seen_mono_ms */
    int64_t busy_seen_mono_ms;
} g;

/* ------------------------------------------------------------------ */
/* connection table                                                    */

static size_t bucket_of(const struct mosquitto *c)
{
    uintptr_t p = (uintptr_t)c;
    return (size_t)((p >> 4) ^ (p >> 16)) % CONN_BUCKETS;
}

static struct conn *conn_find(const struct mosquitto *client)
{
    struct conn *gone = NULL;
    for (struct conn *c = g.buckets[bucket_of(client)]; c; c = c->next) {
        if (c->client != client) continue;
        if (!c->gone) return c;
        if (!gone) gone = c;
    }
    return gone;
}

/* Newest authenticated hub connection of identity @key ("{d}" or "{d}/{m}"). */
static struct conn *conn_by_id(const char *key, int is_dps)
{
    struct conn *best = NULL;
    for (size_t b = 0; b < CONN_BUCKETS; b++)
        for (struct conn *c = g.buckets[b]; c; c = c->next)
            if (!c->gone && c->is_dps == is_dps && strcmp(c->key, key) == 0 &&
                (!best || c->generation > best->generation))
                best = c;
    return best;
}

/* Remove entries of @client, or only those already gone (@gone_only). */
static void conn_remove_if(struct mosquitto *client, int gone_only)
{
    struct conn **pp = &g.buckets[bucket_of(client)];
    while (*pp) {
        if ((*pp)->client == client && (!gone_only || (*pp)->gone)) {
            struct conn *dead = *pp;
            *pp = dead->next;
            OPENSSL_cleanse(dead->dps_key, sizeof(dead->dps_key));
            free(dead);
            continue;
        }
        pp = &(*pp)->next;
    }
}

static void conn_remove(struct mosquitto *client)
{
    conn_remove_if(client, 0);
}

/* Free the entries whose DISCONNECT has been handled. */
static void conn_reap(void)
{
    for (size_t b = 0; b < CONN_BUCKETS; b++) {
        struct conn **pp = &g.buckets[b];
        while (*pp) {
            if ((*pp)->gone) {
                struct conn *dead = *pp;
                *pp = dead->next;
                OPENSSL_cleanse(dead->dps_key, sizeof(dead->dps_key));
                free(dead);
                continue;
            }
            pp = &(*pp)->next;
        }
    }
}

static void schedule_kick(const char *id)
{
    struct kick *k = calloc(1, sizeof(*k));
    if (!k) return;
    snprintf(k->id, sizeof(k->id), "%s", id);
    k->next = g.kicks;
    g.kicks = k;
}

/* ------------------------------------------------------------------ */
/* registry writes that do not stall the broker                        */

/* mosquitto runs the plugin in its only thread: a write that waits for
 * another process's lock on the registry (an sqlite3 shell, a backup, a
 * CLI command) stops every client for as long. So no write in the broker
 * waits the 5 s busy time (LOCALHUB_DB_BUSY_MS, the CLI's):
 *  - bookkeeping (connection state, the C2D purge of a CleanSession
 *    CONNECT, a method response, the telemetry error count) is kept in
 *    memory and written by flush_pending() when the lock is free, at once
 *    or at a later tick; what reads it in the broker reads the memory first;
 *  - a device's request that needs a write (twin PATCH, DPS register and
 *    poll) waits at most REQUEST_BUSY_MS, then gets the answer of a busy
 *    service (twin 429, DPS 429 or "assigning") and asks again.
 * 50 ms: a CLI command holds the lock for a statement or a few, well under
 * that (docs/localhub.md), so a request that meets one still succeeds. Once
 * a request has found the registry locked, the requests of the next
 * BUSY_REMEMBER_MS do not wait at all: a long lock costs the broker 50 ms
 * per second, however many devices ask (a client that retries at once
 * would otherwise keep it waiting most of the time). */
#define REQUEST_BUSY_MS 50
#define BUSY_REMEMBER_MS 1000
#define BUSY_RETRY_AFTER_S 1 /* retry-after of a DPS answer during a lock */

/* How long a device's request may wait for the write lock now. */
static int request_wait_ms(void)
{
    return g.busy_seen && localhub_mono_ms() - g.busy_seen_mono_ms < BUSY_REMEMBER_MS ? 0 : REQUEST_BUSY_MS;
}

/* A device's request found the registry locked. */
static void request_was_busy(void)
{
    g.busy_seen = 1;
    g.busy_seen_mono_ms = localhub_mono_ms();
}

/* BEGIN IMMEDIATE waiting at most @wait_ms for the write lock; 1 when held. */
static int write_lock(int wait_ms)
{
    int rc;
    sqlite3_busy_timeout(g.db, wait_ms);
    rc = sqlite3_exec(g.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_busy_timeout(g.db, LOCALHUB_DB_BUSY_MS);
    return rc == SQLITE_OK;
}

/* COMMIT (@ok) or ROLLBACK the transaction of write_lock(); 1 when committed. */
static int write_unlock(int ok)
{
    int rc = SQLITE_ERROR;
    sqlite3_busy_timeout(g.db, 0);
    if (ok) rc = sqlite3_exec(g.db, "COMMIT", NULL, NULL, NULL);
    sqlite3_busy_timeout(g.db, LOCALHUB_DB_BUSY_MS);
    if (rc != SQLITE_OK) sqlite3_exec(g.db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK;
}

/* Run @sql with the bindings "t" (text) / "i" (int64) / "b" (blob: text
 * and length) of @types; 0 when done. */
static int write_stmt(const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    int rc, n = 1;
    if (sqlite3_prepare_v2(g.db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    va_start(ap, types);
    for (const char *t = types; *t; t++, n++) {
        if (*t == 't') {
            sqlite3_bind_text(st, n, va_arg(ap, const char *), -1, SQLITE_STATIC);
        } else if (*t == 'i') {
            sqlite3_bind_int64(st, n, va_arg(ap, int64_t));
        } else {
            const char *b = va_arg(ap, const char *);
            sqlite3_bind_text(st, n, b, va_arg(ap, int), SQLITE_STATIC);
        }
    }
    va_end(ap);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int pend_state_write(const struct pend_state *p)
{
    if (p->module[0])
        return p->set_subs ? write_stmt("UPDATE modules SET conn_state=?,last_activity=?,subs=? WHERE device=? AND id=?",
                                        "tiitt", p->state, p->at_s, (int64_t)p->subs, p->id, p->module)
                           : write_stmt("UPDATE modules SET conn_state=?,last_activity=? WHERE device=? AND id=?",
                                        "titt", p->state, p->at_s, p->id, p->module);
    return p->set_subs ? write_stmt("UPDATE devices SET conn_state=?,last_activity=?,subs=?,had_session=1 WHERE id=?",
                                    "tiit", p->state, p->at_s, (int64_t)p->subs, p->id)
                       : write_stmt("UPDATE devices SET conn_state=?,last_activity=? WHERE id=?", "tit", p->state,
                                    p->at_s, p->id);
}

static void kicks_done_free(void)
{
    while (g.kicks_done) {
        struct kick_done *k = g.kicks_done;
        g.kicks_done = k->next;
        free(k);
    }
}

static void pend_free(void)
{
    while (g.pend_states) {
        struct pend_state *p = g.pend_states;
        g.pend_states = p->next;
        free(p);
    }
    while (g.pend_purges) {
        struct pend_purge *p = g.pend_purges;
        g.pend_purges = p->next;
        free(p);
    }
    while (g.pend_mres) {
        struct pend_mres *p = g.pend_mres;
        g.pend_mres = p->next;
        free(p);
    }
    g.pend_mres_tail = &g.pend_mres;
    g.pend_tel_errors = 0;
}

/* Write everything pending in one transaction, waiting at most @wait_ms
 * for the lock (0 in the broker's callbacks); 1 when nothing is left. */
static int flush_pending(int wait_ms)
{
    int ok = 1;
    char v[32];
    if (!g.pend_states && !g.pend_purges && !g.pend_mres && !g.pend_tel_errors) return 1;
    if (!write_lock(wait_ms)) return 0;
    for (const struct pend_state *p = g.pend_states; p && ok; p = p->next) ok = pend_state_write(p) == 0;
    for (const struct pend_purge *p = g.pend_purges; p && ok; p = p->next)
        ok = write_stmt("DELETE FROM c2d WHERE device=? AND seq<=?", "ti", p->device, p->max_seq) == 0;
    /* The first answer wins, as when it was written at once; one that came
     * after the hub's 504 changes nothing (state is no longer 'sent'). */
    for (const struct pend_mres *p = g.pend_mres; p && ok; p = p->next)
        ok = write_stmt("UPDATE methods SET state='done',status=?,response=? WHERE id=? AND device=? AND state='sent'",
                        "ibit", (int64_t)p->status, p->payload, p->len, p->id, p->key) == 0;
    snprintf(v, sizeof(v), "%lld", (long long)g.telemetry_errors);
    if (ok && g.pend_tel_errors) ok = localhub_db_meta_set(g.db, "telemetry_write_errors", v) == 0;
    if (!ok && !g.pend_fail_logged)
        mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: registry write failed (%s): kept, tried again at the next tick",
                             sqlite3_errmsg(g.db));
    if (!write_unlock(ok)) {
        g.pend_fail_logged = !ok;
        return 0;
    }
    g.pend_fail_logged = 0;
    pend_free();
    return 1;
}

static struct pend_state *pend_state_find(const char *id, const char *module)
{
    for (struct pend_state *p = g.pend_states; p; p = p->next)
        if (strcmp(p->id, id) == 0 && strcmp(p->module, module ? module : "") == 0) return p;
    return NULL;
}

/* Connection state of device @id, or of its module @module when not empty;
 * @clean >= 0 also sets the session's subscription kinds @subs (and marks
 * a device as having had a session). Written now if the registry is free,
 * else at a later tick: a CONNECT, SUBSCRIBE or DISCONNECT never waits. */
static void set_conn_state(const char *id, const char *module, const char *state, int subs, int clean)
{
    struct pend_state *p = pend_state_find(id, module);
    if (!p) {
        if (!(p = calloc(1, sizeof(*p)))) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: out of memory: connection state of '%s' not recorded", id);
            return;
        }
        snprintf(p->id, sizeof(p->id), "%s", id);
        snprintf(p->module, sizeof(p->module), "%s", module ? module : "");
        p->next = g.pend_states;
        g.pend_states = p;
    }
    snprintf(p->state, sizeof(p->state), "%s", state);
    p->at_s = localhub_now_s();
    if (clean >= 0) {
        p->subs = subs;
        p->set_subs = 1;
    }
    (void)flush_pending(0);
}

/* The subscription kinds stored for a persistent session: the pending
 * ones first, else the registry's. */
static int stored_subs(const char *id, const char *module)
{
    const struct pend_state *p = pend_state_find(id, module);
    sqlite3_stmt *st;
    int subs = 0;
    if (p && p->set_subs) return p->subs;
    if (sqlite3_prepare_v2(g.db,
                           module && *module ? "SELECT subs FROM modules WHERE device=? AND id=?"
                                             : "SELECT subs FROM devices WHERE id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (module && *module) sqlite3_bind_text(st, 2, module, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) subs = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return subs;
}

/* CleanSession=1 drops the session and the C2D messages queued for @device
 * so far (the newest seq now: a read, which never waits). */
static void purge_c2d(const char *device)
{
    sqlite3_stmt *st;
    int64_t max_seq = -1;
    struct pend_purge *p;
    if (sqlite3_prepare_v2(g.db, "SELECT max(seq) FROM c2d WHERE device=?", -1, &st, NULL) != SQLITE_OK) return;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) max_seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (max_seq < 0) return;
    for (p = g.pend_purges; p && strcmp(p->device, device) != 0; p = p->next) {
    }
    if (!p) {
        if (!(p = calloc(1, sizeof(*p)))) {
            mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: out of memory: C2D queue of '%s' not purged", device);
            return;
        }
        snprintf(p->device, sizeof(p->device), "%s", device);
        p->next = g.pend_purges;
        g.pend_purges = p;
    }
    if (max_seq > p->max_seq) p->max_seq = max_seq;
    (void)flush_pending(0);
}

/* 1 when C2D message @seq of @device is purged, not yet in the registry. */
static int c2d_purged(const char *device, int64_t seq)
{
    for (const struct pend_purge *p = g.pend_purges; p; p = p->next)
        if (strcmp(p->device, device) == 0) return seq <= p->max_seq;
    return 0;
}

/* ------------------------------------------------------------------ */
/* authentication                                                      */

/* Certificates the peer sent with this leaf, kept by the TLS shim (NULL
 * without the shim: then only CAs that sign the leaf directly work). */
static STACK_OF(X509) *peer_chain(X509 *leaf)
{
    return g.chain_for ? g.chain_for(leaf) : NULL;
}

/* Verify @leaf against the verified CAs (all of them, or just @ca_name). */
static int chain_to_verified_ca(X509 *leaf, const char *ca_name)
{
    sqlite3_stmt *st;
    const char *pems[256];
    char *owned[256];
    int n = 0, ok = 0;
    if (sqlite3_prepare_v2(g.db,
                           ca_name ? "SELECT pem FROM cas WHERE verified=1 AND name=?"
                                   : "SELECT pem FROM cas WHERE verified=1",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (ca_name) sqlite3_bind_text(st, 1, ca_name, -1, SQLITE_STATIC);
    while (n < 256 && sqlite3_step(st) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        owned[n] = p ? strdup(p) : NULL;
        if (owned[n]) {
            pems[n] = owned[n];
            n++;
        }
    }
    sqlite3_finalize(st);
    if (n > 0) ok = localhub_verify_chain(leaf, peer_chain(leaf), pems, n) >= 0;
    for (int i = 0; i < n; i++) free(owned[i]);
    return ok;
}

/* SAS check with sr = expected resource (compared after decoding). */
static int sas_ok(const char *password, const char *expect_sr, int dps, const char *key1, const char *key2,
                  int64_t *out_expiry)
{
    struct localhub_sas sas;
    char sr[512];
    if (!password || localhub_parse_sas(password, &sas) != TMA_OK) return 0;
    if (sas.se <= localhub_now_s()) return 0;
    if (localhub_url_decode(sas.sr, strlen(sas.sr), sr, sizeof(sr)) < 0) return 0;
    if (dps) {
        if (strcmp(sas.skn, "registration") != 0) return 0;
        if (strcasecmp(sr, expect_sr) != 0) return 0;
    } else {
        /* sr = {host}/devices/{id}: host case-insensitive, id case-sensitive;
         * device-scoped tokens only (no shared access policies here). */
        const char *slash = strchr(sr, '/');
        const char *eslash = strchr(expect_sr, '/');
        if (sas.skn[0] || !slash || !eslash) return 0;
        if ((slash - sr) != (eslash - expect_sr) || strncasecmp(sr, expect_sr, (size_t)(slash - sr)) != 0) return 0;
        if (strcmp(slash, eslash) != 0) return 0;
    }
    if (!localhub_sas_sig_ok(sas.sr, sas.se, sas.sig, key1) && !(key2 && localhub_sas_sig_ok(sas.sr, sas.se, sas.sig, key2)))
        return 0;
    *out_expiry = sas.se;
    return 1;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

/* A hub identity: a device (client id and X.509 CN "{d}", SAS over
 * "{host}/devices/{d}") or one of its modules (client id and CN "{d}/{m}",
 * SAS over "{host}/devices/{d}/modules/{m}" with the module's own keys).
 * X.509 is CA-signed (CN as above) or by thumbprint. The device must exist
 * and be enabled, for its modules too. */
static int auth_identity(struct mosquitto *client, const struct localhub_user *u, const char *password, X509 *cert,
                         struct conn *out)
{
    static const char q_device[] = "SELECT auth,thumb1,thumb2,key1,key2,status FROM devices WHERE id=?";
    static const char q_module[] = "SELECT m.auth,m.thumb1,m.thumb2,m.key1,m.key2,d.status FROM modules m JOIN devices d"
                                   " ON d.id=m.device WHERE m.device=? AND m.id=?";
    sqlite3_stmt *st;
    int ok = 0;
    int module = u->module[0] != 0;
    char cn[300], key[2 * LOCALHUB_ID_MAX + 2];
    if (strcasecmp(u->host, g.hostname) != 0) return 0;
    snprintf(key, sizeof(key), module ? "%s/%s" : "%s", u->id, u->module);
    if (strcmp(mosquitto_client_id(client), key) != 0) return 0;
    if (sqlite3_prepare_v2(g.db, module ? q_module : q_device, -1, &st, NULL) != SQLITE_OK) return 0;
    sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
    if (module) sqlite3_bind_text(st, 2, u->module, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && strcmp(col(st, 5), "enabled") == 0) {
        const char *auth = col(st, 0);
        if (strcmp(auth, "x509-ca") == 0) {
            ok = cert && localhub_cert_client_usage_ok(cert) && localhub_cert_cn(cert, cn, sizeof(cn)) == 0 &&
                 strcmp(cn, key) == 0 && chain_to_verified_ca(cert, NULL);
            out->auth_type = "x509Certificate";
        } else if (strcmp(auth, "x509-thumbprint") == 0) {
            ok = cert && localhub_cert_time_valid(cert) && localhub_cert_client_usage_ok(cert) &&
                 (localhub_thumb_matches(cert, col(st, 1)) || localhub_thumb_matches(cert, col(st, 2)));
            out->auth_type = "x509Certificate";
        } else if (strcmp(auth, "sas") == 0) {
            char sr[700];
            snprintf(sr, sizeof(sr), module ? "%s/devices/%s/modules/%s" : "%s/devices/%s", g.hostname, u->id,
                     u->module);
            ok = sas_ok(password, sr, 0, col(st, 3), col(st, 4), &out->sas_expiry_s);
            out->auth_type = "sas";
        }
    }
    sqlite3_finalize(st);
    return ok;
}

static int auth_dps(struct mosquitto *client, const struct localhub_user *u, const char *password, X509 *cert,
                    struct conn *out)
{
    sqlite3_stmt *st;
    int ok = 0, found = 0;
    char cn[256], sr[300];
    if (strcmp(u->scope, g.id_scope) != 0) return 0;
    if (strcmp(mosquitto_client_id(client), u->id) != 0) return 0;
    snprintf(sr, sizeof(sr), "%s/registrations/%s", g.id_scope, u->id);
    /* Individual enrollment first: it takes precedence over groups. */
    if (sqlite3_prepare_v2(g.db, "SELECT attestation,thumb,key1,key2,device_id,enabled FROM enrollments WHERE reg_id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        const char *att = col(st, 0);
        if (strcmp(att, "x509") == 0) {
            ok = cert && localhub_cert_time_valid(cert) && localhub_cert_client_usage_ok(cert) &&
                 localhub_thumb_matches(cert, col(st, 1)) && localhub_cert_cn(cert, cn, sizeof(cn)) == 0 &&
                 strcmp(cn, u->id) == 0;
            snprintf(out->dps_auth, sizeof(out->dps_auth), "x509-thumbprint");
            snprintf(out->dps_thumb, sizeof(out->dps_thumb), "%s", col(st, 1));
            out->auth_type = "x509Certificate";
        } else {
            ok = sas_ok(password, sr, 1, col(st, 2), col(st, 3), &out->sas_expiry_s);
            snprintf(out->dps_auth, sizeof(out->dps_auth), "sas");
            snprintf(out->dps_key, sizeof(out->dps_key), "%s", col(st, 2));
            out->auth_type = "sas";
        }
        snprintf(out->dps_device_id, sizeof(out->dps_device_id), "%s", *col(st, 4) ? col(st, 4) : u->id);
        out->dps_enabled = sqlite3_column_int(st, 5);
    }
    sqlite3_finalize(st);
    if (found) return ok;

    if (sqlite3_prepare_v2(g.db, "SELECT id,attestation,ca,key1,key2,enabled FROM enroll_groups ORDER BY created", -1,
                           &st, NULL) != SQLITE_OK)
        return 0;
    while (!ok && sqlite3_step(st) == SQLITE_ROW) {
        const char *att = col(st, 1);
        if (strcmp(att, "x509") == 0) {
            if (!cert) continue;
            ok = localhub_cert_client_usage_ok(cert) && localhub_cert_cn(cert, cn, sizeof(cn)) == 0 &&
                 strcmp(cn, u->id) == 0 && chain_to_verified_ca(cert, col(st, 2));
            if (ok) {
                snprintf(out->dps_auth, sizeof(out->dps_auth), "x509-ca");
                out->auth_type = "x509Certificate";
            }
        } else {
            char k1[64] = "", k2[64] = "";
            if (localhub_hmac_b64(col(st, 3), u->id, k1, sizeof(k1))) continue;
            if (*col(st, 4)) localhub_hmac_b64(col(st, 4), u->id, k2, sizeof(k2));
            ok = sas_ok(password, sr, 1, k1, k2[0] ? k2 : NULL, &out->sas_expiry_s);
            if (ok) {
                snprintf(out->dps_auth, sizeof(out->dps_auth), "sas");
                snprintf(out->dps_key, sizeof(out->dps_key), "%s", k1);
                out->auth_type = "sas";
            }
            OPENSSL_cleanse(k1, sizeof(k1));
            OPENSSL_cleanse(k2, sizeof(k2));
        }
        if (ok) {
            snprintf(out->dps_device_id, sizeof(out->dps_device_id), "%s", u->id);
            out->dps_enabled = sqlite3_column_int(st, 5);
        }
    }
    sqlite3_finalize(st);
    return ok;
}

/* During a reload: @client is a connection this plugin tracks, or @cid is
 * an identity that may have a stored session ("{d}" of a device that has
 * connected before, "{d}/{m}" of a registered module). A registry read,
 * which never waits for the write lock (WAL). */
static int known_client(const struct mosquitto *client, const char *cid)
{
    sqlite3_stmt *st;
    const char *slash;
    int known = 0;
    const struct pend_state *p;
    if (conn_find(client)) return 1;
    if (!cid || !*cid) return 0;
    slash = strchr(cid, '/');
    /* a device whose first session is not in the registry yet */
    if (!slash && (p = pend_state_find(cid, NULL)) && p->set_subs) return 1;
    if (sqlite3_prepare_v2(g.db,
                           slash ? "SELECT 1 FROM modules WHERE device=? AND id=?"
                                 : "SELECT 1 FROM devices WHERE id=? AND had_session=1",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, cid, slash ? (int)(slash - cid) : -1, SQLITE_STATIC);
    if (slash) sqlite3_bind_text(st, 2, slash + 1, -1, SQLITE_STATIC);
    known = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return known;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ev = event_data;
    struct localhub_user u;
    struct conn *c = NULL;
    X509 *cert = NULL;
    int ok = 0;
    const char *cid = mosquitto_client_id(ev->client);
    (void)event;
    (void)userdata;

    /* A reload (SIGHUP: ours after renewing the server certificate, or an
     * operator's) makes mosquitto 2.0 run this again for every client it
     * knows: the connected ones and the offline persistent sessions. They
     * were authorised at their CONNECT, and disabling, deleting and SAS
     * expiry are enforced by kicks; taken as new CONNECTs, they lost their
     * subscriptions and queued C2D (clean session) and offline ones showed
     * as Connected. The reload runs in the broker's loop before its tick
     * (which ends g.reloading), so no real CONNECT is checked meanwhile;
     * that order is mosquitto's, not documented, so only clients the plugin
     * knows skip the check: a tracked connection, or an offline session of
     * a registered identity. Any other client id is checked as usual. */
    if (g.reloading && known_client(ev->client, cid)) return MOSQ_ERR_SUCCESS;
    if (!cid || !ev->username || mosquitto_client_protocol_version(ev->client) != 4) goto out;
    if (localhub_parse_username(ev->username, &u) != TMA_OK) goto out;
    c = calloc(1, sizeof(*c));
    if (!c) goto out;
    cert = mosquitto_client_certificate(ev->client);
    ok = u.is_dps      ? auth_dps(ev->client, &u, ev->password, cert, c)
         : auth_identity(ev->client, &u, ev->password, cert, c);
out:
    X509_free(cert);
    if (!ok) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "localhub: refused CONNECT of '%s' (user '%s'): not authorized",
                             cid ? cid : "", ev->username ? ev->username : "");
        if (c) OPENSSL_cleanse(c->dps_key, sizeof(c->dps_key));
        free(c);
        return MOSQ_ERR_AUTH;
    }
    c->client = ev->client;
    c->is_dps = u.is_dps;
    c->generation = ++g.generation;
    snprintf(c->id, sizeof(c->id), "%s", u.id);
    snprintf(c->module, sizeof(c->module), "%s", u.module);
    if (u.module[0])
        snprintf(c->key, sizeof(c->key), "%s/%s", u.id, u.module);
    else
        snprintf(c->key, sizeof(c->key), "%s", u.id);
    snprintf(c->model_id, sizeof(c->model_id), "%s", u.model_id);
    if (!u.is_dps) {
        /* A persistent session keeps its subscriptions. CleanSession=1 drops
         * the session and a device's queued C2D messages; a module's queued
         * input messages stay queued whatever the session flag (they stand
         * for an IoT Edge route, not for the hub's C2D queue). */
        int clean = mosquitto_client_clean_session(ev->client);
        if (!clean) c->subs = stored_subs(u.id, u.module);
        else if (!u.module[0]) purge_c2d(u.id);
        set_conn_state(u.id, u.module, "Connected", c->subs, clean);
    }
    size_t b = bucket_of(ev->client);
    c->next = g.buckets[b];
    g.buckets[b] = c;
    return MOSQ_ERR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* authorization                                                       */

static int handle_telemetry(struct conn *c, const struct localhub_topic *t, const void *payload, uint32_t payloadlen,
                            int retain, int is_will);

/* The publish topics an identity may use, classified. */
static tma_status parse_pub(const struct conn *c, const char *topic, struct localhub_topic *t)
{
    if (c->module[0]) return localhub_parse_module_publish_topic(topic, c->id, c->module, t);
    return localhub_parse_publish_topic(topic, c->id, c->is_dps, t);
}

static int classify_sub(const struct conn *c, const char *filter)
{
    if (c->module[0]) return localhub_classify_module_subscription(filter, c->id, c->module);
    return localhub_classify_subscription(filter, c->id, c->is_dps);
}

static int read_allowed(const struct conn *c, const char *topic)
{
    char prefix[2 * LOCALHUB_ID_MAX + 60];
    if (c->is_dps) return strncmp(topic, "$dps/registrations/res/", 23) == 0;
    if (c->module[0])
        snprintf(prefix, sizeof(prefix), "devices/%s/modules/%s/", c->id, c->module);
    else
        snprintf(prefix, sizeof(prefix), "devices/%s/messages/devicebound/", c->id);
    return strncmp(topic, prefix, strlen(prefix)) == 0 || strncmp(topic, "$iothub/twin/", 13) == 0 ||
           strncmp(topic, "$iothub/methods/POST/", 21) == 0;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ev = event_data;
    struct conn *c = conn_find(ev->client);
    struct localhub_topic t;
    (void)event;
    (void)userdata;
    if (!c || !ev->topic) return MOSQ_ERR_ACL_DENIED;
    if (c->gone) {
        /* The broker publishes the Will after DISCONNECT: store it as telemetry
         * when it names the device's own events topic, never route it. */
        if (ev->access == MOSQ_ACL_WRITE && !c->is_dps && parse_pub(c, ev->topic, &t) == TMA_OK &&
            t.kind == LOCALHUB_T_TELEMETRY)
            (void)handle_telemetry(c, &t, ev->payload, ev->payloadlen, ev->retain, 1);
        return MOSQ_ERR_ACL_DENIED;
    }
    switch (ev->access) {
    case MOSQ_ACL_SUBSCRIBE: {
        int k = classify_sub(c, ev->topic);
        if (k == LOCALHUB_S_NONE) return MOSQ_ERR_ACL_DENIED;
        c->subs |= k;
        if (!c->is_dps) set_conn_state(c->id, c->module, "Connected", c->subs, 0);
        return MOSQ_ERR_SUCCESS;
    }
    case MOSQ_ACL_UNSUBSCRIBE: {
        int k = classify_sub(c, ev->topic);
        c->subs &= ~k;
        if (!c->is_dps) set_conn_state(c->id, c->module, "Connected", c->subs, 0);
        return MOSQ_ERR_SUCCESS;
    }
    case MOSQ_ACL_WRITE:
        if (ev->qos > 1) {
            schedule_kick(c->key); /* IoT Hub closes the connection on QoS 2 */
            return MOSQ_ERR_ACL_DENIED;
        }
        return parse_pub(c, ev->topic, &t) == TMA_OK ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    case MOSQ_ACL_READ:
        return read_allowed(c, ev->topic) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    default:
        return MOSQ_ERR_ACL_DENIED;
    }
}

/* ------------------------------------------------------------------ */
/* replies                                                             */

static void reply(const struct conn *c, const char *topic, const char *payload, int qos, mosquitto_property *props)
{
    const char *cid = mosquitto_client_id(c->client);
    if (!cid) {
        mosquitto_property_free_all(&props);
        return;
    }
    mosquitto_broker_publish_copy(cid, topic, payload ? (int)strlen(payload) : 0, payload ? payload : "", qos, false,
                                  props);
}

/* ------------------------------------------------------------------ */
/* telemetry                                                           */

struct bag_ctx {
    cJSON *sys, *app;
    size_t size;
};

static const struct {
    const char *key, *name;
} sys_map[] = {
    {"$.mid", "message-id"},       {"$.cid", "correlation-id"},  {"$.uid", "user-id"},
    {"$.ct", "content-type"},      {"$.ce", "content-encoding"}, {"$.ctime", "iothub-creation-time-utc"},
    {"$.sub", "dt-subject"},       {"$.exp", "absolute-expiry-time"}, {"$.to", "to"},
    {"$.on", "output-name"},       {"$.ifid", "iothub-interface-id"}, {"$.diagid", "diagnostic-id"},
    {"$.diagctx", "diagnostic-context"},
};

static int bag_cb(const char *key, const char *value, void *ctx)
{
    struct bag_ctx *b = ctx;
    if (key[0] == '$') {
        for (size_t i = 0; i < sizeof(sys_map) / sizeof(sys_map[0]); i++) {
            if (strcmp(key, sys_map[i].key) == 0) {
                cJSON_DeleteItemFromObjectCaseSensitive(b->sys, sys_map[i].name);
                cJSON_AddStringToObject(b->sys, sys_map[i].name, value ? value : "");
                b->size += value ? strlen(value) : 0;
                return 0;
            }
        }
        return 0; /* unknown system property: ignored, as the hub does */
    }
    /* Appended as they come (O(1) each); a repeated key is resolved once
     * the whole bag is read (app_last_wins), not by a look-up per key, which
     * let one 64 KB bag of distinct keys hold the broker for a second. */
    if (value)
        cJSON_AddStringToObject(b->app, key, value);
    else
        cJSON_AddNullToObject(b->app, key);
    b->size += strlen(key) + (value ? strlen(value) : 0);
    return 0;
}

struct app_item {
    cJSON *item;
    size_t pos;
};

static int app_item_cmp(const void *a, const void *b)
{
    const struct app_item *x = a, *y = b;
    int r = strcmp(x->item->string, y->item->string);
    if (r) return r;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Of every key the bag repeats keep the last value, where it stands (what
 * a delete-then-add per key gave), in O(n log n). -1 when out of memory. */
static int app_last_wins(cJSON *app)
{
    size_t n = 0, i = 0;
    struct app_item *v;
    for (cJSON *c = app->child; c; c = c->next) n++;
    if (n < 2) return 0;
    v = malloc(n * sizeof(*v));
    if (!v) return -1;
    for (cJSON *c = app->child; c; c = c->next, i++) {
        v[i].item = c;
        v[i].pos = i;
    }
    qsort(v, n, sizeof(*v), app_item_cmp);
    for (i = 0; i + 1 < n; i++)
        if (strcmp(v[i].item->string, v[i + 1].item->string) == 0)
            cJSON_Delete(cJSON_DetachItemViaPointer(app, v[i].item));
    free(v);
    return 0;
}

/* telemetry.jsonl: rotated to telemetry.jsonl.1 .. .N (oldest dropped) before
 * a line would take it past telemetry_max bytes; every write is checked. */
static void telemetry_path(char *out, size_t outsz, int gen)
{
    if (gen) snprintf(out, outsz, "%s/telemetry.jsonl.%d", g.state_dir, gen);
    else snprintf(out, outsz, "%s/telemetry.jsonl", g.state_dir);
}

/* (Re)open telemetry.jsonl for appending and learn its size. A line cut
 * short (a failed write, a crash) is ended first, so that the next record
 * is a line of its own: readers skip the broken one. */
static int telemetry_open(void)
{
    char path[4096];
    struct stat sb;
    telemetry_path(path, sizeof(path), 0);
    g.telemetry = fopen(path, "a");
    if (!g.telemetry) return -1;
    g.telemetry_size = fstat(fileno(g.telemetry), &sb) == 0 ? (int64_t)sb.st_size : 0;
    if (g.telemetry_size > 0) {
        char last = '\n';
        if (pread(fileno(g.telemetry), &last, 1, (off_t)(g.telemetry_size - 1)) == 1 && last != '\n' &&
            fputc('\n', g.telemetry) != EOF && fflush(g.telemetry) == 0)
            g.telemetry_size++;
    }
    return 0;
}

static void telemetry_rotate(void)
{
    char from[4096], to[4096];
    fclose(g.telemetry);
    g.telemetry = NULL;
    if (g.telemetry_keep == 0) {
        telemetry_path(from, sizeof(from), 0);
        if (unlink(from) && errno != ENOENT)
            mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: cannot remove %s: %s", from, strerror(errno));
    }
    for (int i = g.telemetry_keep; i >= 1; i--) {
        telemetry_path(from, sizeof(from), i - 1);
        telemetry_path(to, sizeof(to), i);
        if (rename(from, to) && errno != ENOENT)
            mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: cannot rename %s to %s: %s", from, to, strerror(errno));
    }
    if (telemetry_open())
        mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: cannot open telemetry.jsonl after rotation: %s", strerror(errno));
    else
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "localhub: telemetry.jsonl rotated (limit %lld bytes, keeping %d)",
                             (long long)g.telemetry_max, g.telemetry_keep);
}

/* Append one record; 0 when it is on disk (flushed), -1 after logging and
 * counting a failure (disk full, I/O error, ...). */
static int telemetry_write(const char *line, const char *who)
{
    size_t len = strlen(line);
    int err = 0;
    if (g.telemetry && g.telemetry_max > 0 && g.telemetry_size > 0 &&
        g.telemetry_size + (int64_t)len + 1 > g.telemetry_max)
        telemetry_rotate();
    if (!g.telemetry && telemetry_open()) err = errno;
    if (!err) {
        errno = 0;
        if (fwrite(line, 1, len, g.telemetry) == len && fputc('\n', g.telemetry) != EOF && fflush(g.telemetry) == 0) {
            g.telemetry_size += (int64_t)len + 1;
            return 0;
        }
        err = errno ? errno : EIO;
        /* Start again from a clean stream: what the failed write left in
         * the buffer must not come out glued to a later record. */
        fclose(g.telemetry);
        g.telemetry = NULL;
        (void)telemetry_open();
    }
    g.telemetry_errors++;
    mosquitto_log_printf(MOSQ_LOG_ERR,
                         "localhub: cannot write telemetry.jsonl (%s): message of '%s' not stored, not acknowledged"
                         " (%lld write errors)",
                         strerror(err), who, (long long)g.telemetry_errors);
    g.pend_tel_errors = 1; /* meta telemetry_write_errors, when the registry is free */
    (void)flush_pending(0);
    return -1;
}

/* Store one telemetry message. Returns -1 when it is over IoT Hub's 256 KB
 * (body + properties): the caller closes the connection before any PUBACK,
 * so the device never takes a message the hub refused for delivered. */
static int handle_telemetry(struct conn *c, const struct localhub_topic *t, const void *payload, uint32_t payloadlen,
                            int retain, int is_will)
{
    struct bag_ctx b = {cJSON_CreateObject(), cJSON_CreateObject(), 0};
    cJSON *rec = cJSON_CreateObject();
    char now[32], authm[128], *line = NULL;
    int64_t ms = localhub_now_ms();
    int rc = 0;

    if (localhub_bag_walk(t->bag, t->bag_len, bag_cb, &b) != TMA_OK) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "localhub: %s sent a malformed property bag; dropped", c->key);
        goto out;
    }
    if (app_last_wins(b.app)) goto out;
    if ((size_t)payloadlen + b.size > D2C_MAX_SIZE) {
        mosquitto_log_printf(MOSQ_LOG_NOTICE, "localhub: %s sent a message over 256 KB; %s", c->key,
                             is_will ? "Will dropped" : "disconnecting");
        rc = -1;
        goto out;
    }
    if (retain) cJSON_AddStringToObject(b.app, "mqtt-retain", "true");
    if (is_will) {
        /* IoT Hub routes a Will as telemetry marked as such (spec 1.2) */
        cJSON_DeleteItemFromObjectCaseSensitive(b.app, "iothub-MessageType");
        cJSON_AddStringToObject(b.app, "iothub-MessageType", "Will");
    }
    localhub_iso8601(ms, now);
    snprintf(authm, sizeof(authm), "{\"scope\":\"%s\",\"type\":\"%s\",\"issuer\":\"iothub\"}",
             c->module[0] ? "module" : "device", c->auth_type);
    cJSON_AddStringToObject(b.sys, "iothub-connection-device-id", c->id);
    if (c->module[0]) cJSON_AddStringToObject(b.sys, "iothub-connection-module-id", c->module);
    cJSON_AddStringToObject(b.sys, "iothub-connection-auth-method", authm);
    cJSON_AddStringToObject(b.sys, "iothub-connection-auth-generation-id", "localhub");
    cJSON_AddStringToObject(b.sys, "iothub-enqueuedtime", now);
    cJSON_AddStringToObject(b.sys, "iothub-message-source", "Telemetry");
    if (c->model_id[0]) cJSON_AddStringToObject(b.sys, "dt-dataschema", c->model_id);

    cJSON_AddNumberToObject(rec, "seq", (double)++g.telemetry_seq);
    cJSON_AddStringToObject(rec, "deviceId", c->id);
    if (c->module[0]) cJSON_AddStringToObject(rec, "moduleId", c->module);
    cJSON_AddStringToObject(rec, "enqueuedTime", now);
    cJSON_AddNumberToObject(rec, "enqueuedTimeMs", (double)ms);
    cJSON_AddItemToObject(rec, "systemProperties", b.sys);
    cJSON_AddItemToObject(rec, "applicationProperties", b.app);
    b.sys = b.app = NULL;
    if (localhub_utf8_valid(payload, payloadlen)) {
        char *s = malloc((size_t)payloadlen + 1);
        if (!s) goto out;
        memcpy(s, payload, payloadlen);
        s[payloadlen] = '\0';
        cJSON_AddStringToObject(rec, "payload", s);
        free(s);
    } else {
        char *s = malloc(((size_t)payloadlen + 2) / 3 * 4 + 1);
        if (!s) goto out;
        EVP_EncodeBlock((unsigned char *)s, payload, (int)payloadlen);
        cJSON_AddStringToObject(rec, "payloadBase64", s);
        free(s);
    }
    line = cJSON_PrintUnformatted(rec);
    /* Written through before the PUBACK goes out: an acknowledged message
     * is visible to monitor-events (and survives a broker crash). One that
     * cannot be written is not acknowledged: the connection is closed and
     * the device keeps the message to send it again. */
    if (!line || telemetry_write(line, c->key)) rc = -1;
out:
    free(line);
    cJSON_Delete(b.sys);
    cJSON_Delete(b.app);
    cJSON_Delete(rec);
    return rc;
}

/* ------------------------------------------------------------------ */
/* twin and methods                                                    */

static void handle_twin_get(struct conn *c, const struct localhub_topic *t)
{
    char topic[256];
    char *doc;
    if (!(c->subs & LOCALHUB_S_TWIN_RES)) return; /* answers only go to subscribers */
    doc = localhub_twin_json(g.db, c->key, 0);
    snprintf(topic, sizeof(topic), "$iothub/twin/res/%d/?$rid=%s", doc ? 200 : 404, t->rid);
    reply(c, topic, doc ? doc : "", 0, NULL);
    free(doc);
}

static void handle_twin_patch(struct conn *c, const struct localhub_topic *t, const struct mosquitto_evt_message *ev)
{
    char topic[300], err[160] = "";
    int64_t ver = 0;
    int rc;
    /* Another process holding the registry's lock longer than
     * REQUEST_BUSY_MS: not applied, answered 429 (IoT Hub's throttling,
     * 429001), which a device client takes as "try again later". */
    sqlite3_busy_timeout(g.db, request_wait_ms());
    rc = localhub_twin_patch(g.db, c->key, 0, ev->payload, ev->payloadlen, &ver, err, sizeof(err));
    sqlite3_busy_timeout(g.db, LOCALHUB_DB_BUSY_MS);
    if (rc == 500 && (sqlite3_extended_errcode(g.db) & 0xff) == SQLITE_BUSY) {
        request_was_busy();
        rc = 429;
        snprintf(err, sizeof(err), "The registry is busy (locked by another process): try again later.");
    }
    if (!(c->subs & LOCALHUB_S_TWIN_RES)) return;
    if (rc == 0) {
        snprintf(topic, sizeof(topic), "$iothub/twin/res/204/?$rid=%s&$version=%lld", t->rid, (long long)ver);
        reply(c, topic, "", 0, NULL);
    } else {
        char body[256];
        cJSON *o = cJSON_CreateObject();
        char *s;
        cJSON_AddNumberToObject(o, "errorCode", rc == 400 ? 400004 : rc == 429 ? 429001 : rc * 1000);
        cJSON_AddStringToObject(o, "message", err[0] ? err : "error");
        s = cJSON_PrintUnformatted(o);
        snprintf(body, sizeof(body), "%s", s ? s : "");
        free(s);
        cJSON_Delete(o);
        snprintf(topic, sizeof(topic), "$iothub/twin/res/%d/?$rid=%s", rc, t->rid);
        reply(c, topic, body, 0, NULL);
    }
}

/* 1 when call @id of device @key is in flight (sent, its time-out not
 * reached: a read, which never waits) and no answer to it waits in memory. */
static int method_awaits_answer(int64_t id, const char *key)
{
    sqlite3_stmt *st;
    int in_flight = 0;
    for (const struct pend_mres *p = g.pend_mres; p; p = p->next)
        if (p->id == id) return 0; /* the first answer wins */
    if (sqlite3_prepare_v2(g.db, "SELECT 1 FROM methods WHERE id=? AND device=? AND state='sent' AND sent+timeout*1000>?",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, localhub_mono_ms());
    in_flight = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return in_flight;
}

/* The device's answer is kept until the registry takes it (flush_pending()):
 * never lost to another process's lock, and the broker does not wait. Only
 * an answer to a call of this device in flight is kept, the first one: one
 * after the call's time-out is dropped (the caller gets the hub's 504, as
 * from IoT Hub), and so is one to no call of this device (a forged id,
 * another device's call, a second answer), so the memory held during a lock
 * is bounded by the calls in flight, not by what devices send. */
static void handle_method_res(struct conn *c, const struct localhub_topic *t, const struct mosquitto_evt_message *ev)
{
    struct pend_mres *m;
    char *end = NULL;
    long long id = strtoll(t->rid, &end, 10);
    if (!end || *end) return; /* not one of ours */
    if (!method_awaits_answer(id, c->key)) return;
    if (!(m = malloc(sizeof(*m) + (ev->payloadlen ? ev->payloadlen : 1)))) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: out of memory: answer of '%s' to method %lld lost", c->key, id);
        return;
    }
    m->next = NULL;
    m->id = id;
    m->status = t->status;
    /* never NULL: NULL is the hub's own "no answer" (404/504), see the CLI */
    m->len = (int)ev->payloadlen;
    if (ev->payloadlen) memcpy(m->payload, ev->payload, ev->payloadlen);
    else m->payload[0] = '\0';
    snprintf(m->key, sizeof(m->key), "%s", c->key);
    *g.pend_mres_tail = m;
    g.pend_mres_tail = &m->next;
    (void)flush_pending(0);
}

/* ------------------------------------------------------------------ */
/* DPS                                                                 */

static void dps_error_after(struct conn *c, const char *rid, int code, const char *msg, int retry_after_s)
{
    char topic[256], now[32], tracking[33] = "";
    cJSON *o = cJSON_CreateObject();
    char *s;
    localhub_iso8601(localhub_now_ms(), now);
    localhub_random_hex(tracking, 16);
    cJSON_AddNumberToObject(o, "errorCode", code);
    cJSON_AddStringToObject(o, "trackingId", tracking);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddStringToObject(o, "timestampUtc", now);
    s = cJSON_PrintUnformatted(o);
    if (retry_after_s > 0)
        snprintf(topic, sizeof(topic), "$dps/registrations/res/%d/?$rid=%s&retry-after=%d", code / 1000, rid,
                 retry_after_s);
    else
        snprintf(topic, sizeof(topic), "$dps/registrations/res/%d/?$rid=%s", code / 1000, rid);
    reply(c, topic, s, 0, NULL);
    free(s);
    cJSON_Delete(o);
}

static void dps_error(struct conn *c, const char *rid, int code, const char *msg)
{
    dps_error_after(c, rid, code, msg, 0);
}

static void handle_dps_register(struct conn *c, const struct localhub_topic *t, const struct mosquitto_evt_message *ev)
{
    char op[96], hex[17], uuid[33], topic[256];
    sqlite3_stmt *st;
    if (!(c->subs & LOCALHUB_S_DPS_RES)) return;
    if (ev->payloadlen > 0) {
        cJSON *body = cJSON_ParseWithLength(ev->payload, ev->payloadlen);
        cJSON *rid = body ? cJSON_GetObjectItemCaseSensitive(body, "registrationId") : NULL;
        int bad = !cJSON_IsObject(body) || (rid && (!cJSON_IsString(rid) || strcmp(rid->valuestring, c->id) != 0));
        cJSON_Delete(body);
        if (bad) {
            /* Node sends a single space as an empty body for polls; be as lenient for registers. */
            if (!(ev->payloadlen == 1 && ((const char *)ev->payload)[0] == ' ')) {
                dps_error(c, t->rid, 400004, "The request body is invalid or does not match the registration id.");
                return;
            }
        }
    }
    localhub_random_hex(hex, 8);
    localhub_random_hex(uuid, 16);
    snprintf(op, sizeof(op), "4.%s.%.8s-%.4s-%.4s-%.4s-%.12s", hex, uuid, uuid + 8, uuid + 12, uuid + 16, uuid + 20);
    if (sqlite3_prepare_v2(g.db,
                           "INSERT INTO dps_ops(op_id,reg_id,device_id,auth,thumb,status,created)"
                           " VALUES(?,?,?,?,?,'assigning',?)",
                           -1, &st, NULL) != SQLITE_OK) {
        dps_error(c, t->rid, 500000, "Internal error.");
        return;
    }
    sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->dps_device_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->dps_auth, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->dps_thumb, -1, SQLITE_STATIC);
    /* No copy of the symmetric key: the poll takes it from its own
     * connection, authenticated against the same enrollment. */
    sqlite3_bind_int64(st, 6, localhub_now_s());
    /* Another process holding the registry's lock: DPS's answer when it
     * throttles, 429 with retry-after, after REQUEST_BUSY_MS at most. */
    sqlite3_busy_timeout(g.db, request_wait_ms());
    int rc = sqlite3_step(st);
    sqlite3_busy_timeout(g.db, LOCALHUB_DB_BUSY_MS);
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_BUSY) {
        request_was_busy();
        dps_error_after(c, t->rid, 429001, "The service is busy (registry locked by another process): try again.",
                        BUSY_RETRY_AFTER_S);
        return;
    }
    if (rc != SQLITE_DONE) {
        dps_error(c, t->rid, 500000, "Internal error.");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "operationId", op);
    cJSON_AddStringToObject(o, "status", "assigning");
    char *s = cJSON_PrintUnformatted(o);
    snprintf(topic, sizeof(topic), "$dps/registrations/res/202/?$rid=%s&retry-after=1", t->rid);
    reply(c, topic, s, 0, NULL);
    free(s);
    cJSON_Delete(o);
}

/* Create device @device, or re-provision it: the registration's credential
 * replaces both of the device's (a secondary key or thumbprint left from
 * before would still authenticate a device DPS has just re-keyed). */
static int dps_assign(const char *device, const char *auth, const char *thumb, const char *key)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(g.db,
                           "INSERT INTO devices(id,auth,thumb1,key1,status,created) VALUES(?1,?2,?3,?4,'enabled',?5)"
                           " ON CONFLICT(id) DO UPDATE SET auth=?2,thumb1=?3,thumb2=NULL,key1=?4,key2=NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, auth, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, thumb, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, localhub_now_s());
    /* the device and its twin, or neither (inside the poll's transaction) */
    if (localhub_db_exec(g.db, "SAVEPOINT assign")) {
        sqlite3_finalize(st);
        return -1;
    }
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    if (rc == 0) rc = localhub_twin_ensure(g.db, device);
    if (rc) localhub_db_exec(g.db, "ROLLBACK TO assign");
    localhub_db_exec(g.db, "RELEASE assign");
    return rc;
}

static void handle_dps_poll(struct conn *c, const struct localhub_topic *t)
{
    sqlite3_stmt *st;
    char topic[256], now[32], created[32];
    char device[LOCALHUB_ID_MAX + 1] = "", auth[24] = "", thumb[65] = "", key[64] = "";
    int found = 0;
    int64_t created_s = 0;
    (void)found;
    if (!(c->subs & LOCALHUB_S_DPS_RES)) return;
    if (sqlite3_prepare_v2(g.db, "SELECT device_id,auth,thumb,created FROM dps_ops WHERE op_id=? AND reg_id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, t->op_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        snprintf(device, sizeof(device), "%s", col(st, 0));
        snprintf(auth, sizeof(auth), "%s", col(st, 1));
        snprintf(thumb, sizeof(thumb), "%s", col(st, 2));
        created_s = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    if (!found) {
        dps_error(c, t->rid, 404201, "Operation not found.");
        return;
    }
    localhub_iso8601(localhub_now_ms(), now);
    localhub_iso8601(created_s * 1000, created);
    cJSON *o = cJSON_CreateObject(), *rs = cJSON_CreateObject();
    const char *status = "assigned";
    int code = 200, busy = 0;
    /* The key the enrollment gives this registration: the poll's connection
     * authenticated with it (an individual enrollment's primary key or the
     * group's key derived for this registration id), as the register did. */
    if (strcmp(auth, "sas") == 0) {
        if (strcmp(c->dps_auth, "sas") == 0) snprintf(key, sizeof(key), "%s", c->dps_key);
        else auth[0] = '\0'; /* the enrollment changed its attestation since */
    }
    /* The device, its twin and the operation's status in one transaction.
     * With the registry locked by another process (more than
     * REQUEST_BUSY_MS), nothing is written and the answer is DPS's while it
     * is still working, 202 "assigning" with retry-after: the device polls
     * again and is assigned once the lock is gone. */
    if (!write_lock(request_wait_ms())) {
        request_was_busy();
        busy = 1;
    } else {
        if (!c->dps_enabled) {
            status = "disabled";
        } else if (!auth[0] || dps_assign(device, auth, thumb, key)) {
            status = "failed";
            cJSON_AddNumberToObject(rs, "errorCode", 500000);
            cJSON_AddStringToObject(rs, "errorMessage", "Could not create the device in the hub.");
        }
        busy = !write_unlock(write_stmt("UPDATE dps_ops SET status=?,polls=polls+1 WHERE op_id=?", "tt", status,
                                        t->op_id) == 0);
    }
    OPENSSL_cleanse(key, sizeof(key));
    if (busy) {
        cJSON_Delete(rs);
        rs = cJSON_CreateObject();
        status = "assigning";
        code = 202;
    }
    cJSON_AddStringToObject(o, "operationId", t->op_id);
    cJSON_AddStringToObject(o, "status", status);
    cJSON_AddStringToObject(rs, "registrationId", c->id);
    if (busy) {
        /* DPS's pending answer: registrationId and status only */
        cJSON_AddStringToObject(rs, "status", status);
    } else {
        cJSON_AddStringToObject(rs, "createdDateTimeUtc", created);
        if (strcmp(status, "assigned") == 0) {
            cJSON_AddStringToObject(rs, "assignedHub", g.hostname);
            cJSON_AddStringToObject(rs, "deviceId", device);
            cJSON_AddStringToObject(rs, "substatus", "initialAssignment");
        }
        cJSON_AddStringToObject(rs, "status", status);
        cJSON_AddStringToObject(rs, "lastUpdatedDateTimeUtc", now);
        cJSON_AddStringToObject(rs, "etag", "\"localhub\"");
        if (strcmp(c->auth_type, "sas") == 0)
            cJSON_AddItemToObject(rs, "symmetricKey", cJSON_CreateObject());
        else
            cJSON_AddItemToObject(rs, "x509", cJSON_CreateObject());
    }
    cJSON_AddItemToObject(o, "registrationState", rs);
    char *s = cJSON_PrintUnformatted(o);
    if (busy)
        snprintf(topic, sizeof(topic), "$dps/registrations/res/%d/?$rid=%s&retry-after=%d", code, t->rid,
                 BUSY_RETRY_AFTER_S);
    else
        snprintf(topic, sizeof(topic), "$dps/registrations/res/%d/?$rid=%s", code, t->rid);
    reply(c, topic, s, 0, NULL);
    free(s);
    cJSON_Delete(o);
}

/* ------------------------------------------------------------------ */

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ev = event_data;
    struct conn *c = conn_find(ev->client);
    struct localhub_topic t;
    (void)event;
    (void)userdata;
    if (!c || !ev->topic) return MOSQ_ERR_ACL_DENIED;
    if (parse_pub(c, ev->topic, &t) != TMA_OK) return MOSQ_ERR_ACL_DENIED;
    switch (t.kind) {
    case LOCALHUB_T_TELEMETRY:
        /* Any status but ACL_DENIED makes mosquitto close the connection
         * without a PUBACK (ACL_DENIED would acknowledge the message). */
        if (handle_telemetry(c, &t, ev->payload, ev->payloadlen, ev->retain, 0) < 0) return MOSQ_ERR_PAYLOAD_SIZE;
        break;
    case LOCALHUB_T_TWIN_GET: handle_twin_get(c, &t); break;
    case LOCALHUB_T_TWIN_PATCH: handle_twin_patch(c, &t, ev); break;
    case LOCALHUB_T_METHOD_RES: handle_method_res(c, &t, ev); break;
    case LOCALHUB_T_DPS_REGISTER: handle_dps_register(c, &t, ev); break;
    case LOCALHUB_T_DPS_POLL: handle_dps_poll(c, &t); break;
    default: break;
    }
    /* The plugin consumed it: nothing a device sends is routed to others. */
    return MOSQ_ERR_ACL_DENIED;
}

/* ------------------------------------------------------------------ */
/* periodic work                                                       */

/* Run @write (one int64 parameter) only when @probe, a SELECT with the same
 * parameter, finds a row. The tick's clean-ups ran their DELETE/UPDATE every
 * 20 ms; each takes the registry's write lock even when it changes nothing,
 * so while another process held that lock (an sqlite3 shell, a backup) every
 * tick waited out the 5 s busy time and the broker served nobody. A read
 * never waits in WAL mode. The write itself does not wait either (busy
 * timeout 0): with a row due and the lock held elsewhere, a 5 s wait in the
 * broker's only thread at every tick stalled every client just the same.
 * A clean-up that finds the registry busy is simply tried at the next tick. */
static void write_if_any(const char *probe, const char *write, int64_t arg)
{
    sqlite3_stmt *st;
    int any;
    if (sqlite3_prepare_v2(g.db, probe, -1, &st, NULL) != SQLITE_OK) return;
    sqlite3_bind_int64(st, 1, arg);
    any = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!any || sqlite3_prepare_v2(g.db, write, -1, &st, NULL) != SQLITE_OK) return;
    sqlite3_bind_int64(st, 1, arg);
    sqlite3_busy_timeout(g.db, 0);
    sqlite3_step(st);
    sqlite3_busy_timeout(g.db, LOCALHUB_DB_BUSY_MS);
    sqlite3_finalize(st);
}

/* A queued message (C2D, module input) is published and its row deleted in
 * one transaction whose write lock is taken without waiting (busy timeout 0)
 * at the first row there is someone to deliver to. Before, the DELETE came
 * after the publish, outside any transaction: while another process held
 * the write lock (an sqlite3 shell, a backup) it failed at once (the open
 * SELECT holds a read transaction, and SQLite does not wait to upgrade one),
 * and the message was published again at every tick, each copy reaching the
 * device, for as long as the lock lasted (31 copies in a 13 s lock,
 * hub_c2d_lock). Now a
 * locked registry skips delivery for this tick (tried again at the next one;
 * nothing is published, nothing lost, the broker does not wait). If COMMIT
 * fails after a publish, the rows come back and the message is delivered
 * again later: at least once, as IoT Hub's C2D. */
static int deliver_begin(void)
{
    return write_lock(0);
}

static void deliver_end(int began)
{
    if (began) (void)write_unlock(1);
}

static void deliver_c2d(int64_t now_s)
{
    sqlite3_stmt *st, *del;
    int began = 0;
    write_if_any("SELECT 1 FROM c2d WHERE expires<=? LIMIT 1", "DELETE FROM c2d WHERE expires<=?", now_s);
    if (sqlite3_prepare_v2(g.db, "SELECT seq,device,bag,payload,expires FROM c2d WHERE expires>? ORDER BY seq", -1, &st,
                           NULL) != SQLITE_OK)
        return;
    /* Not the expired ones a busy registry kept (deleted at a later tick). */
    sqlite3_bind_int64(st, 1, now_s);
    if (sqlite3_prepare_v2(g.db, "DELETE FROM c2d WHERE seq=?", -1, &del, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *device = col(st, 1), *bag = col(st, 2);
        struct conn *c = conn_by_id(device, 0);
        const char *cid;
        char *topic;
        size_t tsz;
        int sent;
        mosquitto_property *props = NULL;
        if (!c || !(c->subs & LOCALHUB_S_C2D) || !(cid = mosquitto_client_id(c->client))) continue;
        if (c2d_purged(device, sqlite3_column_int64(st, 0))) continue; /* by a CleanSession CONNECT */
        if (!began && !(began = deliver_begin())) break; /* registry locked: next tick */
        /* Sized to fit: the CLI takes bags up to 8 KB, and a fixed 4 KB
         * topic cut the properties short (the last one changed, the rest
         * lost) without a word. */
        tsz = strlen(device) + strlen(bag) + sizeof("devices//messages/devicebound/");
        if (tsz > 65535 || !(topic = malloc(tsz))) continue;
        snprintf(topic, tsz, "devices/%s/messages/devicebound/%s", device, bag);
        /* Remaining TTL travels with the message in the broker's session queue. */
        int64_t left = sqlite3_column_int64(st, 4) - now_s;
        mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, (uint32_t)(left > 0 ? left : 1));
        /* QoS 1: the broker's persistent session redelivers it until PUBACK. */
        sent = mosquitto_broker_publish_copy(cid, topic, sqlite3_column_bytes(st, 3), sqlite3_column_blob(st, 3), 1,
                                             false, props) == MOSQ_ERR_SUCCESS;
        free(topic);
        if (sent) {
            sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
            sqlite3_step(del);
            sqlite3_reset(del);
        }
    }
    sqlite3_finalize(del);
    sqlite3_finalize(st);
    deliver_end(began);
}

/* Module input messages queued by 'localhub module send-input' (localhub's
 * stand-in for an IoT Edge route): QoS 1 on
 * devices/{d}/modules/{m}/inputs/{input}/{bag} once the module is subscribed. */
static void deliver_inputs(int64_t now_s)
{
    sqlite3_stmt *st, *del;
    int began = 0;
    write_if_any("SELECT 1 FROM module_inputs WHERE expires<=? LIMIT 1", "DELETE FROM module_inputs WHERE expires<=?",
                 now_s);
    if (sqlite3_prepare_v2(g.db, "SELECT seq,device,module,input,bag,payload FROM module_inputs ORDER BY seq", -1,
                           &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_prepare_v2(g.db, "DELETE FROM module_inputs WHERE seq=?", -1, &del, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        char key[2 * LOCALHUB_ID_MAX + 2], *topic;
        const char *cid;
        struct conn *c;
        size_t tsz;
        int sent;
        snprintf(key, sizeof(key), "%s/%s", col(st, 1), col(st, 2));
        c = conn_by_id(key, 0);
        if (!c || !(c->subs & LOCALHUB_S_INPUTS) || !(cid = mosquitto_client_id(c->client))) continue;
        if (!began && !(began = deliver_begin())) break; /* registry locked: next tick */
        /* Sized to fit (an 8 KB bag with long ids overflowed a fixed 8 KB
         * topic, and the message then waited unsent until it expired). */
        tsz = strlen(col(st, 1)) + strlen(col(st, 2)) + strlen(col(st, 3)) + strlen(col(st, 4)) +
              sizeof("devices//modules//inputs//");
        if (tsz > 65535 || !(topic = malloc(tsz))) continue;
        snprintf(topic, tsz, "devices/%s/modules/%s/inputs/%s/%s", col(st, 1), col(st, 2), col(st, 3), col(st, 4));
        sent = mosquitto_broker_publish_copy(cid, topic, sqlite3_column_bytes(st, 5), sqlite3_column_blob(st, 5), 1,
                                             false, NULL) == MOSQ_ERR_SUCCESS;
        free(topic);
        if (sent) {
            sqlite3_bind_int64(del, 1, sqlite3_column_int64(st, 0));
            sqlite3_step(del);
            sqlite3_reset(del);
        }
    }
    sqlite3_finalize(del);
    sqlite3_finalize(st);
    deliver_end(began);
}

/* Desired-property pushes queued by the CLI: sent to the subscribed devices
 * and removed in one transaction whose lock is taken without waiting, as a
 * C2D message (before, a locked registry made the DELETE wait 5 s, fail,
 * and every tick pushed the same patches again). */
static void push_desired(void)
{
    sqlite3_stmt *st;
    int64_t last = 0;
    int began = 0;
    if (sqlite3_prepare_v2(g.db, "SELECT seq,device,version,patch FROM desired_push ORDER BY seq", -1, &st, NULL) !=
        SQLITE_OK)
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (!began && !(began = deliver_begin())) break; /* registry locked: next tick */
        struct conn *c = conn_by_id(col(st, 1), 0);
        last = sqlite3_column_int64(st, 0);
        if (!c || !(c->subs & LOCALHUB_S_TWIN_DESIRED)) continue; /* not kept for offline devices */
        cJSON *p = cJSON_Parse(col(st, 3));
        if (!p) continue;
        cJSON_AddNumberToObject(p, "$version", (double)sqlite3_column_int64(st, 2));
        char *s = cJSON_PrintUnformatted(p), topic[128];
        snprintf(topic, sizeof(topic), "$iothub/twin/PATCH/properties/desired/?$version=%lld",
                 (long long)sqlite3_column_int64(st, 2));
        reply(c, topic, s, 0, NULL);
        free(s);
        cJSON_Delete(p);
    }
    sqlite3_finalize(st);
    if (last) (void)write_stmt("DELETE FROM desired_push WHERE seq<=?", "i", last);
    deliver_end(began);
}

/* @mono_ms: CLOCK_MONOTONIC, for methods.sent and the timeouts (the column
 * is the plugin's alone; calls in flight end with the broker, see init).
 * A call is sent and marked 'sent' (or answered 404 for an offline device)
 * in one transaction whose lock is taken without waiting: with the registry
 * locked elsewhere, the mark waited 5 s, failed, and the call went out
 * again at every tick. */
static void run_methods(int64_t mono_ms)
{
    sqlite3_stmt *st;
    int began = 0;
    if (sqlite3_prepare_v2(g.db, "SELECT id,device,name,payload FROM methods WHERE state='new'", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            struct conn *c = conn_by_id(col(st, 1), 0);
            if (!began && !(began = deliver_begin())) break; /* registry locked: next tick */
            if (!c || !(c->subs & LOCALHUB_S_METHODS)) {
                /* 404103 DeviceNotOnline */
                (void)write_stmt("UPDATE methods SET state='done',status=404 WHERE id=?", "i", id);
                continue;
            }
            char topic[300];
            snprintf(topic, sizeof(topic), "$iothub/methods/POST/%s/?$rid=%lld", col(st, 2), (long long)id);
            reply(c, topic, col(st, 3), 0, NULL);
            (void)write_stmt("UPDATE methods SET state='sent',sent=? WHERE id=?", "ii", mono_ms, id);
        }
        sqlite3_finalize(st);
        deliver_end(began);
    }
    /* Not while an answer waits in memory for the registry: it came in time. */
    if (!g.pend_mres)
        write_if_any("SELECT 1 FROM methods WHERE state='sent' AND sent+timeout*1000<=? LIMIT 1",
                     "UPDATE methods SET state='done',status=504 WHERE state='sent' AND sent+timeout*1000<=?",
                     mono_ms);
}

/* Finished or abandoned DPS operations, older than the retention: a poll
 * for one then gets 404 "Operation not found" and the device registers
 * again, as with DPS, which keeps operation results only for a while. */
static void prune_dps_ops(int64_t now_s)
{
    write_if_any("SELECT 1 FROM dps_ops WHERE created<=? LIMIT 1", "DELETE FROM dps_ops WHERE created<=?",
                 now_s - g.dps_retention_s);
}

/* A broker that runs for years would keep the server certificate it loaded
 * at start: once a day (and at the first tick) the certificate is checked
 * and, within LOCALHUB_SERVER_RENEW_DAYS of its end, renewed from the same
 * root as `localhub start` does; then the broker is sent SIGHUP, which makes
 * mosquitto 2.0 load the listeners' certificate and key again for new
 * connections while open connections and this plugin stay (checked:
 * docs/localhub.md, "Server certificate"). The root, which localhub never
 * replaces, is reported from a year before its end. */
static int check_pki(int may_renew)
{
    char ca[4096], cakey[4096], srv[4096], srvkey[4096], when[32];
    struct localhub_renewal r;
    X509 *root;
    int64_t left;
    int due = 0;
    snprintf(ca, sizeof(ca), "%s/pki/root-ca.pem", g.state_dir);
    snprintf(cakey, sizeof(cakey), "%s/pki/root-ca.key", g.state_dir);
    snprintf(srv, sizeof(srv), "%s/pki/server.pem", g.state_dir);
    snprintf(srvkey, sizeof(srvkey), "%s/pki/server.key", g.state_dir);
    if (!may_renew) {
        /* At plugin init: only say what the first tick will do, by the same
         * rule (a dry run: no CA key, nothing written). */
        int rc = localhub_server_cert_renew_due(ca, NULL, srv, NULL, 0, &r);
        due = rc == 1;
        if (rc == 1)
            mosquitto_log_printf(MOSQ_LOG_WARNING, "localhub: the server certificate %s %s: the broker renews it now",
                                 r.left_s < 0 ? "expired on" : "expires on", r.old_end);
        else if (rc == -2)
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "localhub: the server certificate %s %s: not issued by the root CA, localhub never "
                                 "renews it; replace it yourself",
                                 r.left_s < 0 ? "expired on" : "expires on", r.old_end);
        else if (rc == 0 && r.left_s < (int64_t)LOCALHUB_SERVER_RENEW_DAYS * 86400)
            mosquitto_log_printf(MOSQ_LOG_WARNING,
                                 "localhub: the server certificate expires on %s: not renewed, a new one would end "
                                 "with the root CA too (see the root CA's line)",
                                 r.old_end);
    }
    switch (may_renew ? localhub_server_cert_renew_due(ca, cakey, srv, srvkey, 0, &r) : 0) {
    case 1:
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "localhub: server certificate %s %s (serial %s): renewed with the same root CA, valid until "
                             "%s (serial %s); reloading the listeners (SIGHUP)",
                             r.left_s < 0 ? "expired on" : "was to expire on", r.old_end, r.old_serial, r.new_end,
                             r.new_serial);
        g.own_reload = 1;
        if (kill(getpid(), SIGHUP)) {
            g.own_reload = 0;
            mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: cannot signal the broker (%s): restart it to serve %s",
                                 strerror(errno), srv);
        }
        break;
    case -2:
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "localhub: the server certificate %s %s: not issued by the root CA, localhub never renews "
                             "it; replace it yourself",
                             r.left_s < 0 ? "expired on" : "expires on", r.old_end);
        break;
    case -1:
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "localhub: the server certificate %s cannot be renewed (%s): checked again tomorrow; "
                             "'localhub stop; localhub start' renews it too",
                             srv, r.old_end[0] ? "cannot write it or read the root CA's key" : "unreadable");
        break;
    default:
        break;
    }
    /* When due at init, the first tick (at once) says it: once, not twice. */
    if (due || !(root = localhub_cert_load_file(ca))) return due;
    left = localhub_cert_seconds_left(root);
    if (left < (int64_t)LOCALHUB_ROOT_WARN_DAYS * 86400 && !localhub_cert_not_after(root, when))
        mosquitto_log_printf(MOSQ_LOG_WARNING, "localhub: the root CA %s %s: %s", left < 0 ? "expired on" : "expires on",
                             when, "devices trust it; plan its replacement (docs/localhub.md)");
    X509_free(root);
    return due;
}

/* MOSQ_EVT_RELOAD: the broker is re-reading its configuration (SIGHUP) and
 * is about to re-check every client's credentials (on_basic_auth). */
static int on_reload(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)event_data;
    (void)userdata;
    g.reloading = 1;
    /* Someone else's reload (new files in pki/, say): check them at the
     * next tick. Not after our own, which follows a renewal. */
    if (!g.own_reload) g.pki_check_now = 1;
    g.own_reload = 0;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "localhub: broker reloaded: listener certificates loaded again, clients kept");
    return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
    int64_t mono_ms = localhub_mono_ms(), now_s;
    (void)event;
    (void)event_data;
    (void)userdata;
    g.reloading = 0; /* a reload, if any, is over: CONNECTs are checked again */
    /* CLOCK_MONOTONIC: with the wall clock, a step back by J stopped all
     * of this (methods, C2D, desired pushes, kicks) for J. */
    if (mono_ms - g.last_tick_mono_ms < TICK_PERIOD_MS) return MOSQ_ERR_SUCCESS;
    g.last_tick_mono_ms = mono_ms;
    now_s = localhub_now_s(); /* wall clock: SAS and C2D expiries */
    conn_reap();
    while (g.kicks) {
        struct kick *k = g.kicks;
        g.kicks = k->next;
        mosquitto_kick_client_by_clientid(k->id, false);
        free(k);
    }
    /* SAS tokens: disconnect when the token expires. */
    for (size_t b = 0; b < CONN_BUCKETS; b++)
        for (struct conn *c = g.buckets[b]; c; c = c->next)
            if (!c->gone && c->sas_expiry_s && c->sas_expiry_s <= now_s) {
                c->sas_expiry_s = 0;
                mosquitto_log_printf(MOSQ_LOG_NOTICE, "localhub: SAS token of '%s' expired; disconnecting", c->key);
                schedule_kick(c->key);
            }
    /* Bookkeeping the registry could not take at once (locked elsewhere). */
    (void)flush_pending(0);
    {
        /* Kicks asked by the CLI: done at once, their rows deleted when the
         * registry can be written without waiting; until then the rows
         * already done (kicks_done: rowid and device) are not done again.
         * Only the requests seen are deleted: a CLI may add one (a device
         * just disabled) between this SELECT and the DELETE, and a blanket
         * DELETE lost it, leaving that device connected. Not "every rowid
         * up to the last done": kick_requests has no INTEGER PRIMARY KEY,
         * so a VACUUM renumbers its rows, and a kick written after it got a
         * rowid below that mark, was never done and was deleted (review
         * REV16, hub_kick_lock). A done row a VACUUM renumbered is done
         * once more: a second kick of the same client, harmless. */
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(g.db, "SELECT rowid,device FROM kick_requests ORDER BY rowid", -1, &st, NULL) ==
            SQLITE_OK) {
            while (sqlite3_step(st) == SQLITE_ROW) {
                int64_t rowid = sqlite3_column_int64(st, 0);
                const char *dev = col(st, 1);
                const struct kick_done *d = g.kicks_done;
                struct kick_done *k;
                while (d && (d->rowid != rowid || strcmp(d->device, dev) != 0)) d = d->next;
                if (d) continue;
                if (!(k = malloc(sizeof(*k) + strlen(dev) + 1))) {
                    mosquitto_kick_client_by_clientid(dev, false); /* done again at the next tick */
                    continue;
                }
                k->rowid = rowid;
                memcpy(k->device, dev, strlen(dev) + 1);
                k->next = g.kicks_done;
                g.kicks_done = k;
                mosquitto_kick_client_by_clientid(k->device, false);
            }
            sqlite3_finalize(st);
        }
        if (g.kicks_done && deliver_begin()) {
            int done = 1;
            for (const struct kick_done *k = g.kicks_done; k && done; k = k->next)
                done = write_stmt("DELETE FROM kick_requests WHERE rowid=? AND device=?", "it", k->rowid, k->device) ==
                       0;
            if (write_unlock(done)) kicks_done_free();
        }
    }
    deliver_c2d(now_s);
    deliver_inputs(now_s);
    push_desired();
    run_methods(mono_ms);
    if (mono_ms - g.last_prune_mono_ms >= PRUNE_PERIOD_MS) {
        g.last_prune_mono_ms = mono_ms;
        prune_dps_ops(now_s);
    }
    if (g.pki_check_now || mono_ms - g.last_pki_check_mono_ms >= PKI_CHECK_PERIOD_MS) {
        g.pki_check_now = 0;
        g.last_pki_check_mono_ms = mono_ms;
        (void)check_pki(1);
    }
    return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ev = event_data;
    struct conn *c = conn_find(ev->client);
    (void)event;
    (void)userdata;
    if (!c || c->gone) return MOSQ_ERR_SUCCESS;
    if (!c->is_dps) {
        struct conn *newest = conn_by_id(c->key, 0);
        if (newest == c) set_conn_state(c->id, c->module, "Disconnected", 0, -1);
    }
    c->gone = 1; /* freed at the next tick, after a possible Will */
    return MOSQ_ERR_SUCCESS;
}

/* ------------------------------------------------------------------ */

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5) return 5;
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *opts,
                          int opt_count)
{
    char err[256], path[4096];
    (void)userdata;
    memset(&g, 0, sizeof(g));
    g.pid = identifier;
    g.pend_mres_tail = &g.pend_mres;
    for (int i = 0; i < opt_count; i++)
        if (strcmp(opts[i].key, "state_dir") == 0) snprintf(g.state_dir, sizeof(g.state_dir), "%s", opts[i].value);
    if (!g.state_dir[0]) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: plugin_opt_state_dir is required");
        return MOSQ_ERR_INVAL;
    }
    g.db = localhub_db_open(g.state_dir, err, sizeof(err));
    if (!g.db) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: %s", err);
        return MOSQ_ERR_UNKNOWN;
    }
    if (localhub_db_meta_get(g.db, "hostname", g.hostname, sizeof(g.hostname)))
        snprintf(g.hostname, sizeof(g.hostname), "localhost");
    if (localhub_db_meta_get(g.db, "id_scope", g.id_scope, sizeof(g.id_scope))) g.id_scope[0] = '\0';
    g.telemetry_max = TELEMETRY_MAX_BYTES_DEFAULT;
    g.telemetry_keep = TELEMETRY_KEEP_DEFAULT;
    g.dps_retention_s = DPS_OP_RETENTION_S_DEFAULT;
    {
        /* written by `localhub start` (checked there) */
        char v[32];
        if (!localhub_db_meta_get(g.db, "telemetry_max_bytes", v, sizeof(v))) g.telemetry_max = strtoll(v, NULL, 10);
        if (!localhub_db_meta_get(g.db, "telemetry_keep", v, sizeof(v))) g.telemetry_keep = atoi(v);
        if (!localhub_db_meta_get(g.db, "dps_op_retention_s", v, sizeof(v))) g.dps_retention_s = strtoll(v, NULL, 10);
        if (!localhub_db_meta_get(g.db, "telemetry_write_errors", v, sizeof(v)))
            g.telemetry_errors = strtoll(v, NULL, 10);
        if (g.telemetry_keep < 0) g.telemetry_keep = 0;
        if (g.dps_retention_s < 0) g.dps_retention_s = 0;
    }
    snprintf(path, sizeof(path), "%s/telemetry.jsonl", g.state_dir);
    if (telemetry_open()) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: cannot open %s", path);
        return MOSQ_ERR_UNKNOWN;
    }
    /* Warnings now, in broker.log; a renewal that is due (a broker started
     * without `localhub start`, which renews first) at the first tick: the
     * broker's signal handlers are set by then (a SIGHUP now would end it). */
    g.last_pki_check_mono_ms = localhub_mono_ms() - (check_pki(0) ? PKI_CHECK_PERIOD_MS : 0);
    /* Operations stored by earlier versions kept a copy of the key. */
    localhub_db_exec(g.db, "UPDATE dps_ops SET key1=NULL WHERE key1 IS NOT NULL");
    *(void **)(&g.chain_for) = dlsym(RTLD_DEFAULT, "localhub_tls_chain_for");
    if (!g.chain_for)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "localhub: TLS shim not preloaded; intermediate certificates cannot be used");
    /* Methods left in flight by a previous run cannot be answered any more. */
    localhub_db_exec(g.db, "UPDATE methods SET state='done',status=504 WHERE state='sent'");
    localhub_db_exec(g.db, "UPDATE devices SET conn_state='Disconnected'");
    localhub_db_exec(g.db, "UPDATE modules SET conn_state='Disconnected'");
    mosquitto_callback_register(g.pid, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
    mosquitto_callback_register(g.pid, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
    mosquitto_callback_register(g.pid, MOSQ_EVT_MESSAGE, on_message, NULL, NULL);
    mosquitto_callback_register(g.pid, MOSQ_EVT_TICK, on_tick, NULL, NULL);
    mosquitto_callback_register(g.pid, MOSQ_EVT_DISCONNECT, on_disconnect, NULL, NULL);
    mosquitto_callback_register(g.pid, MOSQ_EVT_RELOAD, on_reload, NULL, NULL);
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "localhub: plugin ready (hub %s, id scope %s)", g.hostname, g.id_scope);
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
    (void)userdata;
    (void)opts;
    (void)opt_count;
    mosquitto_callback_unregister(g.pid, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
    mosquitto_callback_unregister(g.pid, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    mosquitto_callback_unregister(g.pid, MOSQ_EVT_MESSAGE, on_message, NULL);
    mosquitto_callback_unregister(g.pid, MOSQ_EVT_TICK, on_tick, NULL);
    mosquitto_callback_unregister(g.pid, MOSQ_EVT_DISCONNECT, on_disconnect, NULL);
    mosquitto_callback_unregister(g.pid, MOSQ_EVT_RELOAD, on_reload, NULL);
    if (g.telemetry) fclose(g.telemetry);
    /* What the registry could not take during the run: the broker is
     * stopping, it may wait now (the CLI's busy time). */
    if (!flush_pending(LOCALHUB_DB_BUSY_MS))
        mosquitto_log_printf(MOSQ_LOG_ERR, "localhub: registry locked at stop: connection states, C2D purges and "
                                           "method answers not written");
    pend_free();
    for (size_t b = 0; b < CONN_BUCKETS; b++)
        while (g.buckets[b]) conn_remove(g.buckets[b]->client);
    while (g.kicks) {
        struct kick *k = g.kicks;
        g.kicks = k->next;
        free(k);
    }
    kicks_done_free();
    sqlite3_close(g.db);
    return MOSQ_ERR_SUCCESS;
}
