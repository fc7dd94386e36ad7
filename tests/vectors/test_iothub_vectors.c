/* Data-driven vectors for the IoT Hub / DPS pure functions:
 * tests/vectors/iothub/topics.vec and json.vec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/md.h>

#include "iothub/dps.h"
#include "iothub/iothub.h"
#include "iothub/json.h"

#define MAXF 16

static char *vec_path(const char *name)
{
    static char p[1024];
    const char *src = getenv("TMA_SOURCE_DIR");
    snprintf(p, sizeof(p), "%s/tests/vectors/iothub/%s", src ? src : ".", name);
    return p;
}

static int split(char *line, char **f)
{
    int n = 0;
    char *s = line;
    f[n++] = s;
    while (*s && n < MAXF) {
        if (*s == '\t') {
            *s = '\0';
            f[n++] = s + 1;
        }
        s++;
    }
    return n;
}

static const char *opt(const char *s)
{
    return strcmp(s, "-") == 0 ? NULL : s;
}

static tma_status hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *msg,
                       size_t msg_len, uint8_t out[32])
{
    (void)ctx;
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, msg,
                           msg_len, out) == 0
               ? TMA_OK
               : TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_CRYPTO);
}

static void check_str(int lineno, const char *what, tma_status st, const char *got,
                      size_t got_len, const char *want)
{
    if (st != TMA_OK || got_len != strlen(want) || strcmp(got, want) != 0) {
        fprintf(stderr, "line %d (%s): status %d\n  got:  %s\n  want: %s\n", lineno, what,
                (int)st, got, want);
        fail();
    }
}

static struct tma_span sp(const char *s)
{
    struct tma_span r;
    r.ptr = (const uint8_t *)s;
    r.len = strlen(s);
    return r;
}

/* Check a bag has exactly the listed properties, in order. */
static void check_bag(int lineno, struct tma_span bag, char **f, int n)
{
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    int i;
    char kd[512], vd[512];
    size_t kl, vl;
    iothub_bag_iter_init(&it, bag);
    for (i = 0; i < n; i++) {
        char want[512];
        char *eq;
        assert_int_equal(iothub_bag_next(&it, &k, &v, &has), TMA_OK);
        assert_int_equal(iothub_url_decode(k, kd, sizeof(kd), &kl), TMA_OK);
        assert_int_equal(iothub_url_decode(v, vd, sizeof(vd), &vl), TMA_OK);
        snprintf(want, sizeof(want), "%s", f[i]);
        eq = strchr(want, '=');
        if (eq == NULL) {
            if (has || strcmp(kd, want) != 0) {
                fprintf(stderr, "line %d: want bare key %s, got %s (has=%d)\n", lineno, want, kd, has);
                fail();
            }
        } else {
            *eq = '\0';
            if (!has || strcmp(kd, want) != 0 || strcmp(vd, eq + 1) != 0) {
                fprintf(stderr, "line %d: want %s=%s, got %s=%s\n", lineno, want, eq + 1, kd, vd);
                fail();
            }
            {
                struct tma_span found;
                assert_int_equal(iothub_bag_find(bag, want, &found), TMA_OK);
            }
        }
    }
    assert_int_equal(iothub_bag_next(&it, &k, &v, &has), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_NOT_FOUND));
}

static tma_status expect_code(const char *name)
{
    if (strcmp(name, "malformed") == 0) {
        return TMA_C_MALFORMED;
    }
    return TMA_C_NOT_FOUND;
}

static void run_line(int lineno, char **f, int n)
{
    char out[1024];
    size_t len = 0;
    tma_status st;
    struct iothub_identity id;
    const char *k = f[0];
    if (n >= 4 && (strcmp(k, "clientid") == 0 || strcmp(k, "username") == 0 ||
                   strcmp(k, "telemetry") == 0 || strcmp(k, "c2dfilter") == 0 ||
                   strcmp(k, "sasres") == 0)) {
        id.host = f[1];
        id.device_id = f[2];
        id.module_id = opt(f[3]);
    }
    if (strcmp(k, "clientid") == 0) {
        st = iothub_client_id(&id, out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[4]);
    } else if (strcmp(k, "username") == 0) {
        st = iothub_username(&id, f[4], opt(f[5]), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[6]);
    } else if (strcmp(k, "telemetry") == 0) {
        struct iothub_property props[8];
        char keys[8][256];
        int i, np = n - 5;
        for (i = 0; i < np; i++) {
            char *eq;
            snprintf(keys[i], sizeof(keys[i]), "%s", f[5 + i]);
            eq = strchr(keys[i], '=');
            props[i].key = keys[i];
            props[i].value = NULL;
            if (eq != NULL) {
                *eq = '\0';
                props[i].value = eq + 1;
            }
        }
        st = iothub_telemetry_topic(&id, props, (size_t)np, out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[4]);
        /* Round trip: the bag parses back to the same properties. */
        {
            const char *bag = out + strlen("devices/") + strlen(id.device_id) +
                              (id.module_id ? strlen("/modules/") + strlen(id.module_id) : 0) +
                              strlen("/messages/events/");
            check_bag(lineno, sp(bag), f + 5, np);
        }
        /* Too small: reports the size needed and writes nothing usable. */
        {
            char small[8];
            size_t need = 0;
            assert_int_equal(iothub_telemetry_topic(&id, props, (size_t)np, small, sizeof(small), &need),
                             TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL));
            assert_int_equal(need, strlen(f[4]));
        }
    } else if (strcmp(k, "c2dfilter") == 0) {
        st = iothub_c2d_filter(&id, out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[4]);
    } else if (strcmp(k, "sasres") == 0) {
        st = iothub_sas_resource(&id, out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[4]);
    } else if (strcmp(k, "twinget") == 0) {
        st = iothub_twin_get_topic((uint32_t)strtoul(f[1], NULL, 10), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[2]);
    } else if (strcmp(k, "twinpatch") == 0) {
        st = iothub_twin_patch_topic((uint32_t)strtoul(f[1], NULL, 10), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[2]);
    } else if (strcmp(k, "methodres") == 0) {
        st = iothub_method_response_topic((uint16_t)atoi(f[1]), sp(f[2]), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[3]);
    } else if (strcmp(k, "dpsuser") == 0) {
        st = dps_username(f[1], f[2], f[3], out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[4]);
    } else if (strcmp(k, "dpssas") == 0) {
        st = dps_sas_resource(f[1], f[2], out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[3]);
    } else if (strcmp(k, "dpsreg") == 0) {
        st = dps_register_topic((uint32_t)strtoul(f[1], NULL, 10), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[2]);
    } else if (strcmp(k, "dpspoll") == 0) {
        st = dps_poll_topic((uint32_t)strtoul(f[1], NULL, 10), sp(f[2]), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[3]);
    } else if (strcmp(k, "dpsbody") == 0) {
        st = dps_register_body(f[1], opt(f[2]), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[3]);
        assert_int_equal(iothub_json_validate(sp(out)), TMA_OK);
    } else if (strcmp(k, "sts") == 0) {
        char want[512];
        char *nl;
        snprintf(want, sizeof(want), "%s", f[3]);
        nl = strstr(want, "\\n");
        assert_non_null(nl);
        nl[0] = '\n';
        memmove(nl + 1, nl + 2, strlen(nl + 2) + 1);
        st = iothub_sas_string_to_sign(f[1], strtoull(f[2], NULL, 10), out, sizeof(out), &len);
        check_str(lineno, k, st, out, len, want);
    } else if (strcmp(k, "sas") == 0) {
        struct iothub_hmac_ops ops = {NULL, hmac};
        char small[16];
        size_t need = 0;
        st = iothub_sas_password(f[1], f[2], opt(f[3]), strtoull(f[4], NULL, 10), &ops, out,
                                 sizeof(out), &len);
        check_str(lineno, k, st, out, len, f[5]);
        assert_int_equal(iothub_sas_password(f[1], f[2], opt(f[3]), strtoull(f[4], NULL, 10), &ops,
                                             small, sizeof(small), &need),
                         TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_TOO_SMALL));
        assert_int_equal(need, strlen(f[5]));
    } else if (strcmp(k, "c2d") == 0) {
        struct iothub_identity me = {"h", f[2], NULL};
        struct tma_span bag;
        assert_int_equal(iothub_c2d_parse(&me, sp(f[1]), &bag), TMA_OK);
        check_bag(lineno, bag, f + 3, n - 3);
        assert_int_equal(iothub_c2d_parse(NULL, sp(f[1]), &bag), TMA_OK);
    } else if (strcmp(k, "c2dbad") == 0) {
        struct iothub_identity me = {"h", f[2], NULL};
        struct tma_span bag;
        assert_int_equal(iothub_c2d_parse(&me, sp(f[1]), &bag),
                         TMA_ERR(TMA_LAYER_IOTHUB, expect_code(f[3])));
    } else if (strcmp(k, "input") == 0) {
        /* input TOPIC DEVICE MODULE NAME(as sent) PROPS... */
        struct iothub_identity me = {"h", f[2], f[3]};
        struct iothub_identity dev = {"h", f[2], NULL};
        struct tma_span name, bag;
        assert_int_equal(iothub_input_parse(&me, sp(f[1]), &name, &bag), TMA_OK);
        if (name.len != strlen(f[4]) || memcmp(name.ptr, f[4], name.len) != 0) {
            fprintf(stderr, "line %d: input name %.*s, want %s\n", lineno, (int)name.len,
                    (const char *)name.ptr, f[4]);
            fail();
        }
        check_bag(lineno, bag, f + 5, n - 5);
        /* a device identity has no inputs: a bad call, not a miss */
        assert_int_equal(iothub_input_parse(&dev, sp(f[1]), &name, &bag),
                         TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_BAD_PARAM));
        /* and the same topic is no C2D topic */
        assert_int_equal(iothub_c2d_parse(&dev, sp(f[1]), &bag), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_NOT_FOUND));
    } else if (strcmp(k, "inputbad") == 0) {
        struct iothub_identity me = {"h", f[2], f[3]};
        struct tma_span name = {(const uint8_t *)"x", 1}, bag = name;
        assert_int_equal(iothub_input_parse(&me, sp(f[1]), &name, &bag),
                         TMA_ERR(TMA_LAYER_IOTHUB, expect_code(f[4])));
    } else if (strcmp(k, "connstr") == 0) {
        /* connstr CS HOST DEVICE MODULE KEY KEYNAME X509 GATEWAY ('-': absent) */
        struct iothub_connection_string cs;
        const struct tma_span *got[7];
        int i;
        assert_int_equal(iothub_connection_string_parse(sp(f[1]), &cs), TMA_OK);
        got[0] = &cs.host;
        got[1] = &cs.device_id;
        got[2] = &cs.module_id;
        got[3] = &cs.shared_key;
        got[4] = &cs.key_name;
        got[5] = NULL;
        got[6] = &cs.gateway;
        for (i = 0; i < 7; i++) {
            const char *want = opt(f[2 + i]);
            if (i == 5) {
                assert_int_equal(cs.x509, strcmp(f[7], "true") == 0);
                continue;
            }
            if ((want == NULL && got[i]->len != 0) ||
                (want != NULL && (got[i]->len != strlen(want) || memcmp(got[i]->ptr, want, got[i]->len) != 0))) {
                fprintf(stderr, "line %d: field %d is '%.*s', want '%s'\n", lineno, i, (int)got[i]->len,
                        got[i]->len ? (const char *)got[i]->ptr : "", want ? want : "-");
                fail();
            }
        }
    } else if (strcmp(k, "connstrbad") == 0) {
        struct iothub_connection_string cs;
        assert_int_equal(iothub_connection_string_parse(sp(f[1]), &cs), TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED));
    } else if (strcmp(k, "twin") == 0) {
        struct iothub_twin_msg m;
        assert_int_equal(iothub_twin_parse(sp(f[1]), &m), TMA_OK);
        assert_int_equal(m.kind, strcmp(f[2], "response") == 0 ? IOTHUB_TWIN_RESPONSE
                                                                : IOTHUB_TWIN_DESIRED);
        if (opt(f[3])) {
            assert_int_equal(m.status, atoi(f[3]));
        }
        if (opt(f[4])) {
            assert_true(m.rid_is_number);
            assert_int_equal(m.rid_number, strtoul(f[4], NULL, 10));
        }
        if (opt(f[5])) {
            assert_true(m.has_version);
            assert_int_equal(m.version, atoll(f[5]));
        } else {
            assert_false(m.has_version);
        }
    } else if (strcmp(k, "twinbad") == 0) {
        struct iothub_twin_msg m;
        assert_int_equal(iothub_twin_parse(sp(f[1]), &m), TMA_ERR(TMA_LAYER_IOTHUB, expect_code(f[2])));
    } else if (strcmp(k, "method") == 0) {
        struct iothub_method_request r;
        assert_int_equal(iothub_method_parse(sp(f[1]), &r), TMA_OK);
        assert_int_equal(r.name.len, strlen(f[2]));
        assert_memory_equal(r.name.ptr, f[2], r.name.len);
        assert_int_equal(r.rid.len, strlen(f[3]));
        assert_memory_equal(r.rid.ptr, f[3], r.rid.len);
    } else if (strcmp(k, "methodbad") == 0) {
        struct iothub_method_request r;
        assert_int_equal(iothub_method_parse(sp(f[1]), &r), TMA_ERR(TMA_LAYER_IOTHUB, expect_code(f[2])));
    } else if (strcmp(k, "dpsres") == 0) {
        struct dps_response_topic r;
        assert_int_equal(dps_parse_response_topic(sp(f[1]), &r), TMA_OK);
        assert_int_equal(r.status, atoi(f[2]));
        assert_int_equal(r.rid.len, strlen(f[3]));
        assert_memory_equal(r.rid.ptr, f[3], r.rid.len);
        if (opt(f[4])) {
            assert_true(r.has_retry_after);
            assert_int_equal(r.retry_after_s, atoi(f[4]));
        } else {
            assert_false(r.has_retry_after);
        }
    } else if (strcmp(k, "dpsresbad") == 0) {
        struct dps_response_topic r;
        assert_int_equal(dps_parse_response_topic(sp(f[1]), &r), TMA_ERR(TMA_LAYER_DPS, expect_code(f[2])));
    } else {
        fprintf(stderr, "line %d: unknown vector kind %s\n", lineno, k);
        fail();
    }
}

static int run_file(const char *name, void (*fn)(int, char **, int))
{
    FILE *fp = fopen(vec_path(name), "r");
    char line[4096];
    int lineno = 0, count = 0;
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp)) {
        char *f[MAXF];
        size_t l = strlen(line);
        int n;
        lineno++;
        if (l > 0 && line[l - 1] == '\n') {
            line[--l] = '\0';
        }
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        n = split(line, f);
        fn(lineno, f, n);
        count++;
    }
    fclose(fp);
    return count;
}

static void test_topic_vectors(void **state)
{
    (void)state;
    assert_true(run_file("topics.vec", run_line) >= 50);
}

static void json_line(int lineno, char **f, int n)
{
    tma_status st;
    const char *doc = n > 1 ? f[1] : "";
    st = iothub_json_validate(sp(doc));
    if (strcmp(f[0], "valid") == 0) {
        if (st != TMA_OK) {
            fprintf(stderr, "line %d: valid JSON refused (%d): %s\n", lineno, (int)st, doc);
            fail();
        }
    } else if (strcmp(f[0], "invalid") == 0) {
        if (st != TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED)) {
            fprintf(stderr, "line %d: invalid JSON gave %d: %s\n", lineno, (int)st, doc);
            fail();
        }
    } else {
        assert_int_equal(st, TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_UNSUPPORTED));
    }
}

static void test_json_vectors(void **state)
{
    (void)state;
    assert_true(run_file("json.vec", json_line) >= 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_vectors),
        cmocka_unit_test(test_json_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
