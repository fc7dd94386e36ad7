/* Twin body helpers on top of the JSON reader. */
#include "iothub/iothub.h"
#include "iothub/json.h"

#include "wbuf.h"

/* Find the integer member "$version" of the object the reader is at (just
 * after its BEGIN_OBJECT), optionally inside member `inner` first. */
static tma_status find_version(struct iothub_json_reader *r, const char *inner,
                               int64_t *out_version)
{
    struct iothub_json_token t, v;
    tma_status st;
    tma_status result = IOTHUB_E(TMA_C_NOT_FOUND);
    bool found = false;
    for (;;) {
        st = iothub_json_next(r, &t);
        if (st != TMA_OK) {
            return st == IOTHUB_E(TMA_C_NOT_FOUND) ? IOTHUB_E(TMA_C_MALFORMED) : st;
        }
        if (t.kind == IOTHUB_JSON_END_OBJECT) {
            return found ? TMA_OK : result;
        }
        /* t is a NAME */
        if (inner != NULL && iothub_json_token_eq(&t, inner)) {
            st = iothub_json_next(r, &v);
            if (st != TMA_OK) {
                return st;
            }
            if (v.kind == IOTHUB_JSON_BEGIN_OBJECT && !found) {
                st = find_version(r, NULL, out_version);
                if (st == TMA_OK) {
                    found = true;
                } else if (st != IOTHUB_E(TMA_C_NOT_FOUND)) {
                    return st;
                }
            } else {
                st = iothub_json_skip(r, &v);
                if (st != TMA_OK) {
                    return st;
                }
            }
        } else if (inner == NULL && iothub_json_token_eq(&t, "$version")) {
            st = iothub_json_next(r, &v);
            if (st != TMA_OK) {
                return st;
            }
            if (v.kind != IOTHUB_JSON_NUMBER ||
                iothub_json_token_int64(&v, out_version) != TMA_OK) {
                return IOTHUB_E(TMA_C_MALFORMED);
            }
            found = true;
        } else {
            st = iothub_json_skip(r, &t);
            if (st != TMA_OK) {
                return st;
            }
        }
    }
}

tma_status iothub_twin_desired_version(struct tma_span body, bool is_get, int64_t *out_version)
{
    struct iothub_json_reader r;
    struct iothub_json_token t;
    tma_status st;
    int64_t v = 0;
    if (out_version == NULL) {
        return IOTHUB_E(TMA_C_BAD_PARAM);
    }
    st = iothub_json_reader_init(&r, body);
    if (st != TMA_OK) {
        return st;
    }
    st = iothub_json_next(&r, &t);
    if (st != TMA_OK) {
        return st == IOTHUB_E(TMA_C_NOT_FOUND) ? IOTHUB_E(TMA_C_MALFORMED) : st;
    }
    if (t.kind != IOTHUB_JSON_BEGIN_OBJECT) {
        return IOTHUB_E(TMA_C_MALFORMED);
    }
    st = find_version(&r, is_get ? "desired" : NULL, &v);
    if (st == TMA_OK || st == IOTHUB_E(TMA_C_NOT_FOUND)) {
        /* The rest of the document must be well-formed too. */
        tma_status rest = iothub_json_next(&r, &t);
        if (rest != IOTHUB_E(TMA_C_NOT_FOUND)) {
            return IOTHUB_E(TMA_C_MALFORMED);
        }
    }
    if (st == TMA_OK) {
        *out_version = v;
    }
    return st;
}
