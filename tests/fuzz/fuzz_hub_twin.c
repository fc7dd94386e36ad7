/*
 * Fuzz target for the localhub twin engine and SAS check: arbitrary bytes as
 * a reported/desired JSON merge patch against a twin in a scratch registry,
 * and as a SAS password checked against a fixed key. Invariants: a patch is
 * either refused (400) or leaves a twin that still parses, keeps increasing
 * $version, and stays within the 32 KB section rule; a random token never
 * verifies.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "localhub_db.h"
#include "localhub_parse.h"
#include "localhub_pki.h"

static sqlite3 *db;
static int64_t last_version[2];

static void cleanup(void)
{
    sqlite3_close(db);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[200];
    int64_t ver = 0;
    if (!db) {
        char dir[] = "/tmp/fuzz_hub_twin.XXXXXX";
        if (!mkdtemp(dir)) abort();
        db = localhub_db_open(dir, err, sizeof(err));
        if (!db || localhub_twin_ensure(db, "dev1")) abort();
        localhub_db_exec(db, "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;");
        char path[64];
        snprintf(path, sizeof(path), "%s/registry.db", dir);
        unlink(path); /* the open handle keeps it; nothing is left behind */
        rmdir(dir);
        atexit(cleanup);
        last_version[0] = last_version[1] = 1;
    }
    if (size < 1) return 0;
    if (data[0] & 0x80) {
        /* SAS: the input is the password; the key is fixed and unknown to it. */
        char *pw = malloc(size);
        if (!pw) return 0;
        memcpy(pw, data + 1, size - 1);
        pw[size - 1] = '\0';
        struct localhub_sas sas;
        if (localhub_parse_sas(pw, &sas) == TMA_OK &&
            localhub_sas_sig_ok(sas.sr, sas.se, sas.sig, "c2VjcmV0LWtleS1mb3ItZnV6emluZy0wMTIzNDU2Nzg="))
            abort();
        free(pw);
        return 0;
    }
    int desired = data[0] & 1;
    int rc = localhub_twin_patch(db, "dev1", desired, (const char *)data + 1, size - 1, &ver, err, sizeof(err));
    if (rc != 0 && rc != 400) abort();
    if (rc == 0) {
        if (ver <= last_version[desired]) abort();
        last_version[desired] = ver;
    }
    char *doc = localhub_twin_json(db, "dev1", 1);
    cJSON *t = doc ? cJSON_Parse(doc) : NULL;
    if (!t) abort();
    cJSON_Delete(t);
    free(doc);
    return 0;
}
