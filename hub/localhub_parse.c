/* Pure parsers for localhub (see localhub_parse.h). No I/O, no allocation. */
#include "localhub_parse.h"

#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int32_t localhub_url_decode(const char *in, size_t inlen, char *out, size_t outsz)
{
    size_t o = 0;
    if (!in || !out || outsz == 0) return LOCALHUB_E_TOO_SMALL;
    for (size_t i = 0; i < inlen; i++) {
        char c = in[i];
        if (c == '\0') return LOCALHUB_E_MALFORMED;
        if (c == '%') {
            if (i + 2 >= inlen) return LOCALHUB_E_MALFORMED;
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h < 0 || l < 0) return LOCALHUB_E_MALFORMED;
            c = (char)(h * 16 + l);
            if (c == '\0') return LOCALHUB_E_MALFORMED;
            i += 2;
        }
        if (o + 1 >= outsz) return LOCALHUB_E_TOO_SMALL;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int32_t)o;
}

int32_t localhub_url_encode(const char *in, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!in || !out || outsz == 0) return LOCALHUB_E_TOO_SMALL;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (o + need >= outsz) return LOCALHUB_E_TOO_SMALL;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return (int32_t)o;
}

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int localhub_device_id_valid(const char *id)
{
    size_t n;
    if (!id) return 0;
    n = strlen(id);
    if (n == 0 || n > LOCALHUB_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(id[i]) && !strchr("-.%_*?!(),:=@$'", id[i])) return 0;
    }
    return 1;
}

int localhub_registration_id_valid(const char *id)
{
    size_t n;
    if (!id) return 0;
    n = strlen(id);
    if (n == 0 || n > LOCALHUB_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(id[i]) && !strchr("-._:", id[i])) return 0;
    }
    return is_alnum(id[n - 1]) || id[n - 1] == '-';
}

int localhub_method_name_valid(const char *name)
{
    size_t n;
    if (!name) return 0;
    n = strlen(name);
    if (n == 0 || n > LOCALHUB_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7F || strchr("$()<>@,;:\\\"/[]?={}", (int)c)) return 0;
    }
    return 1;
}

/* Copy [s, s+n) into a bounded field. */
static int copy_field(char *dst, size_t dstsz, const char *s, size_t n)
{
    if (n >= dstsz) return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Find the value of @key in a query string q (length qlen), decoded into out.
 * Returns 1 found, 0 absent, -1 malformed / too long / duplicated. */
static int query_get(const char *q, size_t qlen, const char *key, char *out, size_t outsz)
{
    size_t klen = strlen(key);
    size_t i = 0;
    int found = 0;
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&') end++;
        const char *eq = memchr(q + i, '=', end - i);
        size_t nlen = eq ? (size_t)(eq - (q + i)) : end - i;
        if (nlen == klen && memcmp(q + i, key, klen) == 0) {
            if (found || !eq) return -1;
            if (localhub_url_decode(eq + 1, (size_t)(q + end - (eq + 1)), out, outsz) < 0) return -1;
            found = 1;
        }
        i = end + 1;
    }
    return found;
}

tma_status localhub_parse_username(const char *u, struct localhub_user *out)
{
    const char *s1, *s2, *rest;
    if (!u || !out) return LOCALHUB_E_MALFORMED;
    memset(out, 0, sizeof(*out));
    s1 = strchr(u, '/');
    if (!s1 || s1 == u) return LOCALHUB_E_MALFORMED;
    s2 = strchr(s1 + 1, '/');
    if (!s2 || s2 == s1 + 1) return LOCALHUB_E_MALFORMED;

    if ((size_t)(s2 - s1 - 1) == 13 && memcmp(s1 + 1, "registrations", 13) == 0) {
        /* DPS: {scope}/registrations/{regId}/api-version=...&ClientVersion=... */
        const char *s3 = strchr(s2 + 1, '/');
        if (!s3 || s3 == s2 + 1) return LOCALHUB_E_MALFORMED;
        if (copy_field(out->scope, sizeof(out->scope), u, (size_t)(s1 - u))) return LOCALHUB_E_MALFORMED;
        if (copy_field(out->id, sizeof(out->id), s2 + 1, (size_t)(s3 - s2 - 1))) return LOCALHUB_E_MALFORMED;
        rest = s3 + 1;
        if (*rest == '?') rest++;
        if (query_get(rest, strlen(rest), "api-version", out->api_version, sizeof(out->api_version)) != 1)
            return LOCALHUB_E_MALFORMED;
        out->is_dps = 1;
        return localhub_registration_id_valid(out->id) ? TMA_OK : LOCALHUB_E_MALFORMED;
    }

    if (copy_field(out->host, sizeof(out->host), u, (size_t)(s1 - u))) return LOCALHUB_E_MALFORMED;
    if (copy_field(out->id, sizeof(out->id), s1 + 1, (size_t)(s2 - s1 - 1))) return LOCALHUB_E_MALFORMED;
    rest = s2 + 1;
    /* Optional module segment: {host}/{device}/{module}/?... */
    if (*rest != '?' && *rest != '\0' && strncmp(rest, "api-version=", 12) != 0) {
        const char *s3 = strchr(rest, '/');
        if (!s3 || s3 == rest) return LOCALHUB_E_MALFORMED;
        if (copy_field(out->module, sizeof(out->module), rest, (size_t)(s3 - rest))) return LOCALHUB_E_MALFORMED;
        if (!localhub_device_id_valid(out->module)) return LOCALHUB_E_MALFORMED;
        rest = s3 + 1;
    }
    if (*rest == '?') rest++;
    if (query_get(rest, strlen(rest), "api-version", out->api_version, sizeof(out->api_version)) != 1)
        return LOCALHUB_E_MALFORMED;
    if (query_get(rest, strlen(rest), "model-id", out->model_id, sizeof(out->model_id)) < 0)
        return LOCALHUB_E_MALFORMED;
    return localhub_device_id_valid(out->id) ? TMA_OK : LOCALHUB_E_MALFORMED;
}

tma_status localhub_parse_sas(const char *pw, struct localhub_sas *out)
{
    static const char prefix[] = "SharedAccessSignature ";
    const char *q;
    size_t qlen, i = 0;
    int have_sr = 0, have_sig = 0, have_se = 0, have_skn = 0;
    if (!pw || !out) return LOCALHUB_E_MALFORMED;
    memset(out, 0, sizeof(*out));
    if (strncmp(pw, prefix, sizeof(prefix) - 1) != 0) return LOCALHUB_E_MALFORMED;
    q = pw + sizeof(prefix) - 1;
    qlen = strlen(q);
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && q[end] != '&') end++;
        const char *eq = memchr(q + i, '=', end - i);
        if (!eq) return LOCALHUB_E_MALFORMED;
        size_t nlen = (size_t)(eq - (q + i));
        const char *v = eq + 1;
        size_t vlen = (size_t)(q + end - v);
        if (nlen == 2 && memcmp(q + i, "sr", 2) == 0) {
            if (have_sr++ || copy_field(out->sr, sizeof(out->sr), v, vlen)) return LOCALHUB_E_MALFORMED;
        } else if (nlen == 3 && memcmp(q + i, "sig", 3) == 0) {
            if (have_sig++ || copy_field(out->sig, sizeof(out->sig), v, vlen)) return LOCALHUB_E_MALFORMED;
        } else if (nlen == 3 && memcmp(q + i, "skn", 3) == 0) {
            if (have_skn++ || copy_field(out->skn, sizeof(out->skn), v, vlen)) return LOCALHUB_E_MALFORMED;
        } else if (nlen == 2 && memcmp(q + i, "se", 2) == 0) {
            int64_t se = 0;
            if (have_se++ || vlen == 0 || vlen > 12) return LOCALHUB_E_MALFORMED;
            for (size_t k = 0; k < vlen; k++) {
                if (v[k] < '0' || v[k] > '9') return LOCALHUB_E_MALFORMED;
                se = se * 10 + (v[k] - '0');
            }
            out->se = se;
        } else {
            return LOCALHUB_E_MALFORMED;
        }
        i = end + 1;
    }
    if (!have_sr || !have_sig || !have_se || out->sr[0] == '\0' || out->sig[0] == '\0')
        return LOCALHUB_E_MALFORMED;
    return TMA_OK;
}

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Parse the `?$rid=...` query that ends request topics. */
static int parse_rid(const char *q, struct localhub_topic *out)
{
    if (*q != '?') return -1;
    q++;
    if (query_get(q, strlen(q), "$rid", out->rid, sizeof(out->rid)) != 1) return -1;
    return out->rid[0] ? 0 : -1;
}

/* Device (@module NULL) or module publish topics. */
static tma_status parse_publish(const char *topic, const char *id, const char *module, int is_dps,
                                struct localhub_topic *out)
{
    if (!topic || !id || !out) return LOCALHUB_E_MALFORMED;
    memset(out, 0, sizeof(*out));
    if (is_dps) {
        static const char reg[] = "$dps/registrations/PUT/iotdps-register/";
        static const char poll[] = "$dps/registrations/GET/iotdps-get-operationstatus/";
        if (starts(topic, reg)) {
            if (parse_rid(topic + sizeof(reg) - 1, out)) return LOCALHUB_E_MALFORMED;
            out->kind = LOCALHUB_T_DPS_REGISTER;
            return TMA_OK;
        }
        if (starts(topic, poll)) {
            const char *q = topic + sizeof(poll) - 1;
            if (parse_rid(q, out)) return LOCALHUB_E_MALFORMED;
            if (query_get(q + 1, strlen(q + 1), "operationId", out->op_id, sizeof(out->op_id)) != 1 ||
                out->op_id[0] == '\0')
                return LOCALHUB_E_MALFORMED;
            out->kind = LOCALHUB_T_DPS_POLL;
            return TMA_OK;
        }
        return LOCALHUB_E_MALFORMED;
    }
    if (starts(topic, "devices/")) {
        const char *d = topic + 8;
        size_t idlen = strlen(id);
        if (strncmp(d, id, idlen) != 0) return LOCALHUB_E_MALFORMED;
        d += idlen;
        if (module) {
            size_t mlen = strlen(module);
            if (!starts(d, "/modules/") || strncmp(d + 9, module, mlen) != 0) return LOCALHUB_E_MALFORMED;
            d += 9 + mlen;
        }
        if (!starts(d, "/messages/events/")) return LOCALHUB_E_MALFORMED;
        out->bag = d + strlen("/messages/events/");
        out->bag_len = strlen(out->bag);
        /* The Node SDK ends an output event's bag with '/' ("...&k=v/"); a
         * '/' in a value is percent-encoded, so a last '/' ends the bag. */
        if (out->bag_len && out->bag[out->bag_len - 1] == '/') out->bag_len--;
        out->kind = LOCALHUB_T_TELEMETRY;
        return TMA_OK;
    }
    if (starts(topic, "$iothub/twin/GET/")) {
        if (parse_rid(topic + strlen("$iothub/twin/GET/"), out)) return LOCALHUB_E_MALFORMED;
        out->kind = LOCALHUB_T_TWIN_GET;
        return TMA_OK;
    }
    if (starts(topic, "$iothub/twin/PATCH/properties/reported/")) {
        if (parse_rid(topic + strlen("$iothub/twin/PATCH/properties/reported/"), out)) return LOCALHUB_E_MALFORMED;
        out->kind = LOCALHUB_T_TWIN_PATCH;
        return TMA_OK;
    }
    if (starts(topic, "$iothub/methods/res/")) {
        const char *p = topic + strlen("$iothub/methods/res/");
        int status = 0, digits = 0;
        if (*p == '-') return LOCALHUB_E_MALFORMED;
        while (*p >= '0' && *p <= '9') {
            if (++digits > 9) return LOCALHUB_E_MALFORMED;
            status = status * 10 + (*p - '0');
            p++;
        }
        if (digits == 0 || *p != '/') return LOCALHUB_E_MALFORMED;
        if (parse_rid(p + 1, out)) return LOCALHUB_E_MALFORMED;
        out->status = status;
        out->kind = LOCALHUB_T_METHOD_RES;
        return TMA_OK;
    }
    return LOCALHUB_E_MALFORMED;
}

tma_status localhub_parse_publish_topic(const char *topic, const char *id, int is_dps,
                                        struct localhub_topic *out)
{
    return parse_publish(topic, id, NULL, is_dps, out);
}

tma_status localhub_parse_module_publish_topic(const char *topic, const char *device, const char *module,
                                               struct localhub_topic *out)
{
    if (!module || !*module) return LOCALHUB_E_MALFORMED;
    return parse_publish(topic, device, module, 0, out);
}

int localhub_classify_module_subscription(const char *filter, const char *device, const char *module)
{
    size_t dlen, mlen;
    if (!filter || !device || !module || !*module) return LOCALHUB_S_NONE;
    if (strcmp(filter, "$iothub/twin/res/#") == 0) return LOCALHUB_S_TWIN_RES;
    if (strcmp(filter, "$iothub/twin/PATCH/properties/desired/#") == 0) return LOCALHUB_S_TWIN_DESIRED;
    if (strcmp(filter, "$iothub/methods/POST/#") == 0) return LOCALHUB_S_METHODS;
    dlen = strlen(device);
    mlen = strlen(module);
    if (starts(filter, "devices/") && strncmp(filter + 8, device, dlen) == 0 &&
        starts(filter + 8 + dlen, "/modules/") && strncmp(filter + 8 + dlen + 9, module, mlen) == 0 &&
        (strcmp(filter + 8 + dlen + 9 + mlen, "/#") == 0 || strcmp(filter + 8 + dlen + 9 + mlen, "/inputs/#") == 0))
        return LOCALHUB_S_INPUTS; /* the C SDKs' filter, and the Node SDK's (decision 19) */
    return LOCALHUB_S_NONE;
}

int localhub_input_name_valid(const char *name)
{
    size_t n;
    if (!name) return 0;
    n = strlen(name);
    if (n == 0 || n > LOCALHUB_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(name[i]) && !strchr("-._", name[i])) return 0;
    return 1;
}

int localhub_classify_subscription(const char *filter, const char *id, int is_dps)
{
    if (!filter || !id) return LOCALHUB_S_NONE;
    if (is_dps) return strcmp(filter, "$dps/registrations/res/#") == 0 ? LOCALHUB_S_DPS_RES : LOCALHUB_S_NONE;
    if (strcmp(filter, "$iothub/twin/res/#") == 0) return LOCALHUB_S_TWIN_RES;
    if (strcmp(filter, "$iothub/twin/PATCH/properties/desired/#") == 0) return LOCALHUB_S_TWIN_DESIRED;
    if (strcmp(filter, "$iothub/methods/POST/#") == 0) return LOCALHUB_S_METHODS;
    if (starts(filter, "devices/")) {
        const char *d = filter + 8;
        size_t idlen = strlen(id);
        if (starts(d, "+/")) {
            d += 1;
        } else if (strncmp(d, id, idlen) == 0 && d[idlen] == '/') {
            d += idlen;
        } else {
            return LOCALHUB_S_NONE;
        }
        if (strcmp(d, "/messages/devicebound/#") == 0) return LOCALHUB_S_C2D;
    }
    return LOCALHUB_S_NONE;
}

int localhub_utf8_valid(const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t i = 0;
    if (!p && n) return 0;
    while (i < n) {
        unsigned char c = p[i];
        unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
        size_t len;
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) len = 3;
        else if (c >= 0xF0 && c <= 0xF4) len = 4;
        else return 0; /* continuation byte, C0/C1 (overlong) or F5..FF */
        if (c == 0xE0) lo = 0xA0;      /* overlong below U+0800 */
        else if (c == 0xED) hi = 0x9F; /* surrogates U+D800..U+DFFF */
        else if (c == 0xF0) lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
        if (len > n - i) return 0;
        if (p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t k = 2; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

tma_status localhub_bag_walk(const char *bag, size_t len,
                             int (*cb)(const char *key, const char *value, void *ctx), void *ctx)
{
    char key[512], val[4096];
    size_t i = 0;
    if (!bag || !cb) return LOCALHUB_E_MALFORMED;
    while (i < len) {
        size_t end = i;
        while (end < len && bag[end] != '&') end++;
        if (end == i) return LOCALHUB_E_MALFORMED; /* "&a" or "a&&b" */
        const char *eq = memchr(bag + i, '=', end - i);
        size_t nlen = eq ? (size_t)(eq - (bag + i)) : end - i;
        if (nlen == 0) return LOCALHUB_E_MALFORMED;
        int32_t kl = localhub_url_decode(bag + i, nlen, key, sizeof(key)), vl;
        if (kl < 0 || !localhub_utf8_valid(key, (size_t)kl)) return LOCALHUB_E_MALFORMED;
        const char *v = NULL;
        if (eq) {
            vl = localhub_url_decode(eq + 1, (size_t)(bag + end - (eq + 1)), val, sizeof(val));
            if (vl < 0 || !localhub_utf8_valid(val, (size_t)vl)) return LOCALHUB_E_MALFORMED;
            v = val;
        }
        int rc = cb(key, v, ctx);
        if (rc) return rc;
        i = end + 1;
    }
    return TMA_OK;
}
