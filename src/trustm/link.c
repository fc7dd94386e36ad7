/* Data link layer: CRC-16, frame codec and the acknowledgement state machine
 * (spec section 2). Pure functions: no I/O, no time. */
#include "stack.h"

/* CRC-16/KERMIT register (reflected 0x1021, init 0, no final XOR), spec 2.3. */
uint16_t trustm_crc16(uint16_t crc, const uint8_t *p, size_t n)
{
    while (n--) {
        unsigned i;
        crc = (uint16_t)(crc ^ *p++);
        for (i = 0; i < 8; i++) {
            crc = (uint16_t)((crc & 1u) ? (crc >> 1) ^ 0x8408u : crc >> 1);
        }
    }
    return crc;
}

size_t trustm_frame_encode(uint8_t *frame, uint8_t fctr, size_t plen)
{
    uint16_t crc;
    frame[0] = fctr;
    frame[1] = (uint8_t)(plen >> 8);
    frame[2] = (uint8_t)plen;
    crc = trustm_crc16(0, frame, plen + 3);
    /* High byte of the register first (spec 2.3, as the chip's logs show). */
    frame[plen + 3] = (uint8_t)(crc >> 8);
    frame[plen + 4] = (uint8_t)crc;
    return plen + 5;
}

/* Both counters back to 3 (spec 2.5); returns a. */
static unsigned resync(struct trustm_lk *lk, unsigned a)
{
    lk->tx_nr = 3;
    lk->rx_nr = 3;
    return a;
}

unsigned trustm_link_step(struct trustm_lk *lk, const uint8_t *buf, size_t n,
                          struct trustm_frame *fr)
{
    uint8_t next_rx = (uint8_t)((lk->rx_nr + 1u) & 3u);

    if (n == 0) {
        /* Retransmission timer expired. */
        return lk->st == TRUSTM_LK_WAIT_ACK ? TRUSTM_LK_RETX : 0u;
    }
    if (trustm_frame_check(buf, n, fr) != TMA_OK) {
        /* Sending: a corrupt frame that looks like a control frame (FTYPE
         * set, or at most 5 bytes: a data frame has at least 6) is treated
         * as one, as the vendor library does: if it may have been our ACK,
         * send our frame again (the chip re-ACKs a duplicate). Otherwise
         * (receiving, or a data frame) NAK it so the chip resends at once,
         * and ACK the last good frame again: the chip may be resending that
         * one because our ACK was lost, and ignores the number that does
         * not name its pending frame. */
        if (lk->st == TRUSTM_LK_WAIT_ACK && (n <= 5 || (buf[0] & 0x80u))) {
            return TRUSTM_LK_RETX;
        }
        return lk->st == TRUSTM_LK_IDLE ? 0u : TRUSTM_LK_SEND_NAK | TRUSTM_LK_SEND_ACK;
    }
    if (fr->kind == TRUSTM_FR_RESYNC) {
        if (lk->st == TRUSTM_LK_IDLE) {
            return 0;
        }
        return resync(lk, TRUSTM_LK_RESYNC);
    }
    if (fr->kind != TRUSTM_FR_DATA) { /* ACK or NAK */
        if (lk->st == TRUSTM_LK_WAIT_ACK) {
            if (fr->acknr != lk->tx_nr) {
                return 0; /* stale or duplicate */
            }
            if (fr->kind == TRUSTM_FR_NAK) {
                return TRUSTM_LK_RETX;
            }
            lk->st = TRUSTM_LK_WAIT_DATA;
            return TRUSTM_LK_ACKED;
        }
        /* Receiving, a NAK: the chip got a broken ACK/NAK from us; send
         * both again. (An ACK: nothing of ours is pending.) */
        return fr->kind == TRUSTM_FR_NAK && lk->st != TRUSTM_LK_IDLE
                   ? TRUSTM_LK_SEND_NAK | TRUSTM_LK_SEND_ACK
                   : 0u;
    }
    /* Data frame. A repeat of the last one means our ACK got lost. */
    if (fr->frnr == lk->rx_nr) {
        return TRUSTM_LK_SEND_ACK;
    }
    if (fr->acknr != lk->tx_nr) {
        return 0; /* does not acknowledge our last frame: discard */
    }
    if (fr->nak) {
        return lk->st == TRUSTM_LK_WAIT_ACK ? TRUSTM_LK_RETX : 0u;
    }
    if (fr->frnr != next_rx) {
        /* Neither a repeat nor the next frame, yet it answers our frame: the
         * two sides count differently (a RESYNC of ours got lost on the
         * bus; spec 2.5: an unexpected number hints at desync). Start again
         * from a RESYNC. */
        return resync(lk, TRUSTM_LK_RESYNC | TRUSTM_LK_SEND_RESYNC);
    }
    lk->rx_nr = fr->frnr;
    if (lk->st == TRUSTM_LK_WAIT_ACK) {
        lk->st = TRUSTM_LK_WAIT_DATA;
        return TRUSTM_LK_ACKED | TRUSTM_LK_DATA | TRUSTM_LK_SEND_ACK;
    }
    return TRUSTM_LK_DATA | TRUSTM_LK_SEND_ACK;
}
