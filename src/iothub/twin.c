/* Twin body helpers on top of the JSON reader. */
#include "iothub/iothub.h"
#include "iothub/json.h"

#include "wbuf.h"

/* One pass over the whole document (so it is validated as a whole): the
 * object holding "$version" is the top level (a desired-properties PATCH) or,
 * for a GET response, the first "desired" object that has one. Within that
 * object a repeated "$version" counts last, as a JSON reader usually does. */
tma_status iothub_twin_desired_version(struct tma_span body, bool is_get, int64_t *out_version)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    tma_status st, found = IOTHUB_E(TMA_C_NOT_FOUND);
    uint32_t want = is_get ? 2u : 1u; /* depth of the object holding $version */
    bool in_target = !is_get;
    int64_t v = 0;
    if (out_version == NULL) {
        return IOTHUB_E(TMA_C_BAD_PARAM);
    }
    st = iothub_json_reader_init(&r, body);
    if (st == TMA_OK) {
        st = iothub_json_next(&r, &t);
        if (st == TMA_OK && t.kind != IOTHUB_JSON_BEGIN_OBJECT) {
            return IOTHUB_E(TMA_C_MALFORMED);
        }
    }
    while (st == TMA_OK) {
        st = iothub_json_next(&r, &t);
        if (st != TMA_OK || t.kind != IOTHUB_JSON_NAME) {
            continue;
        }
        if (r.depth == 1u && is_get) {
            /* Names at depth 2 belong to this member's value when it is an object. */
            in_target = found != TMA_OK && iothub_json_token_eq(&t, "desired");
        } else if (r.depth == want && in_target && iothub_json_token_eq(&t, "$version")) {
            st = iothub_json_next(&r, &t);
            if (st == TMA_OK && (t.kind != IOTHUB_JSON_NUMBER ||
                                 iothub_json_token_int64(&t, &v) != TMA_OK)) {
                return IOTHUB_E(TMA_C_MALFORMED);
            }
            found = TMA_OK;
        }
    }
    if (st != IOTHUB_E(TMA_C_NOT_FOUND)) {
        return st; /* the reader's NOT_FOUND is the end of a complete document */
    }
    if (found == TMA_OK) {
        *out_version = v;
    }
    return found;
}
