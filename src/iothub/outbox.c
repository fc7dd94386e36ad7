/* Persistent telemetry outbox; see include/iothub/outbox.h. */
#include "iothub/outbox.h"

#include "topic.h"

#include <string.h>

#define S_ERR(code) TMA_ERR(TMA_LAYER_STORE, (code))

static bool is_not_found(tma_status st)
{
    return st < 0 && TMA_STATUS_CODE(st) == TMA_C_NOT_FOUND;
}

/* Count the stored records and find the oldest (head; next_seq if none). */
static tma_status scan(struct iothub_outbox *ob)
{
    uint32_t seq = 0u, from = 0u;
    tma_status st;
    ob->count = 0u;
    ob->head = ob->next_seq;
    for (;;) {
        st = ob->st.next(ob->st.ctx, from, &seq);
        if (is_not_found(st)) {
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
    st = scan(ob);
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
static tma_status remove_rec(struct iothub_outbox *ob, uint32_t seq)
{
    uint32_t found = 0u;
    tma_status st = ob->st.del(ob->st.ctx, seq), n;
    if (st == TMA_OK || is_not_found(st)) {
        return st;
    }
    n = ob->st.next(ob->st.ctx, seq, &found);
    return is_not_found(n) || (n == TMA_OK && found != seq) ? TMA_OK : st;
}

static tma_status advance_head(struct iothub_outbox *ob)
{
    uint32_t seq;
    tma_status st;
    if (ob->count == 0u) {
        ob->head = ob->next_seq;
        return TMA_OK;
    }
    st = ob->st.next(ob->st.ctx, ob->head, &seq);
    if (st != TMA_OK) {
        return is_not_found(st) ? S_ERR(TMA_C_INTERNAL) : st;
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

/* A put the storage reported failed may have stored its record all the
 * same (a flash commit the port could not confirm); the storage then counts
 * it in seq_end. Such a record is in the outbox (counted, delivered) and its
 * number is taken. */
static void adopt_stored(struct iothub_outbox *ob)
{
    uint32_t end = ob->st.seq_end(ob->st.ctx);
    if (end > ob->next_seq) {
        if (ob->count++ == 0u) {
            ob->head = ob->next_seq;
        }
        ob->stats.stored++;
        ob->next_seq = end;
    }
}

tma_status ih_outbox_push(struct iothub_outbox *ob, const char *topic, const uint8_t *payload,
                          size_t len, uint32_t *out_seq)
{
    /* Record: topic length (2 bytes, big endian), topic, payload. */
    size_t tlen = strlen(topic), nparts = len > 0u ? 3u : 2u;
    uint8_t hdr[2];
    struct tma_span parts[3];
    uint32_t seq;
    int rescanned = 0;
    tma_status st;
    if (tlen == 0u || tlen > IOTHUB_OUTBOX_MAX_TOPIC || len > (size_t)UINT32_MAX - 2u - tlen) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    adopt_stored(ob);
    if (ob->next_seq == UINT32_MAX) {
        return S_ERR(TMA_C_FULL);
    }
    hdr[0] = (uint8_t)(tlen >> 8);
    hdr[1] = (uint8_t)tlen;
    parts[0].ptr = hdr;
    parts[0].len = 2u;
    parts[1].ptr = (const uint8_t *)topic;
    parts[1].len = tlen;
    parts[2].ptr = payload;
    parts[2].len = len;
    /* At capacity, or when the storage ran out of bytes first (a flash
     * log), the policy decides. */
    for (;;) {
        /* After a drop or a recount the head moved on: a cursor at or
         * before the old head moves along (no-op on the first pass). */
        if (ob->cursor < ob->head) {
            ob->cursor = ob->head;
        }
        st = ob->count >= ob->capacity ? S_ERR(TMA_C_FULL) : ob->st.put(ob->st.ctx, ob->next_seq, parts, nparts);
        if (st != S_ERR(TMA_C_FULL)) {
            break;
        }
        if (ob->policy == IOTHUB_OUTBOX_REFUSE_NEW || ob->count == 0u) {
            ob->stats.refused++;
            return st;
        }
        /* DROP_OLDEST: delete the oldest, count it, try again */
        st = remove_rec(ob, ob->head);
        if (is_not_found(st) && !rescanned) {
            /* The head is not stored (an ack whose head move failed left it
             * behind): count the storage again, once, and retry. */
            rescanned = 1;
            st = scan(ob);
            if (st != TMA_OK) {
                return st;
            }
            continue;
        }
        if (st != TMA_OK) {
            return st;
        }
        ob->count--;
        ob->stats.dropped++;
        st = advance_head(ob); /* with nothing left: head = next_seq */
        if (st != TMA_OK) {
            return st;
        }
    }
    /* A put reported failed may have stored this very record all the same:
     * the storage's put of the same record again answers TMA_OK then,
     * writing nothing. A seq_end past next_seq alone does not tell: the
     * number may hold an earlier message whose put was reported failed
     * (adopted by the next push), and this one would be lost. */
    if (st != TMA_OK &&
        (ob->st.seq_end(ob->st.ctx) <= ob->next_seq || ob->st.put(ob->st.ctx, ob->next_seq, parts, nparts) != TMA_OK)) {
        return st;
    }
    /* the members first: after a store through out_seq they would be read again */
    seq = ob->next_seq++;
    if (ob->count++ == 0u) {
        ob->head = seq;
    }
    ob->stats.stored++;
    if (out_seq != NULL) {
        *out_seq = seq;
    }
    return TMA_OK;
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

tma_status ih_outbox_peek(struct iothub_outbox *ob, uint8_t *buf, size_t cap,
                          struct iothub_outbox_msg *out_msg)
{
    uint32_t seq;
    tma_status st;
    if (ob->count == 0u || ob->cursor >= ob->next_seq) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    st = ob->st.next(ob->st.ctx, ob->cursor, &seq);
    if (st != TMA_OK) {
        return st;
    }
    return ih_outbox_get(ob, seq, buf, cap, out_msg);
}

void iothub_outbox_mark_sent(struct iothub_outbox *ob, uint32_t seq)
{
    if (ob != NULL && seq >= ob->cursor && seq < ob->next_seq) {
        ob->cursor = seq + 1u;
    }
}

tma_status iothub_outbox_ack(struct iothub_outbox *ob, uint32_t seq)
{
    tma_status st;
    if (ob == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    if (ob->count == 0u || seq < ob->head || seq >= ob->next_seq) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    st = remove_rec(ob, seq);
    if (st != TMA_OK) {
        return st;
    }
    ob->count--;
    ob->stats.acked++;
    if (seq == ob->head) {
        return advance_head(ob);
    }
    return TMA_OK;
}

void iothub_outbox_rewind(struct iothub_outbox *ob)
{
    if (ob != NULL) {
        ob->cursor = ob->count > 0u ? ob->head : ob->next_seq;
    }
}

uint32_t iothub_outbox_count(const struct iothub_outbox *ob)
{
    return ob == NULL ? 0u : ob->count;
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
