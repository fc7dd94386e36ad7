/* Records, a model of what a flash log must hold, and a put/delete
 * workload for the port tests' flash logs (test code; include after
 * cmocka.h). Uses only the storage calls (iothub/storage.h). */
#ifndef TMA_TEST_FLASH_WORKLOAD_H
#define TMA_TEST_FLASH_WORKLOAD_H

#include <stdint.h>
#include <string.h>

#include "iothub/storage.h"

#define MAXSEQ 2048u

/* What the log must hold: per seq, 0 never put, 1 put in flight when the
 * power went, 2 committed, 3 deleted (may come back), 4 delete in flight. */
struct model {
    uint8_t st[MAXSEQ];
};

static size_t rec_len(uint32_t seq)
{
    return 1u + (seq * 2654435761u >> 7) % 700u;
}

static void rec_fill(uint32_t seq, uint8_t *buf, size_t len)
{
    uint32_t x = seq * 0x9E3779B9u + 1u;
    size_t i;
    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}

static tma_status wl_put(const struct iothub_storage *st, uint32_t seq)
{
    static uint8_t buf[1024];
    struct tma_span parts[2];
    size_t len = rec_len(seq), cut = len / 3;
    rec_fill(seq, buf, len);
    parts[0].ptr = buf; /* a gather write, as the outbox does (topic + payload) */
    parts[0].len = cut;
    parts[1].ptr = buf + cut;
    parts[1].len = len - cut;
    return st->put(st->ctx, seq, parts, 2);
}

/* Every record the log holds is one that was put, with its content; every
 * committed and not deleted record is there; in seq order. */
static void wl_check(const struct iothub_storage *st, const struct model *m, const char *when)
{
    static uint8_t buf[1024], want[1024];
    uint32_t seq = 0, s;
    size_t len;
    uint8_t seen[MAXSEQ];
    memset(seen, 0, sizeof seen);
    while (st->next(st->ctx, seq, &s) == TMA_OK) {
        if (s < seq || s >= MAXSEQ || m->st[s] == 0) {
            fail_msg("%s: the log holds seq %u, never put (from %u)", when, (unsigned)s, (unsigned)seq);
        }
        assert_int_equal(st->get(st->ctx, s, buf, sizeof buf, &len), TMA_OK);
        rec_fill(s, want, rec_len(s));
        if (len != rec_len(s) || memcmp(buf, want, len) != 0) {
            fail_msg("%s: seq %u comes back with other content (%zu bytes, put %zu)", when, (unsigned)s, len,
                     rec_len(s));
        }
        seen[s] = 1;
        seq = s + 1u;
    }
    for (s = 0; s < MAXSEQ; s++) {
        if (m->st[s] == 2 && !seen[s]) {
            fail_msg("%s: committed seq %u is lost", when, (unsigned)s);
        }
    }
}

/* The workload of the power-cut tests (3 sectors of 4 KB): puts of up to
 * 700 bytes and deletes keeping 4 live, so sectors fill, get reclaimed and
 * erased. Stops at the first failure (the power went); *next_seq: a seq
 * above every one it used. */
static void wl_run(const struct iothub_storage *st, struct model *m, uint32_t *next_seq)
{
    uint32_t seq, oldest = 1;
    for (seq = 1; seq <= 40; seq++) {
        m->st[seq] = 1;
        if (wl_put(st, seq) != TMA_OK) {
            *next_seq = seq + 1u;
            return;
        }
        m->st[seq] = 2;
        while (seq - oldest >= 4u) {
            m->st[oldest] = 4;
            if (st->del(st->ctx, oldest) != TMA_OK) {
                *next_seq = seq + 1u;
                return;
            }
            m->st[oldest++] = 3;
        }
    }
    *next_seq = seq;
}

#endif
