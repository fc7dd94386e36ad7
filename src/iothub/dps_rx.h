/* Private: the DPS reply reader's core (dps_parse_response() without its
 * NULL check), defined here as a static inline function: the DPS client's
 * reply handler calls it from one place, and -Os inlines a function of the
 * same translation unit only; dps.c's public dps_parse_response() runs the
 * same definition. A device links the client's inlined copy only (code
 * size: docs/decisions/iothub-client-size-10.md). */
#ifndef IOTHUB_DPS_RX_H
#define IOTHUB_DPS_RX_H

#include <string.h>

#include "iothub/dps.h"
#include "iothub/json.h"
#include "topic.h"
#include "wbuf.h"

struct ih_dps_walk {
    struct dps_response *res;
    bool in_state; /* members at depth 2 are those of registrationState */
};

/* The reader's ih_json_walk() callback (dps.c): the members of the reply
 * it reads, with their types checked. */
tma_status ih_dps_member(void *ctx, uint32_t depth, const struct iothub_json_token *name,
                         const struct iothub_json_token *v);

static inline tma_status ih_dps_parse(struct tma_span body, struct dps_response *out_res)
{
    struct ih_dps_walk w;
    tma_status st;
    memset(out_res, 0, sizeof(*out_res));
    w.res = out_res;
    w.in_state = false;
    /* One pass: the whole document is validated as it is read. */
    st = ih_json_walk(body, ih_dps_member, &w);
    if (st != TMA_OK) {
        /* the walk's and the reader's malformed are the DPS layer's */
        return st == IOTHUB_E(TMA_C_MALFORMED) ? TMA_ERR(TMA_LAYER_DPS, TMA_C_MALFORMED) : st;
    }
    if (out_res->status == DPS_STATUS_ASSIGNED &&
        (out_res->assigned_hub.len == 0u || out_res->device_id.len == 0u)) {
        return TMA_ERR(TMA_LAYER_DPS, TMA_C_MALFORMED);
    }
    return TMA_OK;
}

#endif
