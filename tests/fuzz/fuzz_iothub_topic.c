/* Fuzz target: every IoT Hub / DPS topic and property-bag parser, the
 * module-input topic (IoT Edge) and the connection string. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iothub/dps.h"
#include "iothub/iothub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tma_span t = {data, size};
    struct tma_span bag, k, v, val;
    struct iothub_bag_iter it;
    struct iothub_twin_msg tw;
    struct iothub_method_request mr;
    struct dps_response_topic dr;
    struct iothub_connection_string cs;
    struct iothub_identity id = {"h", "dev", NULL};
    struct iothub_identity mod = {"h", "dev", "mod"};
    struct tma_span name;
    char out[512];
    size_t n;
    bool has;

    if (iothub_c2d_parse(&id, t, &bag) == TMA_OK || iothub_c2d_parse(NULL, t, &bag) == TMA_OK) {
        iothub_bag_iter_init(&it, bag);
        while (iothub_bag_next(&it, &k, &v, &has) == TMA_OK) {
            /* A validated bag always decodes. */
            if (iothub_url_decode(k, out, sizeof(out), &n) == TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED) ||
                iothub_url_decode(v, out, sizeof(out), &n) == TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED)) {
                __builtin_trap();
            }
        }
        (void)iothub_bag_find(bag, "$.mid", &val);
    }
    if (iothub_input_parse(&mod, t, &name, &bag) == TMA_OK) {
        static const char pre[] = "devices/dev/modules/mod/inputs/";
        size_t i;
        /* The name: right after the prefix, not empty, one bare key that
         * decodes; the bag: the topic's tail, validated as for C2D. */
        if (size < sizeof(pre) || memcmp(data, pre, sizeof(pre) - 1) != 0 ||
            name.ptr != data + sizeof(pre) - 1 || name.len == 0 ||
            bag.ptr < name.ptr + name.len || bag.ptr + bag.len != data + size ||
            iothub_url_decode(name, out, sizeof(out), &n) == TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED)) {
            __builtin_trap();
        }
        for (i = 0; i < name.len; i++) {
            if (name.ptr[i] == '/' || name.ptr[i] == '=' || name.ptr[i] == '&') {
                __builtin_trap();
            }
        }
        iothub_bag_iter_init(&it, bag);
        while (iothub_bag_next(&it, &k, &v, &has) == TMA_OK) {
            if (iothub_url_decode(v, out, sizeof(out), &n) == TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_MALFORMED)) {
                __builtin_trap();
            }
        }
        /* an input topic is never a C2D topic */
        if (iothub_c2d_parse(&id, t, &bag) == TMA_OK) {
            __builtin_trap();
        }
    }
    if (iothub_twin_parse(t, &tw) == TMA_OK) {
        if (tw.kind == IOTHUB_TWIN_RESPONSE && (tw.rid.len == 0 || tw.status < 100)) {
            __builtin_trap();
        }
    }
    if (iothub_method_parse(t, &mr) == TMA_OK) {
        (void)iothub_method_response_topic(200, mr.rid, out, sizeof(out), &n);
    }
    (void)dps_parse_response_topic(t, &dr);
    if (iothub_connection_string_parse(t, &cs) == TMA_OK) {
        /* every field a non-empty view into the input, or absent */
        const struct tma_span *f[6] = {&cs.host, &cs.device_id, &cs.module_id, &cs.shared_key,
                                       &cs.key_name, &cs.gateway};
        size_t i;
        if (cs.host.len == 0 || cs.device_id.len == 0) {
            __builtin_trap();
        }
        for (i = 0; i < 6; i++) {
            if (f[i]->len > 0 && (f[i]->ptr < data || f[i]->ptr + f[i]->len > data + size)) {
                __builtin_trap();
            }
        }
    }
    iothub_bag_iter_init(&it, t);
    while (iothub_bag_next(&it, &k, &v, &has) == TMA_OK) {
        (void)iothub_bag_key_is(k, "$rid");
    }
    (void)iothub_url_decode(t, out, sizeof(out), &n);
    return 0;
}
