/* Persistent telemetry outbox; see include/iothub/outbox.h. */
#include "iothub/outbox.h"

#include "outbox_core.h"
#include "topic.h"

#include <string.h>

/* Count the stored records and find the oldest (head; next_seq if none). */
tma_status ih_outbox_scan(struct iothub_outbox *ob)
{
    uint32_t seq = 0u, from = 0u;
    tma_status st;
    ob->count = 0u;
    ob->head = ob->next_seq;
    for (;;) {
        st = ob->st.next(ob->st.ctx, from, &seq);
        if (ih_not_found(st)) {
            return TMA_OK;
        }
        if (st != TMA_OK) {
            return st;
        }
        if (ob->count == 0u) {
            ob->head = seq;
        }
        ob->count++;
        if (seq == UINT32_MAX) {
            return TMA_OK;
        }
        from = seq + 1u;
    }
}

tma_status iothub_outbox_init(struct iothub_outbox *ob, const struct iothub_storage *storage,
                              uint32_t capacity, enum iothub_outbox_policy policy)
{
    tma_status st;
    if (ob == NULL || storage == NULL || storage->put == NULL || storage->get == NULL ||
        storage->del == NULL || storage->next == NULL || storage->seq_end == NULL ||
        capacity == 0u ||
        (policy != IOTHUB_OUTBOX_REFUSE_NEW && policy != IOTHUB_OUTBOX_DROP_OLDEST)) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    memset(ob, 0, sizeof(*ob));
    ob->st = *storage;
    ob->capacity = capacity;
    ob->policy = (uint8_t)policy;
    ob->next_seq = ob->st.seq_end(ob->st.ctx);
    st = ih_outbox_scan(ob);
    if (st != TMA_OK) {
        return st;
    }
    ob->cursor = ob->head;
    ob->stats.recovered = ob->count;
    return TMA_OK;
}

/* Delete @p seq. A delete the storage reported failed but that went through
 * all the same (a flash program the port could not confirm) is done: the
 * outbox counts it, or it would keep a head that no longer exists and every
 * later drop of it would fail with NOT_FOUND. */
tma_status ih_outbox_remove(struct iothub_outbox *ob, uint32_t seq)
{
    uint32_t found = 0u;
    tma_status st = ob->st.del(ob->st.ctx, seq), n;
    if (st == TMA_OK || ih_not_found(st)) {
        return st;
    }
    n = ob->st.next(ob->st.ctx, seq, &found);
    return ih_not_found(n) || (n == TMA_OK && found != seq) ? TMA_OK : st;
}

tma_status ih_outbox_advance_head(struct iothub_outbox *ob)
{
    uint32_t seq;
    tma_status st;
    if (ob->count == 0u) {
        ob->head = ob->next_seq;
        return TMA_OK;
    }
    st = ob->st.next(ob->st.ctx, ob->head, &seq);
    if (st != TMA_OK) {
        return ih_not_found(st) ? S_ERR(TMA_C_INTERNAL) : st;
    }
    ob->head = seq;
    return TMA_OK;
}

tma_status iothub_outbox_push(struct iothub_outbox *ob, const char *topic, const uint8_t *payload,
                              size_t len, uint32_t *out_seq)
{
    if (ob == NULL || topic == NULL || (payload == NULL && len > 0u)) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    return ih_outbox_push(ob, topic, payload, len, out_seq);
}

static tma_status decode(uint32_t seq, uint8_t *buf, size_t n, struct iothub_outbox_msg *out)
{
    size_t tlen;
    if (n < 2u) {
        return S_ERR(TMA_C_MALFORMED);
    }
    tlen = (size_t)buf[0] << 8 | buf[1];
    if (tlen == 0u || tlen > n - 2u) {
        return S_ERR(TMA_C_MALFORMED);
    }
    out->seq = seq;
    out->topic.ptr = buf + 2u;
    out->topic.len = tlen;
    out->payload.ptr = buf + 2u + tlen;
    out->payload.len = n - 2u - tlen;
    return TMA_OK;
}

tma_status iothub_outbox_get(struct iothub_outbox *ob, uint32_t seq, uint8_t *buf, size_t cap,
                             struct iothub_outbox_msg *out_msg)
{
    if (ob == NULL || buf == NULL || out_msg == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    memset(out_msg, 0, sizeof(*out_msg));
    return ih_outbox_get(ob, seq, buf, cap, out_msg);
}

tma_status ih_outbox_get(struct iothub_outbox *ob, uint32_t seq, uint8_t *buf, size_t cap,
                         struct iothub_outbox_msg *out_msg)
{
    size_t n = 0u;
    tma_status st = ob->st.get(ob->st.ctx, seq, buf, cap, &n);
    if (st != TMA_OK) {
        return st;
    }
    return decode(seq, buf, n, out_msg);
}

tma_status iothub_outbox_peek(struct iothub_outbox *ob, uint8_t *buf, size_t cap,
                              struct iothub_outbox_msg *out_msg)
{
    if (ob == NULL || buf == NULL || out_msg == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    return ih_outbox_peek(ob, buf, cap, out_msg);
}

void iothub_outbox_mark_sent(struct iothub_outbox *ob, uint32_t seq)
{
    ih_outbox_mark_sent(ob, seq);
}

tma_status iothub_outbox_ack(struct iothub_outbox *ob, uint32_t seq)
{
    return ih_outbox_ack(ob, seq);
}

void iothub_outbox_rewind(struct iothub_outbox *ob)
{
    ih_outbox_rewind(ob);
}

uint32_t iothub_outbox_count(const struct iothub_outbox *ob)
{
    return ob == NULL ? 0u : ob->count;
}

bool iothub_outbox_has_due(const struct iothub_outbox *ob)
{
    return ob != NULL && ih_outbox_has_due(ob);
}

struct iothub_outbox_stats iothub_outbox_stats(const struct iothub_outbox *ob)
{
    struct iothub_outbox_stats s;
    memset(&s, 0, sizeof(s));
    if (ob != NULL) {
        s = ob->stats;
    }
    return s;
}
