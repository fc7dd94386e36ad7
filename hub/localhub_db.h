/**
 * @file localhub_db.h
 * @brief The localhub registry: one SQLite database (WAL mode) in the state
 *        folder, shared by the CLI and the broker plugin. It is also the
 *        channel for live operations: the CLI writes requests (C2D messages,
 *        desired-property pushes, method calls) into tables the plugin polls
 *        from MOSQ_EVT_TICK, and polls for the plugin's answers.
 */
#ifndef LOCALHUB_DB_H
#define LOCALHUB_DB_H

/* How long a registry statement waits for another process's write lock
 * before failing with SQLITE_BUSY (set by localhub_db_open()). */
#define LOCALHUB_DB_BUSY_MS 5000

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/** Open (and create/upgrade) `<state>/registry.db`. NULL on failure (message to stderr-free @p err). */
sqlite3 *localhub_db_open(const char *state_dir, char *err, size_t errsz);

/** Execute SQL without results. 0 ok, -1 error. */
int localhub_db_exec(sqlite3 *db, const char *sql);

/** Get a meta value into @p out; 0 found, -1 absent. */
int localhub_db_meta_get(sqlite3 *db, const char *key, char *out, size_t outsz);
int localhub_db_meta_set(sqlite3 *db, const char *key, const char *value);

/** Current time: seconds and milliseconds since the epoch; ISO 8601 UTC with ms. */
int64_t localhub_now_s(void);
int64_t localhub_now_ms(void);
/** Milliseconds of CLOCK_MONOTONIC: for intervals and timeouts (periodic work,
 *  waits), which a step of the wall clock (NTP, an operator) must not stretch
 *  or cut. Shared by the processes of one boot; never stored across restarts. */
int64_t localhub_mono_ms(void);
void localhub_iso8601(int64_t ms, char out[32]);

/** Create an empty twin for @p device if none exists. */
int localhub_twin_ensure(sqlite3 *db, const char *device);

/**
 * Apply a JSON merge-patch to the desired (@p desired = 1) or reported
 * section of @p device's twin, updating `$version` and `$metadata`.
 * @return 0 with the new version in @p out_version; 400 when the patch is
 *         not valid JSON, breaks the key/value/depth/size rules; 404 when the
 *         device has no twin; 500 on a database error. On 400 a reason is
 *         written to @p err.
 */
int localhub_twin_patch(sqlite3 *db, const char *device, int desired, const char *patch, size_t patchlen,
                        int64_t *out_version, char *err, size_t errsz);

/**
 * The device view of the twin `{"desired":{...,"$version":N},"reported":{...}}`
 * (@p with_meta = 0) or the service view with `$metadata` in each section
 * (@p with_meta = 1). malloc'd string, NULL when absent.
 */
char *localhub_twin_json(sqlite3 *db, const char *device, int with_meta);

#endif
