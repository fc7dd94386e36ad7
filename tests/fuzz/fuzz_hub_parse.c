/*
 * Fuzz target for the localhub parsers that see attacker-controlled input:
 * CONNECT user names, SAS passwords, PUBLISH topics and SUBSCRIBE filters,
 * property bags and percent-decoding (topics and filters of a device and
 * of a module). The first byte selects the parser.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "localhub_parse.h"

static int count_cb(const char *key, const char *value, void *ctx)
{
    size_t *n = ctx;
    *n += strlen(key) + (value ? strlen(value) : 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, out[512];
    size_t n = 0;
    if (size < 1) return 0;
    s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 6) {
    case 0: {
        struct localhub_user u;
        if (localhub_parse_username(s, &u) == TMA_OK) {
            if (u.is_dps ? !localhub_registration_id_valid(u.id) : !localhub_device_id_valid(u.id)) abort();
        }
        break;
    }
    case 1: {
        struct localhub_sas sas;
        if (localhub_parse_sas(s, &sas) == TMA_OK && (!sas.sr[0] || !sas.sig[0] || sas.se < 0)) abort();
        break;
    }
    case 2: {
        struct localhub_topic t;
        for (int dps = 0; dps < 3; dps++) {
            /* dps 0/1: a device's (or DPS client's) topic; 2: the same topic from module m1 of dev1 */
            tma_status st = dps < 2 ? localhub_parse_publish_topic(s, "dev1", dps, &t)
                                    : localhub_parse_module_publish_topic(s, "dev1", "m1", &t);
            if (st != TMA_OK) continue;
            if (t.kind == LOCALHUB_T_INVALID) abort();
            /* a telemetry bag ends at most one trailing '/' early (decision 19) */
            if (t.kind == LOCALHUB_T_TELEMETRY) {
                size_t bl = strlen(t.bag);
                if (t.bag_len > bl || (t.bag_len < bl && (t.bag_len + 1 != bl || t.bag[bl - 1] != '/'))) abort();
                (void)localhub_bag_walk(t.bag, t.bag_len, count_cb, &n);
            }
        }
        break;
    }
    case 3:
        (void)localhub_classify_subscription(s, "dev1", 0);
        (void)localhub_classify_subscription(s, "dev1", 1);
        (void)localhub_classify_module_subscription(s, "dev1", "m1");
        break;
    case 4:
        (void)localhub_bag_walk(s, strlen(s), count_cb, &n);
        break;
    default: {
        int32_t r = localhub_url_decode(s, strlen(s), out, sizeof(out));
        if (r >= 0 && (size_t)r != strlen(out)) abort();
        char enc[1600];
        if (localhub_url_encode(out, enc, sizeof(enc)) >= 0 && r >= 0) {
            char back[512];
            if (localhub_url_decode(enc, strlen(enc), back, sizeof(back)) < 0 || strcmp(back, out) != 0) abort();
        }
        break;
    }
    }
    free(s);
    return 0;
}
