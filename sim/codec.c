/* Pure data-link codecs of the simulator: CRC-16 (spec 2.3) and frames (2.1, 2.2). */
#include "sim_int.h"

uint16_t sim_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0x0000;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        for (int bit = 0; bit < 8; bit++) {
            if ((crc ^ b) & 1u) {
                crc = (uint16_t)((crc >> 1) ^ 0x8408u);
            } else {
                crc = (uint16_t)(crc >> 1);
            }
            b = (uint8_t)(b >> 1);
        }
    }
    return crc;
}

size_t sim_frame_encode(uint8_t fctr, const uint8_t *pkt, size_t pkt_len, uint8_t *out, size_t cap)
{
    if (pkt_len > 0xFFFFu || cap < pkt_len + SIM_DL_OVERHEAD || (pkt_len && !pkt)) {
        return 0;
    }
    out[0] = fctr;
    out[1] = (uint8_t)(pkt_len >> 8);
    out[2] = (uint8_t)pkt_len;
    for (size_t i = 0; i < pkt_len; i++) {
        out[3 + i] = pkt[i];
    }
    uint16_t crc = sim_crc16(out, pkt_len + 3);
    out[3 + pkt_len] = (uint8_t)(crc >> 8); /* high byte first (spec 2.3) */
    out[4 + pkt_len] = (uint8_t)crc;
    return pkt_len + SIM_DL_OVERHEAD;
}

enum sim_ferr sim_frame_decode(const uint8_t *p, size_t n, struct sim_frame *out)
{
    if (!p || n < SIM_DL_OVERHEAD) {
        return SIM_FE_SHORT;
    }
    size_t len = ((size_t)p[1] << 8) | p[2];
    if (len + SIM_DL_OVERHEAD != n) {
        return SIM_FE_LEN;
    }
    uint16_t crc = sim_crc16(p, n - 2);
    if (p[n - 2] != (uint8_t)(crc >> 8) || p[n - 1] != (uint8_t)crc) {
        return SIM_FE_CRC;
    }
    uint8_t f = p[0];
    uint8_t seqctr = (uint8_t)((f >> 5) & 3u);
    out->fctr = f;
    out->frnr = (uint8_t)((f >> 2) & 3u);
    out->acknr = (uint8_t)(f & 3u);
    out->pkt = p + 3;
    out->pkt_len = len;
    out->data_nak = false;
    if (f & 0x10u || seqctr == 3u) {
        return SIM_FE_FCTR;
    }
    if (f & 0x80u) {
        if (out->frnr != 0) {
            return SIM_FE_FCTR;
        }
        if (len != 0) {
            return SIM_FE_CTRL_SIZE;
        }
        if (seqctr == 2u) {
            if (out->acknr != 0) {
                return SIM_FE_FCTR;
            }
            out->kind = SIM_F_RESYNC;
        } else {
            out->kind = seqctr == 0 ? SIM_F_ACK : SIM_F_NAK;
        }
        return SIM_FE_OK;
    }
    if (seqctr == 2u) {
        return SIM_FE_FCTR; /* RESYNC only in control frames */
    }
    if (len == 0) {
        return SIM_FE_EMPTY;
    }
    out->kind = SIM_F_DATA;
    out->data_nak = seqctr == 1u;
    return SIM_FE_OK;
}
