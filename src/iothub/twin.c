/* Twin body helpers on top of the JSON walker. */
#include "iothub/iothub.h"
#include "iothub/json.h"

#include "topic.h"
#include "wbuf.h"

struct version_walk {
    bool is_get;
    bool in_target;   /* the members being reported are those of the object holding $version */
    tma_status found; /* TMA_OK once a $version was read */
    int64_t version;
};

/* The object holding "$version" is the root (a desired-properties PATCH) or,
 * for a GET response, the first "desired" object that has one. Within that
 * object a repeated "$version" counts last, as a JSON reader usually does. */
static tma_status version_member(void *ctx, uint32_t depth, const struct iothub_json_token *name,
                                 const struct iothub_json_token *value)
{
    struct version_walk *w = ctx;
    if (name == NULL) {
        return value->kind == IOTHUB_JSON_BEGIN_OBJECT ? TMA_OK : IOTHUB_E(TMA_C_MALFORMED);
    }
    if (depth == 1u && w->is_get) {
        /* Members at depth 2 that follow belong to this member's value. */
        w->in_target = w->found != TMA_OK && value->kind == IOTHUB_JSON_BEGIN_OBJECT &&
                       ih_json_name_is(name, "desired");
    } else if (depth == (w->is_get ? 2u : 1u) && w->in_target &&
               ih_json_name_is(name, ih_version_key)) {
        if (value->kind != IOTHUB_JSON_NUMBER ||
            !ih_json_int64(value->text, &w->version)) {
            return IOTHUB_E(TMA_C_MALFORMED);
        }
        w->found = TMA_OK;
    }
    return TMA_OK;
}

tma_status iothub_twin_desired_version(struct tma_span body, bool is_get, int64_t *out_version)
{
    struct version_walk w;
    tma_status st;
    if (out_version == NULL) {
        return IOTHUB_E(TMA_C_BAD_PARAM);
    }
    w.is_get = is_get;
    w.in_target = !is_get;
    w.found = IOTHUB_E(TMA_C_NOT_FOUND);
    w.version = 0;
    /* One pass over the whole document: it is validated as a whole too. */
    st = ih_json_walk(body, version_member, &w);
    if (st != TMA_OK) {
        return st;
    }
    if (w.found == TMA_OK) {
        *out_version = w.version;
    }
    return w.found;
}
