/*
 * Network (transport) layer, chip side (spec 3): PCTR, chaining both ways.
 * Every packet but the last of a chain is exactly MAX_PACKET_SIZE bytes
 * (DATA_REG_LEN - 5); errors are answered with the 1-byte packet 0x07.
 */
#include <string.h>

#include "sim_int.h"

#define CHAIN_SINGLE 0x0u
#define CHAIN_FIRST 0x1u
#define CHAIN_MIDDLE 0x2u
#define CHAIN_LAST 0x4u
#define CHAIN_ERROR 0x7u

void sim_net_reset(struct sim_net *n)
{
    n->rx_len = 0;
    n->rx_open = false;
    n->rx_presence = false;
    n->tx_len = 0;
    n->tx_off = 0;
    n->tx_active = false;
}

static enum sim_net_ev chain_error(struct sim_net *n)
{
    n->rx_open = false;
    n->rx_len = 0;
    return SIM_NE_CHAIN_ERROR;
}

static bool append(struct sim_net *n, const uint8_t *p, size_t len)
{
    if (len > sizeof(n->rx) - n->rx_len) {
        return false;
    }
    memcpy(n->rx + n->rx_len, p, len);
    n->rx_len += len;
    return true;
}

enum sim_net_ev sim_net_rx(struct sim_net *n, const uint8_t *pkt, size_t len, size_t max_pkt)
{
    if (len == 0) {
        return chain_error(n);
    }
    uint8_t pctr = pkt[0];
    uint8_t chain = pctr & 0x07u;
    if (chain == CHAIN_ERROR && len == 1 && (pctr & 0xF8u) == 0) {
        /* the host rejects our chained response: drop it and its reassembly */
        n->tx_active = false;
        n->rx_open = false;
        n->rx_len = 0;
        return SIM_NE_HOST_ABORT;
    }
    if ((pctr & 0xF0u) != 0) {
        return chain_error(n); /* channel != 0: Trust M has one channel */
    }
    bool presence = (pctr & 0x08u) != 0;
    switch (chain) {
    case CHAIN_SINGLE:
        if (n->rx_open || len < 2) {
            return chain_error(n);
        }
        n->rx_len = 0;
        n->rx_presence = presence;
        if (!append(n, pkt + 1, len - 1)) {
            return chain_error(n);
        }
        return SIM_NE_MESSAGE;
    case CHAIN_FIRST:
        if (n->rx_open || len != max_pkt) {
            return chain_error(n);
        }
        n->rx_len = 0;
        n->rx_open = true;
        n->rx_presence = presence; /* only the first packet's bit counts */
        if (!append(n, pkt + 1, len - 1)) {
            return chain_error(n);
        }
        return SIM_NE_MORE;
    case CHAIN_MIDDLE:
        if (!n->rx_open || len != max_pkt || !append(n, pkt + 1, len - 1)) {
            return chain_error(n);
        }
        return SIM_NE_MORE;
    case CHAIN_LAST:
        if (!n->rx_open || len < 2 || !append(n, pkt + 1, len - 1)) {
            return chain_error(n);
        }
        n->rx_open = false;
        return SIM_NE_MESSAGE;
    default:
        return chain_error(n);
    }
}

void sim_net_tx_start(struct sim_net *n, const uint8_t *msg, size_t len, bool presence)
{
    if (len > sizeof(n->tx)) {
        len = sizeof(n->tx);
    }
    memcpy(n->tx, msg, len);
    n->tx_len = len;
    n->tx_off = 0;
    n->tx_presence = presence;
    n->tx_active = true;
}

bool sim_net_tx_next(struct sim_net *n, size_t max_pkt, uint8_t *out, size_t cap, size_t *out_len)
{
    if (!n->tx_active || max_pkt < 2 || cap < max_pkt) {
        return false;
    }
    size_t left = n->tx_len - n->tx_off;
    size_t room = max_pkt - 1u;
    uint8_t chain;
    size_t take;
    if (n->tx_off == 0 && left <= room) {
        chain = CHAIN_SINGLE;
        take = left;
    } else if (n->tx_off == 0) {
        chain = CHAIN_FIRST;
        take = room;
    } else if (left > room) {
        chain = CHAIN_MIDDLE;
        take = room;
    } else {
        chain = CHAIN_LAST;
        take = left;
    }
    out[0] = (uint8_t)((n->tx_presence ? 0x08u : 0x00u) | chain);
    memcpy(out + 1, n->tx + n->tx_off, take);
    n->tx_off += take;
    *out_len = take + 1u;
    if (n->tx_off >= n->tx_len) {
        n->tx_active = false;
    }
    return true;
}
