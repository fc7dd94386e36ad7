/*
 * Data link layer, chip side (spec 2.4/2.5, receiver and transmitter tables).
 * Frame counters start at 3/3 after reset so the first data frame in each
 * direction is number 0. Window 1: one unacknowledged data frame at a time.
 */
#include <string.h>

#include "sim_int.h"

void sim_link_reset(struct sim_link *l)
{
    memset(l, 0, sizeof(*l));
    l->tx_nr = 3;
    l->rx_nr = 3;
}

bool sim_link_idle(const struct sim_link *l)
{
    return !l->ctrl.valid && !l->data.valid && !l->awaiting_ack;
}

void sim_link_queue_ctrl(struct sim_link *l, uint8_t fctr, uint64_t ready_at)
{
    size_t n = sim_frame_encode(fctr, NULL, 0, l->ctrl.buf, sizeof(l->ctrl.buf));
    l->ctrl.len = (uint16_t)n;
    l->ctrl.ready_at = ready_at;
    l->ctrl.valid = true;
}

void sim_link_queue_ack(struct sim_link *l, uint64_t ready_at)
{
    sim_link_queue_ctrl(l, (uint8_t)(0x80u | l->rx_nr), ready_at);
}

static void queue_nak(struct sim_link *l, uint64_t ready_at)
{
    /* A NAK names the next expected frame: last good + 1. */
    sim_link_queue_ctrl(l, (uint8_t)(0xA0u | ((l->rx_nr + 1u) & 3u)), ready_at);
}

void sim_link_queue_data(struct sim_link *l, const uint8_t *pkt, size_t len, uint64_t ready_at)
{
    l->tx_nr = (uint8_t)((l->tx_nr + 1u) & 3u);
    uint8_t fctr = (uint8_t)((l->tx_nr << 2) | l->rx_nr);
    size_t n = sim_frame_encode(fctr, pkt, len, l->data.buf, sizeof(l->data.buf));
    l->data.len = (uint16_t)n;
    l->data.ready_at = ready_at;
    l->data.valid = n > 0;
    memcpy(l->unacked, l->data.buf, n);
    l->unacked_len = (uint16_t)n;
    l->awaiting_ack = n > 0;
    l->renumber = false;
    l->renumbered_unread = false;
    l->read_at = 0; /* not sent until the host reads it */
    l->retries = 0;
    /* A data frame carries the ACK: a pending control ACK is superseded when
     * both become readable together (the host would read ACK first anyway). */
}

/* Number the host must use to ACK/NAK our pending frame. */
static uint8_t pending_nr(const struct sim_link *l)
{
    return l->renumber ? (uint8_t)((l->tx_nr + 1u) & 3u) : l->tx_nr;
}

/* Does an ACK/NAK number name our pending frame? Only once the host has read
 * it: a number naming a frame not yet sent (response still being computed) is
 * a hint of desync (spec 2.5, transmitter table) and changes nothing; the
 * frame is delivered when ready and RESYNC stays available to the host. */
static bool names_pending(const struct sim_link *l, uint8_t nr)
{
    return l->awaiting_ack && l->read_at != 0 && nr == pending_nr(l);
}

/* Re-send the unacknowledged data frame with the current ACKNR. */
static void retransmit(struct sim_link *l, uint64_t now)
{
    if (!l->awaiting_ack) {
        return;
    }
    if (l->renumber) {
        /* first data frame after a RESYNC: it takes the next number (0) */
        l->tx_nr = (uint8_t)((l->tx_nr + 1u) & 3u);
        l->unacked[0] = (uint8_t)((l->unacked[0] & ~0x0Cu) | (l->tx_nr << 2));
        l->renumber = false;
        l->renumbered_unread = true;
    }
    l->unacked[0] = (uint8_t)((l->unacked[0] & 0x0Cu) | l->rx_nr);
    uint16_t crc = sim_crc16(l->unacked, (size_t)l->unacked_len - 2u);
    l->unacked[l->unacked_len - 2] = (uint8_t)(crc >> 8);
    l->unacked[l->unacked_len - 1] = (uint8_t)crc;
    memcpy(l->data.buf, l->unacked, l->unacked_len);
    l->data.len = l->unacked_len;
    l->data.ready_at = now;
    l->data.valid = true;
    l->retries++;
}

void sim_link_rx(struct sim_link *l, uint64_t now, const uint8_t *frame, size_t n, size_t dreg_len,
                 bool can_accept, struct sim_link_rx *out)
{
    struct sim_frame f;
    memset(out, 0, sizeof(*out));
    out->ev = SIM_LE_NONE;
    if (n > dreg_len) {
        out->err = SIM_FE_LEN; /* receive buffer overflow */
        queue_nak(l, now + SIM_LINK_US);
        out->naked = true;
        return;
    }
    out->err = sim_frame_decode(frame, n, &f);
    if (out->err == SIM_FE_CTRL_SIZE) {
        return; /* control frame of invalid size: discard */
    }
    if (out->err != SIM_FE_OK) {
        queue_nak(l, now + SIM_LINK_US);
        out->naked = true;
        return;
    }
    switch (f.kind) {
    case SIM_F_RESYNC:
        l->tx_nr = 3;
        l->rx_nr = 3;
        l->ctrl.valid = false;
        l->renumbered_unread = false;
        if (l->awaiting_ack) {
            /* Our pending frame is not dropped, but it has no number until it
             * is resent: then it is frame 0. A new data frame supersedes it
             * and is frame 0 itself (spec 2.4). */
            l->renumber = true;
            l->data.valid = false;
            l->retries = 0; /* RESYNC always recovers: resending may start over */
        }
        out->ev = SIM_LE_RESYNC;
        return;
    case SIM_F_ACK:
        if (!l->renumber && names_pending(l, f.acknr)) {
            l->awaiting_ack = false;
            l->data.valid = false;
            out->ev = SIM_LE_ACKED;
        }
        return; /* ACK for an already acknowledged frame: ignore */
    case SIM_F_NAK:
        if (names_pending(l, f.acknr)) {
            if (l->retries < SIM_RETRANSMIT_MAX * 4u) {
                retransmit(l, now + SIM_LINK_US);
                out->retransmit = true;
            }
        }
        return;
    case SIM_F_DATA:
        break;
    }
    /* Data frame. Its ACKNR acknowledges our frame (unless it is a NAK). */
    bool acked = false;
    if (names_pending(l, f.acknr) && (f.data_nak || !l->renumber)) {
        if (f.data_nak) {
            retransmit(l, now + SIM_LINK_US);
            out->retransmit = true;
        } else {
            acked = true;
        }
    }
    uint8_t expect = (uint8_t)((l->rx_nr + 1u) & 3u);
    if (f.frnr != expect) {
        /* duplicate (lost ACK) or out of order: ACK the last good frame */
        out->duplicate = true;
        if (l->data.valid && l->data.ready_at > now + SIM_LINK_US) {
            sim_link_queue_ack(l, now + SIM_LINK_US); /* response not ready yet */
        } else if (l->data.valid) {
            /* the pending data frame carries the ACK */
        } else if (l->awaiting_ack) {
            retransmit(l, now + SIM_LINK_US);
        } else {
            sim_link_queue_ack(l, now + SIM_LINK_US);
        }
        return;
    }
    if (!can_accept) {
        queue_nak(l, now + SIM_LINK_US);
        out->naked = true;
        return;
    }
    /* A new packet ends any exchange in progress: our pending frame is
     * either acknowledged by it or abandoned (the host moved on). A frame
     * renumbered after a RESYNC that the host never read does not count:
     * our next frame is again the first after the RESYNC. */
    if (l->renumbered_unread && l->data.valid) {
        l->tx_nr = (uint8_t)((l->tx_nr + 3u) & 3u);
    }
    l->renumbered_unread = false;
    l->awaiting_ack = false;
    l->renumber = false;
    l->data.valid = false;
    l->rx_nr = f.frnr;
    out->acked = acked;
    out->ev = SIM_LE_PACKET;
    out->pkt = f.pkt;
    out->pkt_len = f.pkt_len;
}

uint16_t sim_link_ready(struct sim_link *l, uint64_t now)
{
    /* retransmit timer: the host read our data frame but never acknowledged it */
    if (l->awaiting_ack && !l->data.valid && l->read_at &&
        now >= l->read_at + (uint64_t)SIM_TRANS_TIMEOUT_MS * 1000u &&
        l->retries < SIM_RETRANSMIT_MAX) {
        retransmit(l, now);
    }
    if (l->ctrl.valid && l->ctrl.ready_at <= now) {
        return l->ctrl.len;
    }
    if (l->data.valid && l->data.ready_at <= now) {
        return l->data.len;
    }
    return 0;
}

uint16_t sim_link_pop(struct sim_link *l, uint64_t now, uint8_t *buf, size_t cap)
{
    struct sim_outframe *o = NULL;
    if (l->ctrl.valid && l->ctrl.ready_at <= now) {
        o = &l->ctrl;
    } else if (l->data.valid && l->data.ready_at <= now) {
        o = &l->data;
        l->read_at = now ? now : 1;
        l->renumbered_unread = false;
    }
    if (!o) {
        return 0;
    }
    size_t n = o->len < cap ? o->len : cap;
    memcpy(buf, o->buf, n);
    o->valid = false;
    return o->len;
}
