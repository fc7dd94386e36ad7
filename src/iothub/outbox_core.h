/* Private: the outbox operations the glue runs once per message (push,
 * peek, mark sent, ack, rewind), defined here as static inline functions:
 * the glue (client.c) calls each from one place or two, and -Os inlines a
 * function of the same translation unit only; outbox.c's public functions
 * run the same definitions (push and peek behind their argument checks;
 * ack, mark sent and rewind are the public functions' bodies, NULL checks
 * included, since the glue passes a client without an outbox as NULL). A
 * device links the glue's copies only (code size:
 * docs/decisions/iothub-client-size-10.md). */
#ifndef IOTHUB_OUTBOX_CORE_H
#define IOTHUB_OUTBOX_CORE_H

#include <string.h>

#include "iothub/outbox.h"

#define S_ERR(code) TMA_ERR(TMA_LAYER_STORE, (code))

static inline bool ih_not_found(tma_status st)
{
    return st < 0 && TMA_STATUS_CODE(st) == TMA_C_NOT_FOUND;
}

/* Count the stored records and find the oldest (head; next_seq if none). */
tma_status ih_outbox_scan(struct iothub_outbox *ob);
/* Delete @p seq (a delete reported failed that went through all the same
 * is done). */
tma_status ih_outbox_remove(struct iothub_outbox *ob, uint32_t seq);
/* The head after the oldest record left (next_seq with none). */
tma_status ih_outbox_advance_head(struct iothub_outbox *ob);
/* iothub_outbox_get() without its argument checks. */
tma_status ih_outbox_get(struct iothub_outbox *ob, uint32_t seq, uint8_t *buf, size_t cap,
                         struct iothub_outbox_msg *out_msg);

/* A put the storage reported failed may have stored its record all the
 * same (a flash commit the port could not confirm); the storage then counts
 * it in seq_end. Such a record is in the outbox (counted, delivered) and its
 * number is taken. */
static inline void ih_outbox_adopt_stored(struct iothub_outbox *ob)
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

/* iothub_outbox_push() without its argument checks. */
static inline tma_status ih_outbox_push(struct iothub_outbox *ob, const char *topic, const uint8_t *payload,
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
    ih_outbox_adopt_stored(ob);
    /* The oldest message numbered past half the number space (head; with
     * none counted head is next_seq, or behind it after an ack whose head
     * move failed: then the rebase waits a push): renumber, everything
     * lower by IOTHUB_OUTBOX_REBASE_AT. The storage refuses (TMA_C_STATE)
     * if it holds a record below that (a failed delete may have left one
     * the count missed; a store that cannot renumber refuses with any
     * record): it alone knows, so the check is its (storage.h). Whatever it
     * now answers for seq_end() is where the numbering goes on (an empty
     * store may restart at 0). Every message counted is due again under
     * its new number: those in flight under the old one go twice
     * (at-least-once); their PUBACKs and resends carry tags >= 2^31, above
     * every new number for the next 2^31 pushes, and find nothing. Refused
     * or failed: on with the old numbers, asked again at the next push. A
     * stale tag (a message dropped while in flight) is as far from its
     * number's reuse (docs/design/outbox.md). */
    if (ob->head >= IOTHUB_OUTBOX_REBASE_AT && ob->st.rebase != NULL && ob->st.rebase(ob->st.ctx) == TMA_OK) {
        ob->next_seq = ob->st.seq_end(ob->st.ctx);
        ob->head -= IOTHUB_OUTBOX_REBASE_AT;
        if (ob->count == 0u) {
            ob->head = ob->next_seq;
        }
        ob->cursor = ob->head;
        ob->stats.rebased++;
    }
    if (ob->next_seq == UINT32_MAX) {
        ob->stats.refused++;
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
        st = ih_outbox_remove(ob, ob->head);
        if (ih_not_found(st) && !rescanned) {
            /* The head is not stored (an ack whose head move failed left it
             * behind): count the storage again, once, and retry. */
            rescanned = 1;
            st = ih_outbox_scan(ob);
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
        st = ih_outbox_advance_head(ob); /* with nothing left: head = next_seq */
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

/* iothub_outbox_has_due() without its argument check. */
static inline bool ih_outbox_has_due(const struct iothub_outbox *ob)
{
    return ob->count != 0u && ob->cursor < ob->next_seq;
}

/* iothub_outbox_peek() without its argument checks. */
static inline tma_status ih_outbox_peek(struct iothub_outbox *ob, uint8_t *buf, size_t cap,
                          struct iothub_outbox_msg *out_msg)
{
    uint32_t seq;
    tma_status st;
    if (!ih_outbox_has_due(ob)) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    st = ob->st.next(ob->st.ctx, ob->cursor, &seq);
    if (st != TMA_OK) {
        return st;
    }
    return ih_outbox_get(ob, seq, buf, cap, out_msg);
}

/* iothub_outbox_mark_sent() */
static inline void ih_outbox_mark_sent(struct iothub_outbox *ob, uint32_t seq)
{
    if (ob != NULL && seq >= ob->cursor && seq < ob->next_seq) {
        ob->cursor = seq + 1u;
    }
}

/* iothub_outbox_ack() */
static inline tma_status ih_outbox_ack(struct iothub_outbox *ob, uint32_t seq)
{
    tma_status st;
    if (ob == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    if (ob->count == 0u || seq < ob->head || seq >= ob->next_seq) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    st = ih_outbox_remove(ob, seq);
    if (st != TMA_OK) {
        return st;
    }
    ob->count--;
    ob->stats.acked++;
    if (seq == ob->head) {
        return ih_outbox_advance_head(ob);
    }
    return TMA_OK;
}

/* iothub_outbox_rewind() */
static inline void ih_outbox_rewind(struct iothub_outbox *ob)
{
    if (ob != NULL) {
        ob->cursor = ob->count > 0u ? ob->head : ob->next_seq;
    }
}

#endif
