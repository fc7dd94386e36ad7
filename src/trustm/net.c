/* Network layer: packet control byte and chaining (spec section 3). Pure. */
#include "stack.h"

tma_status trustm_net_rx_step(struct trustm_net_rx *rx, const uint8_t *pkt, size_t plen,
                              size_t max_pkt)
{
    return trustm_net_rx(rx, pkt, plen, max_pkt);
}
