/* Azure IoT Hub pure functions: names, topics, property bags, SAS. */
#include "iothub/iothub.h"

#include <string.h>

#include "topic.h"
#include "topic_rx.h"
#include "wbuf.h"

#define E_BAD IOTHUB_E(TMA_C_BAD_PARAM)
#define E_MAL IOTHUB_E(TMA_C_MALFORMED)
#define E_NF IOTHUB_E(TMA_C_NOT_FOUND)

const char ih_devices_prefix[] = "devices/";
const char ih_modules_infix[] = "/modules/";
const char ih_c2d_tail[] = "/messages/devicebound/#";
const char ih_twin_res_filter[] = IOTHUB_TWIN_RES_FILTER;
const char ih_twin_desired_filter[] = IOTHUB_TWIN_DESIRED_FILTER;
const char ih_methods_filter[] = IOTHUB_METHODS_FILTER;
const char ih_version_key[] = "$version";
const char ih_client_type[] = IOTHUB_CLIENT_TYPE;

static bool id_ok(const struct iothub_identity *id)
{
    return id != NULL && id->host != NULL && id->device_id != NULL && id->host[0] != '\0' &&
           id->device_id[0] != '\0' && (id->module_id == NULL || id->module_id[0] != '\0');
}

static bool out_ok(const char *out, size_t cap, const size_t *out_len)
{
    return out_len != NULL && (out != NULL || cap == 0u);
}

/* Common start of the builders that name the device: check, then open the writer. */
static bool id_begin(struct wbuf *w, const struct iothub_identity *id, char *out, size_t cap,
                     const size_t *out_len)
{
    if (!id_ok(id) || !out_ok(out, cap, out_len)) {
        return false;
    }
    wb_init(w, out, cap);
    return true;
}

bool ih_eat(struct tma_span *s, const char *lit)
{
    size_t n = strlen(lit);
    /* A subscription filter names its prefix: "x/y/#" matches "x/y/...".
     * @p lit is never empty (literals, and ids that init refused empty). */
    if (lit[n - 1u] == '#') {
        n--;
    }
    if (s->len < n || memcmp(s->ptr, lit, n) != 0) {
        return false;
    }
    s->ptr += n;
    s->len -= n;
    return true;
}

int ih_hexval(uint8_t c)
{
    if ((uint8_t)(c - '0') < 10u) {
        return c - '0';
    }
    c |= 0x20u; /* 'A'..'F' -> 'a'..'f' */
    if ((uint8_t)(c - 'a') < 6u) {
        return c - 'a' + 10;
    }
    return -1;
}

/* ---- percent-encoding --------------------------------------------------- */

tma_status iothub_url_encode(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    struct wbuf w;
    if ((in == NULL && len > 0u) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    wb_enc(&w, in, len);
    return wb_finish(&w, out_len);
}

tma_status iothub_url_decode(struct tma_span in, char *out, size_t cap, size_t *out_len)
{
    struct wbuf w;
    size_t i;
    if ((in.ptr == NULL && in.len > 0u) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    for (i = 0u; i < in.len; i++) {
        uint8_t c = in.ptr[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2u >= in.len) {
                return E_MAL;
            }
            hi = ih_hexval(in.ptr[i + 1u]);
            lo = ih_hexval(in.ptr[i + 2u]);
            if (hi < 0 || lo < 0) {
                return E_MAL;
            }
            wb_putc(&w, (char)(hi << 4 | lo));
            i += 2u;
        } else {
            wb_putc(&w, (char)c);
        }
    }
    return wb_finish(&w, out_len);
}

/* ---- CONNECT ------------------------------------------------------------ */

tma_status iothub_client_id(const struct iothub_identity *id, char *out, size_t cap,
                            size_t *out_len)
{
    struct wbuf w;
    if (!id_begin(&w, id, out, cap, out_len)) {
        return E_BAD;
    }
    wb_str(&w, id->device_id);
    if (id->module_id != NULL) {
        wb_putc(&w, '/');
        wb_str(&w, id->module_id);
    }
    return wb_finish(&w, out_len);
}

tma_status iothub_username(const struct iothub_identity *id, const char *client_type,
                           const char *model_id, char *out, size_t cap, size_t *out_len)
{
    if (!id_ok(id) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    return ih_username(id, client_type, model_id, out, cap, out_len);
}

tma_status ih_username(const struct iothub_identity *id, const char *client_type,
                       const char *model_id, char *out, size_t cap, size_t *out_len)
{
    struct wbuf w;
    wb_init(&w, out, cap);
    if (client_type == NULL) {
        client_type = ih_client_type;
    }
    wb_str(&w, id->host);
    wb_putc(&w, '/');
    wb_str(&w, id->device_id);
    wb_putc(&w, '/');
    if (id->module_id != NULL) {
        wb_str(&w, id->module_id);
        wb_putc(&w, '/');
    }
    wb_str(&w, "?api-version=" IOTHUB_API_VERSION "&DeviceClientType=");
    wb_encs(&w, client_type);
    if (model_id != NULL && model_id[0] != '\0') {
        wb_str(&w, "&model-id=");
        wb_encs(&w, model_id);
    }
    return wb_finish(&w, out_len);
}

const char *iothub_connack_reason(uint8_t return_code)
{
    switch (return_code) {
    case 0:
        return "accepted";
    case 1:
        return "refused: unacceptable protocol version (IoT Hub needs MQTT 3.1.1)";
    case 2:
        return "refused: client identifier rejected";
    case 3:
        return "refused: server unavailable";
    case 4:
        return "refused: bad user name or password";
    case 5:
        return "refused: not authorized (IoT Hub's answer to every credential problem: "
               "wrong or expired SAS token, certificate not accepted, unknown or disabled device)";
    default:
        return "refused: unknown CONNACK return code";
    }
}

/* ---- Base64 ----------------------------------------------------------- */

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

tma_status iothub_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap,
                                size_t *out_len)
{
    struct wbuf w;
    size_t i, k;
    if ((in == NULL && len > 0u) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    for (i = 0u; i < len; i += 3u) {
        /* 1, 2 or 3 input bytes give 2, 3 or 4 characters, then '=' to 4 */
        size_t chars = len - i >= 3u ? 4u : len - i + 1u;
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1u < len) {
            v |= (uint32_t)in[i + 1u] << 8;
        }
        if (i + 2u < len) {
            v |= in[i + 2u];
        }
        for (k = 0u; k < 4u; k++) {
            wb_putc(&w, k < chars ? b64tab[(v >> (18u - 6u * k)) & 63u] : '=');
        }
    }
    return wb_finish(&w, out_len);
}

static int b64v(char ch)
{
    int c = (unsigned char)ch;
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

tma_status iothub_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                                size_t *out_len)
{
    size_t i, j = 0u, need;
    if ((in == NULL && len > 0u) || out_len == NULL || (out == NULL && cap > 0u)) {
        return E_BAD;
    }
    if (len % 4u != 0u) {
        return E_MAL;
    }
    need = len / 4u * 3u;
    if (len > 0u && in[len - 1u] == '=') {
        need--;
        if (in[len - 2u] == '=') {
            need--;
        }
    }
    *out_len = need;
    if (need > cap) {
        return IOTHUB_E(TMA_C_TOO_SMALL);
    }
    for (i = 0u; i < len; i += 4u) {
        int a = b64v(in[i]), b = b64v(in[i + 1u]), c, d;
        uint32_t v;
        bool last = i + 4u == len;
        if (a < 0 || b < 0) {
            return E_MAL;
        }
        c = (last && in[i + 2u] == '=' && in[i + 3u] == '=') ? -2 : b64v(in[i + 2u]);
        d = (last && in[i + 3u] == '=' && c != -1) ? -2 : b64v(in[i + 3u]);
        if (c == -1 || d == -1) {
            return E_MAL;
        }
        v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
            (uint32_t)(d < 0 ? 0 : d);
        out[j++] = (uint8_t)(v >> 16);
        if (c >= 0) {
            out[j++] = (uint8_t)(v >> 8);
        } else if ((v & 0xFFFFu) != 0u) {
            return E_MAL; /* non-canonical padding bits */
        }
        if (d >= 0) {
            out[j++] = (uint8_t)v;
        } else if (c >= 0 && (v & 0xFFu) != 0u) {
            return E_MAL;
        }
    }
    return j == need ? TMA_OK : E_MAL;
}

/* ---- SAS ------------------------------------------------------------------ */

tma_status iothub_sas_resource(const struct iothub_identity *id, char *out, size_t cap,
                               size_t *out_len)
{
    if (!id_ok(id) || !out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    return ih_sas_resource(id, out, cap, out_len);
}

/* "{host}/devices/{id}[/modules/{mid}]" */
tma_status ih_sas_resource(const struct iothub_identity *id, char *out, size_t cap,
                           size_t *out_len)
{
    struct wbuf w;
    wb_init(&w, out, cap);
    wb_str(&w, id->host);
    wb_putc(&w, '/');
    ih_identity_prefix(&w, id);
    return wb_finish(&w, out_len);
}

tma_status iothub_sas_string_to_sign(const char *resource, uint64_t expiry, char *out, size_t cap,
                                     size_t *out_len)
{
    struct wbuf w;
    if (resource == NULL || resource[0] == '\0' || !out_ok(out, cap, out_len) ||
        expiry > UINT32_MAX) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    wb_encs(&w, resource);
    wb_putc(&w, '\n');
    wb_u32(&w, (uint32_t)expiry);
    return wb_finish(&w, out_len);
}

void ih_wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n-- > 0u) {
        *v++ = 0u;
    }
}

/* "SharedAccessSignature sr=<resource>&sig=<sig>&se=<expiry>[&skn=<name>]",
 * the resource, signature and key name percent-encoded. */
static void write_password(struct wbuf *w, const char *resource, const char *sig, size_t sig_len,
                           uint32_t expiry, const char *key_name)
{
    wb_str(w, "SharedAccessSignature sr=");
    wb_encs(w, resource);
    wb_str(w, "&sig=");
    wb_enc(w, sig, sig_len);
    wb_str(w, "&se=");
    wb_u32(w, expiry);
    if (key_name != NULL) {
        wb_str(w, "&skn=");
        wb_encs(w, key_name);
    }
}

tma_status iothub_sas_password(const char *resource, const char *key_b64, const char *key_name,
                               uint64_t expiry, const struct iothub_hmac_ops *ops, char *out,
                               size_t cap, size_t *out_len)
{
    uint8_t key[128];
    uint8_t mac[32];
    char sig[48];
    size_t key_len = 0u, n = 0u, sig_len = 0u;
    struct wbuf w;
    tma_status st = IOTHUB_E(TMA_C_FAILED);

    if (resource == NULL || resource[0] == '\0' || key_b64 == NULL || ops == NULL ||
        ops->hmac_sha256 == NULL || !out_ok(out, cap, out_len) || expiry > UINT32_MAX) {
        return E_BAD;
    }
    if (iothub_base64_decode(key_b64, strlen(key_b64), key, sizeof(key), &key_len) != TMA_OK ||
        key_len == 0u) {
        st = E_BAD;
        goto cleanup;
    }
    /* The string to sign goes into the caller's buffer first; the password
     * (always longer) overwrites it afterwards. */
    st = iothub_sas_string_to_sign(resource, expiry, out, cap, &n);
    if (st != TMA_OK) {
        /* Report the size of the final password instead: a signature is
         * always 44 Base64 characters ending in one '=' (sent as "%3D"). */
        if (st == IOTHUB_E(TMA_C_TOO_SMALL)) {
            memset(sig, 'A', 43u);
            sig[43] = '=';
            wb_init(&w, NULL, 0u);
            write_password(&w, resource, sig, 44u, (uint32_t)expiry, key_name);
            *out_len = w.len;
        }
        goto cleanup;
    }
    st = ops->hmac_sha256(ops->ctx, key, key_len, (const uint8_t *)out, n, mac);
    if (st != TMA_OK) {
        goto cleanup;
    }
    st = iothub_base64_encode(mac, sizeof(mac), sig, sizeof(sig), &sig_len);
    if (st != TMA_OK) {
        goto cleanup;
    }
    wb_init(&w, out, cap);
    write_password(&w, resource, sig, sig_len, (uint32_t)expiry, key_name);
    st = wb_finish(&w, out_len);
cleanup:
    ih_wipe(key, sizeof(key));
    ih_wipe(mac, sizeof(mac));
    ih_wipe(sig, sizeof(sig));
    return st;
}

uint64_t iothub_sas_renew_at(uint64_t issued, uint64_t expiry)
{
    uint64_t span = expiry - issued;
    if (expiry <= issued) {
        return issued;
    }
    /* 32-bit division (no 64-bit helper linked): a token never lives longer
     * than 2^32 s, so a longer span is treated as that. */
    if (span > UINT32_MAX) {
        span = UINT32_MAX;
    }
    return issued + (uint64_t)((uint32_t)span / 5u) * 4u;
}

uint32_t ih_ms_to_s(uint64_t ms)
{
    /* Long division by 1000 in two 32-bit steps over 16-bit digits, so no
     * 64-bit division helper is linked; results beyond 32 bits saturate. */
    uint32_t hi, q1;
    if ((ms >> 48) != 0u) {
        return UINT32_MAX;
    }
    hi = (uint32_t)(ms >> 16);
    q1 = hi / 1000u;
    if (q1 > 0xFFFFu) {
        return UINT32_MAX;
    }
    return (q1 << 16) + ((hi % 1000u) << 16 | (uint32_t)(ms & 0xFFFFu)) / 1000u;
}

/* ---- Property bags ------------------------------------------------------ */

tma_status iothub_property_bag(const struct iothub_property *props, size_t prop_count, char *out,
                               size_t cap, size_t *out_len)
{
    struct wbuf w;
    tma_status st;
    if (!out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    st = ih_bag_write(&w, props, prop_count);
    if (st != TMA_OK) {
        return st;
    }
    return wb_finish(&w, out_len);
}

void ih_identity_prefix(struct wbuf *w, const struct iothub_identity *id)
{
    wb_str(w, ih_devices_prefix);
    wb_str(w, id->device_id);
    if (id->module_id != NULL) {
        wb_str(w, ih_modules_infix);
        wb_str(w, id->module_id);
    }
}

tma_status iothub_telemetry_topic(const struct iothub_identity *id,
                                  const struct iothub_property *props, size_t prop_count,
                                  char *out, size_t cap, size_t *out_len)
{
    struct wbuf w;
    tma_status st;
    if (!id_begin(&w, id, out, cap, out_len)) {
        return E_BAD;
    }
    ih_identity_prefix(&w, id);
    wb_str(&w, "/messages/events/");
    st = ih_bag_write(&w, props, prop_count);
    if (st != TMA_OK) {
        return st;
    }
    return wb_finish(&w, out_len);
}

void iothub_bag_iter_init(struct iothub_bag_iter *it, struct tma_span bag)
{
    if (it == NULL) {
        return;
    }
    it->bag = bag;
    if (bag.ptr == NULL) {
        it->bag.len = 0u;
    }
    it->pos = 0u;
}

tma_status iothub_bag_next(struct iothub_bag_iter *it, struct tma_span *out_key,
                           struct tma_span *out_value, bool *out_has_value)
{
    if (it == NULL || out_key == NULL || out_value == NULL || out_has_value == NULL) {
        return E_BAD;
    }
    return ih_bag_next(it, out_key, out_value, out_has_value);
}

/* iothub_bag_next() without its argument checks (the topic parsers' calls). */
tma_status ih_bag_next(struct iothub_bag_iter *it, struct tma_span *out_key,
                       struct tma_span *out_value, bool *out_has_value)
{
    const uint8_t *p;
    size_t start, end, eq = 0u; /* eq: 1 + index of the first '=', 0: none */
    bool bad = false;
    if (it->pos >= it->bag.len) {
        return E_NF;
    }
    p = it->bag.ptr;
    start = it->pos;
    /* One pass over the element: its end, the first '=', and every '%'
     * followed by two hex digits ('=' and '&' are not hex digits, so an
     * escape cannot straddle them). */
    for (end = start; end < it->bag.len && p[end] != '&'; end++) {
        if (p[end] == '=' && eq == 0u) {
            eq = end + 1u;
        } else if (p[end] == '%' && (end + 2u >= it->bag.len || ih_hexval(p[end + 1u]) < 0 ||
                                      ih_hexval(p[end + 2u]) < 0)) {
            bad = true;
        }
    }
    /* A trailing '&' leaves nothing after it: the next call ends. An empty
     * element ("a&&b" or leading '&') or an empty key is malformed. */
    it->pos = end + 1u;
    if (end == start || eq == start + 1u || bad) {
        return E_MAL;
    }
    out_key->ptr = p + start;
    out_key->len = (eq != 0u ? eq - 1u : end) - start;
    *out_has_value = eq != 0u;
    out_value->ptr = p + (eq != 0u ? eq : end);
    out_value->len = eq != 0u ? end - eq : 0u;
    return TMA_OK;
}

static bool key_is(struct tma_span key, const char *name);

bool iothub_bag_key_is(struct tma_span key, const char *name)
{
    size_t i;
    if (name == NULL || (key.ptr == NULL && key.len > 0u)) {
        return false;
    }
    /* key_is() wants every '%' followed by two hex digits, as keys from
     * ih_bag_next() are; any other key matches no name. */
    for (i = 0u; i < key.len; i++) {
        if (key.ptr[i] == '%' && (i + 2u >= key.len || ih_hexval(key.ptr[i + 1u]) < 0 ||
                                  ih_hexval(key.ptr[i + 2u]) < 0)) {
            return false;
        }
    }
    return key_is(key, name);
}

/* iothub_bag_key_is() for a key whose every '%' is followed by two hex
 * digits (ih_bag_next() checked them), without the argument checks. */
static bool key_is(struct tma_span key, const char *name)
{
    size_t i;
    for (i = 0u; i < key.len; i++, name++) {
        uint8_t c = key.ptr[i];
        if (c == '%') {
            c = (uint8_t)((unsigned)ih_hexval(key.ptr[i + 1u]) << 4 |
                          (unsigned)ih_hexval(key.ptr[i + 2u]));
            i += 2u;
        }
        /* a decoded NUL never matches: the name ends there */
        if (*name == '\0' || (uint8_t)*name != c) {
            return false;
        }
    }
    return *name == '\0';
}

tma_status iothub_bag_find(struct tma_span bag, const char *name, struct tma_span *out_value)
{
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    tma_status st;
    if (name == NULL || out_value == NULL) {
        return E_BAD;
    }
    iothub_bag_iter_init(&it, bag);
    while ((st = iothub_bag_next(&it, &k, &v, &has)) == TMA_OK) {
        if (iothub_bag_key_is(k, name)) {
            *out_value = v;
            return TMA_OK;
        }
    }
    return st;
}

/* ---- C2D ------------------------------------------------------------------ */

tma_status iothub_c2d_filter(const struct iothub_identity *id, char *out, size_t cap,
                             size_t *out_len)
{
    struct wbuf w;
    if (!id_begin(&w, id, out, cap, out_len)) {
        return E_BAD;
    }
    ih_identity_prefix(&w, id);
    wb_str(&w, id->module_id != NULL ? "/#" : ih_c2d_tail);
    return wb_finish(&w, out_len);
}

tma_status iothub_input_parse(const struct iothub_identity *id, struct tma_span topic,
                              struct tma_span *out_input, struct tma_span *out_bag)
{
    if (out_input == NULL || out_bag == NULL || (topic.ptr == NULL && topic.len > 0u) ||
        !id_ok(id) || id->module_id == NULL) {
        return E_BAD;
    }
    out_input->ptr = NULL;
    out_input->len = 0u;
    *out_bag = *out_input;
    return ih_c2d_parse(id, topic, out_input, out_bag);
}

/* Length of the segment at the start of @p s (up to '/' or the end). */
tma_status iothub_c2d_parse(const struct iothub_identity *id, struct tma_span topic,
                            struct tma_span *out_bag)
{
    size_t n;
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    tma_status st;
    if (out_bag == NULL || (topic.ptr == NULL && topic.len > 0u) ||
        (id != NULL && !id_ok(id))) {
        return E_BAD;
    }
    if (id != NULL) {
        return ih_c2d_parse(id, topic, NULL, out_bag);
    }
    /* Any device: "devices/{id}/messages/devicebound/[{bag}]", id not empty. */
    if (!ih_eat(&topic, ih_devices_prefix) || (n = ih_seg_len(topic)) == 0u) {
        return E_NF;
    }
    topic = ih_span_from(topic, n);
    if (!ih_eat(&topic, ih_c2d_tail)) {
        return E_NF;
    }
    /* The whole bag well-formed, as ih_c2d_parse() checks it. */
    iothub_bag_iter_init(&it, topic);
    while ((st = iothub_bag_next(&it, &k, &v, &has)) == TMA_OK) {
    }
    if (st != E_NF) {
        return st;
    }
    *out_bag = topic;
    return TMA_OK;
}

/* ---- Twin ------------------------------------------------------------------ */

tma_status ih_rid_topic(const char *prefix, uint32_t rid, char *out, size_t cap, size_t *out_len)
{
    struct wbuf w;
    if (!out_ok(out, cap, out_len)) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    wb_str(&w, prefix);
    wb_u32(&w, rid);
    return wb_finish(&w, out_len);
}

tma_status iothub_twin_get_topic(uint32_t rid, char *out, size_t cap, size_t *out_len)
{
    return ih_rid_topic("$iothub/twin/GET/?$rid=", rid, out, cap, out_len);
}

tma_status iothub_twin_patch_topic(uint32_t rid, char *out, size_t cap, size_t *out_len)
{
    return ih_rid_topic("$iothub/twin/PATCH/properties/reported/?$rid=", rid, out, cap, out_len);
}

bool ih_parse_u64(struct tma_span s, uint64_t max, uint64_t *out)
{
    size_t i;
    uint64_t v = 0u;
    if (s.len == 0u || s.len > 19u) {
        return false;
    }
    for (i = 0u; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10u + (uint64_t)(c - '0');
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool ih_topic_parse(struct tma_span rest, enum ih_seg seg, const char *num_key,
                    uint64_t num_max, struct ih_topic *out)
{
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    tma_status st;
    size_t i = 0u;
    memset(out, 0, sizeof(*out));
    if (seg != IH_SEG_NONE) {
        i = ih_seg_len(rest);
        if (i == 0u || i == rest.len) {
            return false;
        }
        out->seg.ptr = rest.ptr;
        out->seg.len = i;
        if (seg == IH_SEG_STATUS) {
            /* three digits, 100..999 */
            unsigned num = 0u;
            size_t j;
            if (i != 3u) {
                return false;
            }
            for (j = 0u; j < 3u; j++) {
                unsigned d = (unsigned)rest.ptr[j] - '0';
                if (d > 9u) {
                    return false;
                }
                num = num * 10u + d;
            }
            if (num < 100u) {
                return false;
            }
            out->status = (uint16_t)num;
        }
        i++;
    }
    if (i >= rest.len || rest.ptr[i] != '?') {
        return false;
    }
    it.bag = ih_span_from(rest, i + 1u); /* a view into the topic: not NULL */
    it.pos = 0u;
    while ((st = ih_bag_next(&it, &k, &v, &has)) == TMA_OK) {
        if (key_is(k, "$rid")) {
            /* no value and "=" with nothing after both leave v empty */
            if (v.len == 0u || out->rid.len != 0u) {
                return false;
            }
            out->rid = v;
        } else if (num_key != NULL && key_is(k, num_key)) {
            if (out->has_num || !ih_parse_u64(v, num_max, &out->num)) {
                return false;
            }
            out->has_num = true;
        }
    }
    return st == E_NF;
}

tma_status iothub_twin_parse(struct tma_span topic, struct iothub_twin_msg *out_msg)
{
    if (out_msg == NULL || (topic.ptr == NULL && topic.len > 0u)) {
        return E_BAD;
    }
    memset(out_msg, 0, sizeof(*out_msg));
    return ih_twin_parse(topic, out_msg);
}

/* ---- Direct methods ------------------------------------------------------- */

tma_status iothub_method_parse(struct tma_span topic, struct iothub_method_request *out_req)
{
    if (out_req == NULL || (topic.ptr == NULL && topic.len > 0u)) {
        return E_BAD;
    }
    memset(out_req, 0, sizeof(*out_req));
    return ih_method_parse(topic, out_req);
}

tma_status iothub_method_response_topic(uint16_t status, struct tma_span rid, char *out,
                                        size_t cap, size_t *out_len)
{
    struct wbuf w;
    if (!out_ok(out, cap, out_len) || rid.ptr == NULL || rid.len == 0u) {
        return E_BAD;
    }
    wb_init(&w, out, cap);
    wb_str(&w, "$iothub/methods/res/");
    wb_u32(&w, status);
    wb_str(&w, "/?$rid=");
    wb_mem(&w, (const char *)rid.ptr, rid.len);
    return wb_finish(&w, out_len);
}

/* ---- Connection strings -------------------------------------------------- */

static bool key_eq(struct tma_span k, const char *name)
{
    return k.len == strlen(name) && memcmp(k.ptr, name, k.len) == 0;
}

static bool ieq(struct tma_span s, const char *lit)
{
    size_t i;
    if (s.len != strlen(lit)) {
        return false;
    }
    for (i = 0u; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        if (c >= 'A' && c <= 'Z') {
            c = (uint8_t)(c + 32u);
        }
        if (c != (uint8_t)lit[i]) {
            return false;
        }
    }
    return true;
}

tma_status iothub_connection_string_parse(struct tma_span cs,
                                          struct iothub_connection_string *out_cs)
{
    size_t pos = 0u;
    bool seen_x509 = false;
    if (out_cs == NULL || (cs.ptr == NULL && cs.len > 0u)) {
        return E_BAD;
    }
    memset(out_cs, 0, sizeof(*out_cs));
    while (pos < cs.len) {
        size_t end = pos, eq;
        struct tma_span k, v, *dst = NULL;
        while (end < cs.len && cs.ptr[end] != ';') {
            end++;
        }
        eq = pos;
        while (eq < end && cs.ptr[eq] != '=') {
            eq++;
        }
        if (end == pos) { /* tolerate a trailing ';' only */
            if (end + 1u < cs.len) {
                return E_MAL;
            }
            pos = end + 1u;
            continue;
        }
        if (eq == pos || eq == end) {
            return E_MAL;
        }
        k.ptr = cs.ptr + pos;
        k.len = eq - pos;
        v.ptr = cs.ptr + eq + 1u;
        v.len = end - eq - 1u;
        if (v.len == 0u) {
            return E_MAL;
        }
        if (key_eq(k, "HostName")) {
            dst = &out_cs->host;
        } else if (key_eq(k, "DeviceId")) {
            dst = &out_cs->device_id;
        } else if (key_eq(k, "ModuleId")) {
            dst = &out_cs->module_id;
        } else if (key_eq(k, "SharedAccessKey")) {
            dst = &out_cs->shared_key;
        } else if (key_eq(k, "SharedAccessKeyName")) {
            dst = &out_cs->key_name;
        } else if (key_eq(k, "GatewayHostName")) {
            dst = &out_cs->gateway;
        } else if (key_eq(k, "x509")) {
            if (seen_x509 || !ieq(v, "true")) {
                return E_MAL;
            }
            seen_x509 = true;
            out_cs->x509 = true;
        }
        /* Unknown keys are ignored. */
        if (dst != NULL) {
            if (dst->len != 0u) {
                return E_MAL; /* duplicate */
            }
            *dst = v;
        }
        pos = end + 1u;
    }
    if (out_cs->host.len == 0u || out_cs->device_id.len == 0u ||
        out_cs->x509 == (out_cs->shared_key.len != 0u)) {
        return E_MAL;
    }
    return TMA_OK;
}
