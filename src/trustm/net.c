/* Network layer: packet control byte and chaining (spec section 3). Pure. */
#include "stack.h"

tma_status trustm_net_rx_step(struct trustm_net_rx *rx, const uint8_t *pkt, size_t plen,
                              size_t max_pkt)
{
    uint8_t c;

    if (plen == 0 || plen > max_pkt || rx->st == TRUSTM_NET_DONE) {
        return TRUSTM_ST(NET, MALFORMED);
    }
    if (pkt[0] & 0xF0u) {
        return TRUSTM_ST(NET, MALFORMED); /* only channel 0 exists */
    }
    c = (uint8_t)(pkt[0] & 7u);
    if (c == TRUSTM_CHAIN_ERROR) {
        return plen == 1 ? TMA_ERR(TMA_LAYER_NET, TRUSTM_E_CHAIN) : TRUSTM_ST(NET, MALFORMED);
    }
    if (plen < 2) {
        return TRUSTM_ST(NET, MALFORMED);
    }
    if (rx->st == TRUSTM_NET_FIRST) {
        rx->prl = (uint8_t)(pkt[0] & TRUSTM_PCTR_PRL);
        if (c == TRUSTM_CHAIN_SINGLE) {
            rx->st = TRUSTM_NET_DONE;
        } else if (c == TRUSTM_CHAIN_FIRST && plen == max_pkt) {
            rx->st = TRUSTM_NET_CHAIN;
        } else {
            return TRUSTM_ST(NET, MALFORMED);
        }
    } else if (c == TRUSTM_CHAIN_LAST) {
        rx->st = TRUSTM_NET_DONE;
    } else if (c != TRUSTM_CHAIN_MID || plen != max_pkt) {
        return TRUSTM_ST(NET, MALFORMED);
    }
    rx->npkt++;
    return TMA_OK;
}
