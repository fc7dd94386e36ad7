/**
 * @file transceive.h
 * @brief Contract between libtrustm's command layer and its protocol stack.
 *
 * The command layer (src/trustm/cmd_*.c) builds a command APDU as a list of
 * segments: a small header it formats itself, and the caller's data spans
 * appended verbatim (so a 1,728-byte certificate is never copied into a
 * context buffer). The stack (physical, data link, network and presentation
 * layers) sends the concatenation as one APDU, chained and protected as
 * needed, and delivers the response APDU: its 4-byte header parsed into
 * struct trustm_rsp and its OutData written into the caller's buffer.
 */
#ifndef TRUSTM_TRANSCEIVE_H
#define TRUSTM_TRANSCEIVE_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h" /* struct tma_span */

#ifdef __cplusplus
extern "C" {
#endif

struct trustm; /* defined in trustm/trustm.h */

/** Protection of one exchange over the shielded connection (SCTR bits 1:0). */
enum trustm_protect {
    TRUSTM_PROTECT_NONE = 0x00,
    TRUSTM_PROTECT_CMD = 0x01,
    TRUSTM_PROTECT_RSP = 0x02,
    TRUSTM_PROTECT_BOTH = 0x03,
    /** Or-ed in: force a new handshake before this exchange. */
    TRUSTM_PROTECT_REHANDSHAKE = 0x80
};

/** Header of a response APDU. */
struct trustm_rsp {
    uint8_t sta;      /**< 0x00 success, 0xFF error (details in 0xF1C2) */
    uint8_t undef;    /**< as received */
    uint16_t out_len; /**< OutLen from the header */
};

/** Maximum number of command segments. */
#define TRUSTM_MAX_SEGMENTS 4

/**
 * @brief Send one command APDU and receive its response APDU.
 *
 * @param t        initialised context
 * @param protect  enum trustm_protect value
 * @param seg      command APDU as nseg segments (concatenated in order)
 * @param nseg     1..TRUSTM_MAX_SEGMENTS
 * @param out      buffer for OutData (may be NULL when out_cap is 0)
 * @param out_cap  size of out
 * @param out_rsp  response header
 *
 * On return, @p out holds OutData only for a success answer (Sta 0x00):
 * an error answer's OutData is drained, never written (out_rsp->out_len
 * still says how long it was). Bytes of @p out past out_rsp->out_len may
 * be zero (an answer the chip restarted, a record that failed its check,
 * are wiped) but never hold data of another answer; nothing is written
 * past @p out_cap.
 *
 * @return TMA_OK when a response APDU arrived (whatever its Sta);
 *         TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL) when OutLen > out_cap (the
 *         response is drained; out_rsp->out_len says how much was needed);
 *         bus/link/net/shield errors as documented in trustm/trustm.h.
 *         When an error ends an exchange before the whole answer was
 *         received (a bus error, a timeout, a broken chain), the next
 *         exchange starts with a RESYNC, so a late answer to this command
 *         is never taken for the next one's.
 */
tma_status trustm_transceive(struct trustm *t, uint8_t protect, const struct tma_span *seg,
                             size_t nseg, uint8_t *out, size_t out_cap,
                             struct trustm_rsp *out_rsp);

#ifdef __cplusplus
}
#endif

#endif /* TRUSTM_TRANSCEIVE_H */
