/* Fuzz target: JSON reader, twin and DPS bodies. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iothub/dps.h"
#include "iothub/iothub.h"
#include "iothub/json.h"

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
            (void)iothub_json_token_string(&t, out, sizeof(out), &n);
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
