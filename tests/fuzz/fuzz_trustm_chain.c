/* Fuzz: chained-response reassembly (network layer) feeding the plain and
 * PRL record decoders into a caller buffer. Input: byte 0 = mode and output
 * capacity selector, then packets each preceded by a 2-byte length. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[TRUSTM_APDU_MAX];
    struct trustm_net_rx nr;
    struct trustm_rec_rx r;
    struct trustm_rsp rsp;
    size_t caps[4] = {0, 16, 1553, TRUSTM_APDU_MAX};
    tma_status st = TMA_OK;
    if (size < 1) {
        return 0;
    }
    uint8_t mode = (uint8_t)(data[0] & 1u); /* PLAIN or PRL */
    size_t cap = caps[(data[0] >> 1) & 3u];
    size_t maxp = 16u + (size_t)((data[0] >> 3) & 0x1Fu) * 8u; /* 16..264 */
    if ((data[0] & 0x80u) == 0) {
        maxp = 272;
    }
    data++;
    size--;
    memset(&nr, 0, sizeof nr);
    trustm_rec_rx_init(&r, mode ? TRUSTM_REC_PRL : TRUSTM_REC_PLAIN, 0x20, out, cap);
    if (mode) {
        trustm_rec_rx_ext(&r); /* the SCTR decoder (shield.c) */
    }
    while (size >= 2 && st == TMA_OK) {
        size_t n = (size_t)(data[0] << 8 | data[1]);
        data += 2;
        size -= 2;
        if (n > size) {
            n = size;
        }
        st = trustm_net_rx_step(&nr, data, n, maxp);
        if (st == TMA_OK) {
            st = trustm_rec_rx_feed(&r, data + 1, n - 1);
            if (nr.st == TRUSTM_NET_DONE) {
                tma_status f = trustm_rec_rx_finish(&r, &rsp);
                if (f == TMA_OK && (rsp.out_len > cap || r.pos != mode + 4u + rsp.out_len)) {
                    __builtin_trap();
                }
                break;
            }
        }
        data += n;
        size -= n;
    }
    return 0;
}
