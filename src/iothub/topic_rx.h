/* Private: the incoming-topic parsers the glue runs for every PUBLISH it
 * receives (C2D and module input, twin, methods), defined here as static
 * inline functions. The glue's on_publish() calls each from one place, and
 * -Os inlines a function called once only when it is in the same
 * translation unit; iothub.c's public parsers (iothub_c2d_parse(),
 * iothub_input_parse(), iothub_twin_parse(), iothub_method_parse()) run the
 * same definitions behind their argument checks. A device links the
 * glue's inlined copies only (code size:
 * docs/decisions/iothub-client-size-10.md). */
#ifndef IOTHUB_TOPIC_RX_H
#define IOTHUB_TOPIC_RX_H

#include <stdint.h>

#include "iothub/iothub.h"
#include "topic.h"
#include "wbuf.h"

#define IH_E_MAL IOTHUB_E(TMA_C_MALFORMED)
#define IH_E_NF IOTHUB_E(TMA_C_NOT_FOUND)

static inline struct tma_span ih_span_from(struct tma_span s, size_t off)
{
    struct tma_span r;
    r.ptr = s.ptr + off;
    r.len = s.len - off;
    return r;
}

static inline size_t ih_seg_len(struct tma_span s)
{
    size_t n = 0u;
    while (n < s.len && s.ptr[n] != '/') {
        n++;
    }
    return n;
}

static inline tma_status ih_c2d_parse(const struct iothub_identity *id, struct tma_span topic,
                        struct tma_span *out_input, struct tma_span *out_bag)
{
    size_t n;
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    tma_status st;
    /* the next step sees the '/' after the id, so "dev" does not match "dev-1" */
    if (!ih_eat(&topic, ih_devices_prefix) || !ih_eat(&topic, id->device_id)) {
        return IH_E_NF;
    }
    if (out_input == NULL) {
        if (!ih_eat(&topic, ih_c2d_tail)) { /* the filter's string: kept once */
            return IH_E_NF;
        }
    } else {
        /* "/modules/{mid}/inputs/{name}[/{bag}]" */
        if (!ih_eat(&topic, ih_modules_infix) || !ih_eat(&topic, id->module_id) ||
            !ih_eat(&topic, "/inputs/")) {
            return IH_E_NF;
        }
        n = ih_seg_len(topic);
        out_input->ptr = topic.ptr;
        out_input->len = n;
        /* The name must read as one bare key of a bag: not empty, escapes
         * well-formed, no raw '=' or '&'. */
        it.bag = *out_input;
        it.pos = 0u;
        if (ih_bag_next(&it, &k, &v, &has) != TMA_OK || k.len != n) { /* an '=' ends k early */
            return IH_E_MAL;
        }
        topic = ih_span_from(topic, n < topic.len ? n + 1u : n); /* and the '/' before the bag */
    }
    /* Validate the whole bag now so callers can trust it. */
    it.bag = topic; /* a view into the topic: not NULL */
    it.pos = 0u;
    while ((st = ih_bag_next(&it, &k, &v, &has)) == TMA_OK) {
    }
    if (st != IH_E_NF) {
        return st;
    }
    *out_bag = topic;
    return TMA_OK;
}

static inline tma_status ih_twin_parse(struct tma_span topic, struct iothub_twin_msg *out_msg)
{
    struct ih_topic t;
    uint64_t num = 0u; /* stays 0 unless $rid is a number */
    enum ih_seg seg = IH_SEG_STATUS;
    if (ih_eat(&topic, ih_twin_res_filter)) {
        out_msg->kind = IOTHUB_TWIN_RESPONSE;
    } else if (ih_eat(&topic, ih_twin_desired_filter)) {
        out_msg->kind = IOTHUB_TWIN_DESIRED;
        seg = IH_SEG_NONE;
    } else {
        return IH_E_NF;
    }
    if (!ih_topic_parse(topic, seg, ih_version_key, (uint64_t)INT64_MAX, &t) ||
        (seg == IH_SEG_STATUS ? t.rid.len == 0u : !t.has_num)) {
        return IH_E_MAL; /* a response needs $rid, a notification $version */
    }
    out_msg->status = t.status;
    out_msg->rid = t.rid;
    out_msg->rid_is_number = ih_parse_u64(t.rid, UINT32_MAX, &num); /* false when empty */
    out_msg->rid_number = (uint32_t)num;
    out_msg->has_version = t.has_num;
    out_msg->version = (int64_t)t.num;
    return TMA_OK;
}

static inline tma_status ih_method_parse(struct tma_span topic, struct iothub_method_request *out_req)
{
    struct ih_topic t;
    if (!ih_eat(&topic, ih_methods_filter)) {
        return IH_E_NF;
    }
    if (!ih_topic_parse(topic, IH_SEG_NAME, NULL, 0u, &t) || t.rid.len == 0u) {
        return IH_E_MAL;
    }
    out_req->name = t.seg;
    out_req->rid = t.rid;
    return TMA_OK;
}


/* The property bag of the telemetry topic the glue's device_topic() writes
 * ("k=v&k2", percent-encoded; TMA_C_BAD_PARAM for a missing key), as
 * iothub.c's builders write it. */
static inline tma_status ih_bag_write(struct wbuf *w, const struct iothub_property *props, size_t n)
{
    size_t i;
    if (props == NULL && n > 0u) {
        return IOTHUB_E(TMA_C_BAD_PARAM);
    }
    for (i = 0u; i < n; i++) {
        if (props[i].key == NULL || props[i].key[0] == '\0') {
            return IOTHUB_E(TMA_C_BAD_PARAM);
        }
        if (i > 0u) {
            wb_putc(w, '&');
        }
        wb_encs(w, props[i].key);
        if (props[i].value != NULL) {
            wb_putc(w, '=');
            wb_encs(w, props[i].value);
        }
    }
    return TMA_OK;
}

#endif
