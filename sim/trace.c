/* Decoder for the trace: one frame -> "DL ... | NET ... | PRL ... | APDU ...". */
#include <stdio.h>
#include <string.h>

#include "sim_int.h"

static const char *chain_name(uint8_t c)
{
    switch (c) {
    case 0: return "single";
    case 1: return "first";
    case 2: return "middle";
    case 4: return "last";
    case 7: return "CHAIN-ERROR";
    default: return "invalid-chain";
    }
}

static const char *sctr_name(uint8_t s)
{
    switch (s) {
    case 0x00: return "Hello";
    case 0x08: return "Finished";
    case 0x20: return "record(plain)";
    case 0x21: return "record(cmd-protected)";
    case 0x22: return "record(rsp-protected)";
    case 0x23: return "record(protected)";
    case 0x40: return "alert(fatal)";
    case 0x44: return "alert(integrity)";
    case 0x60: return "ctx-save";
    case 0x64: return "ctx-saved";
    case 0x68: return "ctx-restore";
    case 0x6C: return "ctx-restored";
    default: return "sctr-invalid";
    }
}

const char *sim_cmd_name(uint8_t c);
const char *sim_cmd_name(uint8_t c)
{
    switch (c & 0x7Fu) {
    case 0x01: return "GetDataObject";
    case 0x02: return "SetDataObject";
    case 0x03: return "SetObjectProtected";
    case 0x0C: return "GetRandom";
    case 0x14: return "EncryptSym";
    case 0x15: return "DecryptSym";
    case 0x1E: return "EncryptAsym";
    case 0x1F: return "DecryptAsym";
    case 0x30: return "CalcHash";
    case 0x31: return "CalcSign";
    case 0x32: return "VerifySign";
    case 0x33: return "CalcSSec";
    case 0x34: return "DeriveKey";
    case 0x38: return "GenKeyPair";
    case 0x39: return "GenSymKey";
    case 0x70: return "OpenApplication";
    case 0x71: return "CloseApplication";
    default: return "unknown-cmd";
    }
}

void sim_trace_describe(const uint8_t *frame, size_t n, bool from_host, char *out, size_t cap)
{
    struct sim_frame f;
    int w;
    enum sim_ferr e = sim_frame_decode(frame, n, &f);
    out[0] = 0;
    if (e != SIM_FE_OK) {
        static const char *const why[] = {"ok", "short", "length-mismatch", "bad-crc", "bad-fctr",
                                          "empty-data-frame", "control-with-payload"};
        snprintf(out, cap, "DL invalid frame (%s)", why[e]);
        return;
    }
    switch (f.kind) {
    case SIM_F_ACK:
        snprintf(out, cap, "DL ctrl ACK %u", f.acknr);
        return;
    case SIM_F_NAK:
        snprintf(out, cap, "DL ctrl NAK %u", f.acknr);
        return;
    case SIM_F_RESYNC:
        snprintf(out, cap, "DL ctrl RESYNC");
        return;
    case SIM_F_DATA:
        break;
    }
    w = snprintf(out, cap, "DL data FRNR %u %s %u LEN %zu | NET PCTR %02X %s", f.frnr,
                 f.data_nak ? "NAK" : "ACK", f.acknr, f.pkt_len, f.pkt[0],
                 chain_name(f.pkt[0] & 7u));
    if (w < 0 || (size_t)w >= cap) {
        return;
    }
    size_t used = (size_t)w;
    uint8_t chain = f.pkt[0] & 7u;
    if (chain != 0 && chain != 1) {
        return; /* continuation packets carry no headers */
    }
    const uint8_t *p = f.pkt + 1;
    size_t len = f.pkt_len - 1;
    if ((f.pkt[0] & 0x08u) && len > 0) {
        w = snprintf(out + used, cap - used, " | PRL SCTR %02X %s", p[0], sctr_name(p[0]));
        if (w < 0 || (size_t)w >= cap - used) {
            return;
        }
        used += (size_t)w;
        if ((p[0] & 0xE0u) != 0x20u) {
            return;
        }
        bool prot = from_host ? (p[0] & 1u) : (p[0] & 2u);
        if (prot) {
            if (len >= 5) {
                snprintf(out + used, cap - used, " SEQ %02X%02X%02X%02X (encrypted)", p[1], p[2],
                         p[3], p[4]);
            }
            return;
        }
        p++;
        len--;
    }
    if (len >= 4) {
        unsigned l = ((unsigned)p[2] << 8) | p[3];
        if (from_host) {
            snprintf(out + used, cap - used, " | APDU %02X %s param %02X InLen %u", p[0],
                     sim_cmd_name(p[0]), p[1], l);
        } else {
            snprintf(out + used, cap - used, " | RSP Sta %02X OutLen %u", p[0], l);
        }
    }
}
