/* Network layer: packet control byte and chaining (spec section 3). Pure. */
#include "stack.h"

tma_status trustm_net_rx_step(struct trustm_net_rx *rx, const uint8_t *pkt, size_t plen,
                              size_t max_pkt)
{
    return trustm_net_rx(rx, pkt, plen, max_pkt);
}

/* (the data link's frame decoder, exported for the tests and the fuzzer;
 * here so that trustm_link_step() is its one caller in link.c) */
tma_status trustm_frame_decode(const uint8_t *buf, size_t n, struct trustm_frame *out)
{
    return trustm_frame_check(buf, n, out);
}
