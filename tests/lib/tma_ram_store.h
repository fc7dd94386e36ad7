/* Outbox storage in RAM for the IoT Hub client tests: the iothub_storage
 * callbacks over a table of records. Header only; include <cmocka.h> first
 * (a record longer than the store's record size fails the test). */
#ifndef TMA_RAM_STORE_H
#define TMA_RAM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iothub/storage.h"

#define TMA_RAM_STORE_MAX 256u     /* records at most */
#define TMA_RAM_STORE_RECORD 512u  /* bytes per record at most */

struct tma_ram_store {
    uint8_t data[TMA_RAM_STORE_MAX][TMA_RAM_STORE_RECORD];
    size_t len[TMA_RAM_STORE_MAX];
    bool live[TMA_RAM_STORE_MAX];
    uint32_t end;
    uint32_t records;      /* seq limit: a put at or beyond it is TMA_C_FULL */
    size_t record_cap;     /* longest record a put may bring */
    uint32_t get_fail_seq; /* one get of this seq fails with TMA_C_IO (UINT32_MAX: none) */
};

static inline tma_status tma_ram_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t n)
{
    struct tma_ram_store *rs = ctx;
    size_t i, off = 0;
    if (seq >= rs->records) return TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL);
    for (i = 0; i < n; i++) {
        assert_true(off + parts[i].len <= rs->record_cap);
        memcpy(rs->data[seq] + off, parts[i].ptr, parts[i].len);
        off += parts[i].len;
    }
    rs->len[seq] = off;
    rs->live[seq] = true;
    rs->end = seq + 1;
    return TMA_OK;
}

static inline tma_status tma_ram_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct tma_ram_store *rs = ctx;
    if (seq == rs->get_fail_seq) {
        rs->get_fail_seq = UINT32_MAX;
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    if (seq >= rs->records || !rs->live[seq]) return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    *out_len = rs->len[seq];
    if (rs->len[seq] > cap) return TMA_ERR(TMA_LAYER_STORE, TMA_C_TOO_SMALL);
    memcpy(buf, rs->data[seq], rs->len[seq]);
    return TMA_OK;
}

static inline tma_status tma_ram_del(void *ctx, uint32_t seq)
{
    struct tma_ram_store *rs = ctx;
    if (seq >= rs->records || !rs->live[seq]) return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    rs->live[seq] = false;
    return TMA_OK;
}

static inline tma_status tma_ram_next(void *ctx, uint32_t from, uint32_t *out)
{
    struct tma_ram_store *rs = ctx;
    uint32_t i;
    for (i = from; i < rs->records; i++) {
        if (rs->live[i]) {
            *out = i;
            return TMA_OK;
        }
    }
    return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
}

static inline uint32_t tma_ram_end(void *ctx)
{
    return ((struct tma_ram_store *)ctx)->end;
}

/* Empties @p rs, which then holds @p records records (<= TMA_RAM_STORE_MAX)
 * of up to @p record_cap bytes (<= TMA_RAM_STORE_RECORD), and returns the
 * storage callbacks over it. */
static inline struct iothub_storage tma_ram_store_init(struct tma_ram_store *rs, uint32_t records, size_t record_cap)
{
    struct iothub_storage st = {rs, tma_ram_put, tma_ram_get, tma_ram_del, tma_ram_next, tma_ram_end, NULL};
    assert_true(records <= TMA_RAM_STORE_MAX && record_cap <= TMA_RAM_STORE_RECORD);
    memset(rs, 0, sizeof(*rs));
    rs->records = records;
    rs->record_cap = record_cap;
    rs->get_fail_seq = UINT32_MAX;
    return st;
}

#endif
