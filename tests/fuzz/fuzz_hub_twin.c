/*
 * Fuzz target for the localhub twin engine and SAS check: arbitrary bytes as
 * a reported/desired JSON merge patch against a twin in a scratch registry,
 * and as a SAS password checked against a fixed key. Invariants: a patch is
 * either refused (400) or leaves a twin that still parses, keeps increasing
 * $version, and stays within the 32 KB section rule; a random token never
 * verifies.
 *
 * One twin for every input grew to about 150 KB with its metadata by 20,000
 * runs, and each input re-read and re-parsed it under ASan: the short run
 * took 116 to 295 s of its time limit. So a new twin takes over after
 * TWIN_INPUTS inputs, and every other new twin starts with one section
 * filled close to the 32 KB rule, so patches that would break the rule are
 * still tried (a 4 KB input cannot fill a section on its own).
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

#define TWIN_INPUTS 1000
#define FILL_KEYS 8     /* string values of at most 4 KB each (spec section 4) */
#define FILL_LEN 3800   /* 8 x 3,800 B and the keys: close under the 32 KB rule */

static sqlite3 *db;
static int64_t last_version[2];
static unsigned twin_no, twin_inputs;
static char twin_id[32] = "dev0";

/* a new twin; every other one with one section close to the size rule */
static void next_twin(void)
{
    static char big[FILL_KEYS * (FILL_LEN + 16) + 8];
    size_t n = 0;
    int k;
    char err[200];
    int64_t ver = 0;
    int section;
    twin_no++;
    twin_inputs = 0;
    snprintf(twin_id, sizeof(twin_id), "dev%u", twin_no);
    if (localhub_twin_ensure(db, twin_id)) abort();
    last_version[0] = last_version[1] = 1;
    if (twin_no % 2 == 0) return;
    section = (int)(twin_no / 2 % 2);
    big[n++] = '{';
    for (k = 0; k < FILL_KEYS; k++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"f%d\":\"", k ? "," : "", k);
        memset(big + n, 'x', FILL_LEN);
        n += FILL_LEN;
        big[n++] = '"';
    }
    big[n++] = '}';
    big[n] = '\0';
    if (localhub_twin_patch(db, twin_id, section, big, strlen(big), &ver, err, sizeof(err)) != 0) abort();
    last_version[section] = ver;
}

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
        if (!db || localhub_twin_ensure(db, twin_id)) abort();
        localhub_db_exec(db, "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;");
        char path[64];
        snprintf(path, sizeof(path), "%s/registry.db", dir);
        unlink(path); /* the open handle keeps it; nothing is left behind */
        rmdir(dir);
        atexit(cleanup);
        last_version[0] = last_version[1] = 1;
    }
    if (size < 1) return 0;
    if (++twin_inputs > TWIN_INPUTS) next_twin();
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
    int rc = localhub_twin_patch(db, twin_id, desired, (const char *)data + 1, size - 1, &ver, err, sizeof(err));
    if (rc != 0 && rc != 400) abort();
    if (rc == 0) {
        if (ver <= last_version[desired]) abort();
        last_version[desired] = ver;
    }
    char *doc = localhub_twin_json(db, twin_id, 1);
    cJSON *t = doc ? cJSON_Parse(doc) : NULL;
    if (!t) abort();
    cJSON_Delete(t);
    free(doc);
    return 0;
}
