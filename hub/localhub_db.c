/* localhub registry (SQLite) and twin documents (cJSON). */
#define _POSIX_C_SOURCE 200809L
#include "localhub_db.h"
#include "localhub_parse.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);"
    "CREATE TABLE IF NOT EXISTS cas(name TEXT PRIMARY KEY, pem TEXT NOT NULL, code TEXT NOT NULL,"
    "  verified INTEGER NOT NULL DEFAULT 0, thumb TEXT, subject TEXT, created INTEGER);"
    "CREATE TABLE IF NOT EXISTS devices(id TEXT PRIMARY KEY, auth TEXT NOT NULL, thumb1 TEXT, thumb2 TEXT,"
    "  key1 TEXT, key2 TEXT, status TEXT NOT NULL DEFAULT 'enabled', created INTEGER,"
    "  conn_state TEXT NOT NULL DEFAULT 'Disconnected', last_activity INTEGER DEFAULT 0,"
    "  subs INTEGER NOT NULL DEFAULT 0, had_session INTEGER NOT NULL DEFAULT 0, gen INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS twins(device TEXT PRIMARY KEY, desired TEXT NOT NULL, reported TEXT NOT NULL,"
    "  dver INTEGER NOT NULL, rver INTEGER NOT NULL, dmeta TEXT NOT NULL, rmeta TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS c2d(seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,"
    "  mid TEXT NOT NULL, bag TEXT NOT NULL, payload BLOB, enqueued INTEGER NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS desired_push(seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,"
    "  version INTEGER NOT NULL, patch TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS methods(id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,"
    "  name TEXT NOT NULL, payload TEXT, timeout INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'new',"
    "  status INTEGER, response TEXT, created INTEGER NOT NULL, sent INTEGER);"
    "CREATE TABLE IF NOT EXISTS enroll_groups(id TEXT PRIMARY KEY, attestation TEXT NOT NULL, ca TEXT,"
    "  key1 TEXT, key2 TEXT, enabled INTEGER NOT NULL DEFAULT 1, created INTEGER);"
    "CREATE TABLE IF NOT EXISTS enrollments(reg_id TEXT PRIMARY KEY, attestation TEXT NOT NULL, thumb TEXT,"
    "  key1 TEXT, key2 TEXT, device_id TEXT, enabled INTEGER NOT NULL DEFAULT 1, created INTEGER);"
    "CREATE TABLE IF NOT EXISTS dps_ops(op_id TEXT PRIMARY KEY, reg_id TEXT NOT NULL, device_id TEXT,"
    "  auth TEXT, thumb TEXT, key1 TEXT, status TEXT NOT NULL, created INTEGER NOT NULL, polls INTEGER DEFAULT 0,"
    "  result TEXT);"
    "CREATE TABLE IF NOT EXISTS kick_requests(device TEXT NOT NULL);"
    /* Module identities: their twins, method calls and desired pushes use
     * the key "{device}/{module}" in the device columns of those tables (a
     * device id never contains '/'). */
    "CREATE TABLE IF NOT EXISTS modules(device TEXT NOT NULL, id TEXT NOT NULL, auth TEXT NOT NULL, thumb1 TEXT,"
    "  thumb2 TEXT, key1 TEXT, key2 TEXT, created INTEGER, conn_state TEXT NOT NULL DEFAULT 'Disconnected',"
    "  last_activity INTEGER DEFAULT 0, subs INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(device, id));"
    "CREATE TABLE IF NOT EXISTS module_inputs(seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL,"
    "  module TEXT NOT NULL, input TEXT NOT NULL, bag TEXT NOT NULL, payload BLOB, enqueued INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL);";

sqlite3 *localhub_db_open(const char *state_dir, char *err, size_t errsz)
{
    char path[4096];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/registry.db", state_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        if (err) snprintf(err, errsz, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    /* It holds every SAS device key: never readable by others, whatever the
     * umask of the process that created it. */
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077) != 0 && chmod(path, 0600) != 0) {
        if (err) snprintf(err, errsz, "cannot make %s private (chmod 600): %s", path, strerror(errno));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, LOCALHUB_DB_BUSY_MS);
    if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        if (err) snprintf(err, errsz, "cannot initialise %s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int localhub_db_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int localhub_db_meta_get(sqlite3 *db, const char *key, char *out, size_t outsz)
{
    sqlite3_stmt *st;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k=?", -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int localhub_db_meta_set(sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int rc;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k,v) VALUES(?,?)", -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

int64_t localhub_now_s(void)
{
    return (int64_t)time(NULL);
}

int64_t localhub_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t localhub_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void localhub_iso8601(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)((ms % 1000 + 1000) % 1000));
}

int localhub_twin_ensure(sqlite3 *db, const char *device)
{
    sqlite3_stmt *st;
    int rc;
    char now[32], meta[128];
    localhub_iso8601(localhub_now_ms(), now);
    snprintf(meta, sizeof(meta), "{\"$lastUpdated\":\"%s\"}", now);
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO twins(device,desired,reported,dver,rver,dmeta,rmeta)"
                           " VALUES(?,'{}','{}',1,1,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, meta, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, meta, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* ---- twin rules (spec section 4: keys, values, depth 10, 32 KB) ---- */

#define TWIN_MAX_DEPTH 10
#define TWIN_MAX_SIZE 32768
#define TWIN_MAX_KEY 1024
#define TWIN_MAX_STRING 4096

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > TWIN_MAX_KEY) return 0;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++) {
        if (*p < 0x20 || *p == 0x7F || *p == '.' || *p == '$' || *p == ' ') return 0;
        if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) return 0; /* C1 controls */
    }
    return 1;
}

/* Validate a patch value at @depth (root object = depth 1). */
static int check_value(const cJSON *v, int depth, char *err, size_t errsz)
{
    if (depth > TWIN_MAX_DEPTH) {
        snprintf(err, errsz, "nesting deeper than %d levels", TWIN_MAX_DEPTH);
        return -1;
    }
    if (cJSON_IsString(v) && strlen(v->valuestring) > TWIN_MAX_STRING) {
        snprintf(err, errsz, "string value longer than %d bytes", TWIN_MAX_STRING);
        return -1;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        /* Integers must fit in 53 bits. Every double of magnitude above 2^52
         * is an integer, and the one non-integer just below 2^52 is inside
         * the range, so comparing is enough (no float-to-int cast, which is
         * undefined for huge values). */
        if (d >= 4503599627370496.0 || d < -4503599627370496.0) {
            snprintf(err, errsz, "integer out of range");
            return -1;
        }
    }
    if (cJSON_IsObject(v)) {
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!c->string || !key_ok(c->string)) {
                snprintf(err, errsz, "invalid property name '%.64s'", c->string ? c->string : "");
                return -1;
            }
            if (check_value(c, depth + 1, err, errsz)) return -1;
        }
    }
    if (cJSON_IsArray(v)) {
        for (const cJSON *c = v->child; c; c = c->next)
            if (check_value(c, depth + 1, err, errsz)) return -1;
    }
    return 0;
}

static size_t doc_size(const cJSON *v)
{
    size_t s = 0;
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c->string) s += strlen(c->string);
            s += doc_size(c);
        }
        return s;
    }
    if (cJSON_IsString(v)) return strlen(v->valuestring);
    if (cJSON_IsNumber(v)) return 8;
    if (cJSON_IsBool(v)) return 4;
    return 4; /* null */
}

/* Metadata of a freshly written scalar or array (merge() builds that of an
 * object member by member). */
static cJSON *meta_for(const char *now, int64_t ver, int desired)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "$lastUpdated", now);
    if (desired) cJSON_AddNumberToObject(m, "$lastUpdatedVersion", (double)ver);
    return m;
}

static void set_meta_stamp(cJSON *meta, const char *now, int64_t ver, int desired)
{
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "$lastUpdated");
    cJSON_AddStringToObject(meta, "$lastUpdated", now);
    if (desired) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "$lastUpdatedVersion");
        cJSON_AddNumberToObject(meta, "$lastUpdatedVersion", (double)ver);
    }
}

/* RFC 7396 merge with metadata kept in step. */
static void merge(cJSON *doc, cJSON *meta, const cJSON *patch, const char *now, int64_t ver, int desired)
{
    set_meta_stamp(meta, now, ver, desired);
    for (const cJSON *p = patch->child; p; p = p->next) {
        if (cJSON_IsNull(p)) {
            cJSON_DeleteItemFromObjectCaseSensitive(doc, p->string);
            cJSON_DeleteItemFromObjectCaseSensitive(meta, p->string);
            continue;
        }
        cJSON *cur = cJSON_GetObjectItemCaseSensitive(doc, p->string);
        if (cJSON_IsObject(p) && cJSON_IsObject(cur)) {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(meta, p->string);
            if (!cJSON_IsObject(m)) {
                m = cJSON_CreateObject();
                cJSON_DeleteItemFromObjectCaseSensitive(meta, p->string);
                cJSON_AddItemToObject(meta, p->string, m);
            }
            merge(cur, m, p, now, ver, desired);
            continue;
        }
        cJSON *copy, *m;
        if (cJSON_IsObject(p)) {
            /* A new object is the patch merged into {} (RFC 7396): its nulls
             * mean nothing at any depth and are dropped (a copy kept the
             * nested ones: the twin stored and served "c":null). */
            copy = cJSON_CreateObject();
            m = cJSON_CreateObject();
            merge(copy, m, p, now, ver, desired);
        } else {
            copy = cJSON_Duplicate(p, 1);
            m = meta_for(now, ver, desired);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(doc, p->string);
        cJSON_AddItemToObject(doc, p->string, copy);
        cJSON_DeleteItemFromObjectCaseSensitive(meta, p->string);
        cJSON_AddItemToObject(meta, p->string, m);
    }
}

/* 1 if the JSON text carries a NUL: a raw one, or a \u0000 escape in a
 * string or key. cJSON ends its C strings there, so what would be stored is
 * not what was sent ("a\u0000b" became "a"). */
static int has_nul(const char *s, size_t n)
{
    int in_str = 0;
    if (memchr(s, '\0', n)) return 1;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            in_str = s[i] == '"';
        } else if (s[i] == '"') {
            in_str = 0;
        } else if (s[i] == '\\') {
            if (i + 5 < n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) return 1;
            i++; /* the escaped character */
        }
    }
    return 0;
}

int localhub_twin_patch(sqlite3 *db, const char *device, int desired, const char *patch, size_t patchlen,
                        int64_t *out_version, char *err, size_t errsz)
{
    sqlite3_stmt *st = NULL;
    cJSON *p = NULL, *doc = NULL, *meta = NULL;
    char *doc_s = NULL, *meta_s = NULL, now[32];
    int rc = 500;
    int64_t ver;
    const char *parse_end = NULL;

    p = cJSON_ParseWithLengthOpts(patch, patchlen, &parse_end, 0);
    if (!p || !cJSON_IsObject(p)) {
        snprintf(err, errsz, "patch is not a JSON object");
        rc = 400;
        goto out;
    }
    /* One JSON object and nothing after it but white space: cJSON stops at
     * the end of the first value and would take "{...} junk" silently. */
    while (parse_end && parse_end < patch + patchlen &&
           (*parse_end == ' ' || *parse_end == '\t' || *parse_end == '\n' || *parse_end == '\r'))
        parse_end++;
    if (!parse_end || parse_end != patch + patchlen) {
        snprintf(err, errsz, "patch is not a JSON object (data after it)");
        rc = 400;
        goto out;
    }
    if (has_nul(patch, patchlen)) {
        snprintf(err, errsz, "patch contains U+0000, which a twin cannot store");
        rc = 400;
        goto out;
    }
    /* JSON text is UTF-8 (RFC 8259) and cJSON copies string bytes as they
     * come: a stray 0xFF would be stored and served to every reader. */
    if (!localhub_utf8_valid(patch, patchlen)) {
        snprintf(err, errsz, "patch is not UTF-8 text");
        rc = 400;
        goto out;
    }
    if (check_value(p, 1, err, errsz)) {
        rc = 400;
        goto out;
    }
    if (localhub_db_exec(db, "BEGIN IMMEDIATE")) goto out;
    if (sqlite3_prepare_v2(db,
                           desired ? "SELECT desired,dmeta,dver FROM twins WHERE device=?"
                                   : "SELECT reported,rmeta,rver FROM twins WHERE device=?",
                           -1, &st, NULL) != SQLITE_OK)
        goto rollback;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = 404;
        snprintf(err, errsz, "device has no twin");
        goto rollback;
    }
    doc = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
    meta = cJSON_Parse((const char *)sqlite3_column_text(st, 1));
    ver = sqlite3_column_int64(st, 2) + 1;
    sqlite3_finalize(st);
    st = NULL;
    if (!doc || !meta) goto rollback;
    localhub_iso8601(localhub_now_ms(), now);
    merge(doc, meta, p, now, ver, desired);
    if (doc_size(doc) > TWIN_MAX_SIZE) {
        rc = 400;
        snprintf(err, errsz, "twin section would exceed %d bytes", TWIN_MAX_SIZE);
        goto rollback;
    }
    doc_s = cJSON_PrintUnformatted(doc);
    meta_s = cJSON_PrintUnformatted(meta);
    if (!doc_s || !meta_s) goto rollback;
    if (sqlite3_prepare_v2(db,
                           desired ? "UPDATE twins SET desired=?,dmeta=?,dver=? WHERE device=?"
                                   : "UPDATE twins SET reported=?,rmeta=?,rver=? WHERE device=?",
                           -1, &st, NULL) != SQLITE_OK)
        goto rollback;
    sqlite3_bind_text(st, 1, doc_s, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, meta_s, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ver);
    sqlite3_bind_text(st, 4, device, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto rollback;
    if (localhub_db_exec(db, "COMMIT")) goto rollback;
    *out_version = ver;
    rc = 0;
    goto out;
rollback:
    localhub_db_exec(db, "ROLLBACK");
out:
    sqlite3_finalize(st);
    cJSON_Delete(p);
    cJSON_Delete(doc);
    cJSON_Delete(meta);
    free(doc_s);
    free(meta_s);
    return rc;
}

char *localhub_twin_json(sqlite3 *db, const char *device, int with_meta)
{
    sqlite3_stmt *st;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, "SELECT desired,reported,dver,rver,dmeta,rmeta FROM twins WHERE device=?", -1, &st,
                           NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *root = cJSON_CreateObject();
        for (int i = 0; i < 2; i++) {
            cJSON *sec = cJSON_Parse((const char *)sqlite3_column_text(st, i));
            if (!sec) sec = cJSON_CreateObject();
            if (with_meta) {
                cJSON *m = cJSON_Parse((const char *)sqlite3_column_text(st, 4 + i));
                if (m) cJSON_AddItemToObject(sec, "$metadata", m);
            }
            cJSON_AddNumberToObject(sec, "$version", (double)sqlite3_column_int64(st, 2 + i));
            cJSON_AddItemToObject(root, i == 0 ? "desired" : "reported", sec);
        }
        out = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
    }
    sqlite3_finalize(st);
    return out;
}
