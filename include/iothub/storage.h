/**
 * @file storage.h
 * @brief Record-oriented persistent storage behind the telemetry outbox.
 *
 * A record is an opaque byte string named by a sequence number that the
 * outbox assigns in strictly increasing order. The interface is small enough
 * for a flash sector log (see docs/design/outbox.md) and for the file-backed
 * Linux implementation (iothub/storage_file.h).
 *
 * Contract every implementation keeps:
 *  - put() returns TMA_OK only once the record survives a crash (process kill
 *    or, if the implementation says so, power loss). A put interrupted by a
 *    crash leaves either the whole record or nothing.
 *  - del() makes the record disappear; after a crash a deleted record may
 *    come back (the outbox then sends it again: at-least-once), but a record
 *    that was never deleted never disappears.
 *  - Records come back in sequence order.
 *  - The outbox never stores seq UINT32_MAX (seq_end() could not count past
 *    it); a store may refuse it (TMA_C_BAD_PARAM) and treat a record of that
 *    seq found in storage as damage.
 * All functions return TMA_OK or a negative tma_status (layer STORE).
 */
#ifndef IOTHUB_STORAGE_H
#define IOTHUB_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Half the 32-bit number space: where the outbox renumbers (rebase(),
 *  iothub/outbox.h). */
#define IOTHUB_OUTBOX_REBASE_AT 0x80000000u

struct iothub_storage {
    void *ctx;
    /** Store record @p seq (greater than every seq stored before); the record
     *  is the concatenation of @p parts (gather write, so callers need no
     *  staging buffer). */
    tma_status (*put)(void *ctx, uint32_t seq, const struct tma_span *parts, size_t nparts);
    /** Read record @p seq. TMA_C_NOT_FOUND if absent; TMA_C_TOO_SMALL with
     *  *out_len = record size when @p cap is too small. */
    tma_status (*get)(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len);
    /** Delete record @p seq. TMA_C_NOT_FOUND if it is not stored. */
    tma_status (*del)(void *ctx, uint32_t seq);
    /** Smallest stored seq >= @p from into *out_seq; TMA_C_NOT_FOUND if none. */
    tma_status (*next)(void *ctx, uint32_t from, uint32_t *out_seq);
    /** One past the highest seq ever stored (0 for a fresh store; since
     *  the last rebase), so numbering continues after a restart even when
     *  every record was deleted. */
    uint32_t (*seq_end)(void *ctx);
    /** Optional (NULL: the store cannot; the outbox then refuses new
     *  messages once seq_end() reaches UINT32_MAX). The outbox calls it
     *  once its numbers passed IOTHUB_OUTBOX_REBASE_AT and every message it
     *  counts is numbered at least that (or it counts none): lower every
     *  number by IOTHUB_OUTBOX_REBASE_AT, so records keep their order and
     *  distance and seq_end() drops by the same (a store holding no record
     *  may answer 0 instead), also after a restart. Refuse with TMA_C_STATE,
     *  changing nothing, when a stored record is below
     *  IOTHUB_OUTBOX_REBASE_AT (one a failed delete left): this check is
     *  the store's. A store that cannot renumber stored records refuses
     *  whenever it holds one (the MCU flash log: at the rates flash wear
     *  allows the outbox is empty between messages, docs/design/outbox.md).
     *  A crash during the call leaves the old numbering or the new one,
     *  never a mix: a store that opens with seq_end() at most the old value
     *  (old numbering) or at most the old value minus
     *  IOTHUB_OUTBOX_REBASE_AT (new), every record it holds below it (a
     *  flash erase cut by power loss may bring deleted records back, as a
     *  cut delete may: sent again, at-least-once). On failure the store
     *  keeps working with the old numbers, seq_end() at most its old value.
     *  Last member, so positional initialisers written for the five calls
     *  above compile; code that sets the members one by one must set this
     *  one too (or zero the struct first). */
    tma_status (*rebase)(void *ctx);
};

#ifdef __cplusplus
}
#endif

#endif
