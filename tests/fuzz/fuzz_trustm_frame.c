/* Fuzz: data-link frame decoder and acknowledgement state machine. Input:
 * byte 0 = initial state/counters, then frames each preceded by a length
 * byte (0 = timer expiry). */
#include <stddef.h>
#include <stdint.h>

#include "stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trustm_lk lk;
    struct trustm_frame fr;
    if (size < 1) {
        return 0;
    }
    lk.st = (uint8_t)(data[0] % 3u);
    lk.tx_nr = (uint8_t)((data[0] >> 2) & 3u);
    lk.rx_nr = (uint8_t)((data[0] >> 4) & 3u);
    data++;
    size--;
    /* the whole input as one frame */
    if (trustm_frame_decode(data, size, &fr) == TMA_OK) {
        if (fr.kind == TRUSTM_FR_DATA && (fr.plen == 0 || fr.pkt + fr.plen > data + size)) {
            __builtin_trap();
        }
    }
    while (size) {
        size_t n = data[0];
        unsigned a;
        data++;
        size--;
        if (n > size) {
            n = size;
        }
        a = trustm_link_step(&lk, data, n, &fr);
        if ((a & TRUSTM_LK_DATA) && (fr.kind != TRUSTM_FR_DATA || fr.plen + 5u != n)) {
            __builtin_trap();
        }
        if (lk.tx_nr > 3 || lk.rx_nr > 3) {
            __builtin_trap();
        }
        data += n;
        size -= n;
    }
    return 0;
}
