/* Fuzz target: every IoT Hub / DPS topic and property-bag parser. */
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
    if (iothub_twin_parse(t, &tw) == TMA_OK) {
        if (tw.kind == IOTHUB_TWIN_RESPONSE && (tw.rid.len == 0 || tw.status < 100)) {
            __builtin_trap();
        }
    }
    if (iothub_method_parse(t, &mr) == TMA_OK) {
        (void)iothub_method_response_topic(200, mr.rid, out, sizeof(out), &n);
    }
    (void)dps_parse_response_topic(t, &dr);
    (void)iothub_connection_string_parse(t, &cs);
    iothub_bag_iter_init(&it, t);
    while (iothub_bag_next(&it, &k, &v, &has) == TMA_OK) {
        (void)iothub_bag_key_is(k, "$rid");
    }
    (void)iothub_url_decode(t, out, sizeof(out), &n);
    return 0;
}
