/* Fuzz target: JSON reader, twin and DPS bodies. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iothub/dps.h"
#include "iothub/iothub.h"
#include "iothub/json.h"
#include "../../src/iothub/topic.h" /* ih_json_copy(): what the DPS client copies */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tma_span s = {data, size};
    struct iothub_json_reader r;
    struct iothub_json_token t;
    struct dps_response d;
    char out[256];
    size_t n;
    int64_t v;
    tma_status valid = iothub_json_validate(s);
    tma_status st;
    unsigned tokens = 0;

    if (iothub_json_reader_init(&r, s) != TMA_OK) {
        return 0;
    }
    while ((st = iothub_json_next(&r, &t)) == TMA_OK) {
        tokens++;
        if (t.text.len > 0 && (t.text.ptr < data || t.text.ptr + t.text.len > data + size)) {
            __builtin_trap();
        }
        if (t.kind == IOTHUB_JSON_STRING || t.kind == IOTHUB_JSON_NAME) {
            tma_status full = iothub_json_token_string(&t, out, sizeof(out), &n);
            /* ih_json_copy() keeps exactly the full decoder's bytes when they
             * are all printable ASCII without space and fit (cap 1..64). */
            char cp[64];
            size_t cap = 1u + tokens % sizeof(cp), k;
            bool want = full == TMA_OK && n > 0u && n < cap;
            for (k = 0u; want && k < n; k++) {
                want = (uint8_t)out[k] > 0x20u && (uint8_t)out[k] < 0x7Fu;
            }
            if (ih_json_copy(t.text, cp, cap) != want || (want && (memcmp(cp, out, n) != 0 || cp[n] != '\0')) ||
                (!want && cp[0] != '\0')) {
                __builtin_trap();
            }
            (void)iothub_json_token_eq(&t, "$version");
        } else if (t.kind == IOTHUB_JSON_NUMBER) {
            (void)iothub_json_token_int64(&t, &v);
        }
    }
    /* The streaming walk and validate() must agree. */
    if ((st == TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_NOT_FOUND)) != (valid == TMA_OK)) {
        __builtin_trap();
    }
    (void)iothub_twin_desired_version(s, true, &v);
    (void)iothub_twin_desired_version(s, false, &v);
    if (dps_parse_response(s, &d) == TMA_OK && valid != TMA_OK) {
        __builtin_trap();
    }
    return 0;
}
