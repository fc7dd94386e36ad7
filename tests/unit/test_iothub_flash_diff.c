/* Differential test of the flash log's scan cursors: random operation
 * sequences (put, del, next, get, seq_end, reopen, a port that reports an
 * error for a write it did, power cuts at a program or erase) on two
 * contexts over two copies of the same simulated flash, one the log as
 * shipped, one built without cursors (test_iothub_flash_ref.c). Every
 * answer, every output and the flash contents must be identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iothub/storage_flash.h"
#include "test_iothub_flash_sim.h"

tma_status ref_flash_storage_open(struct iothub_flash_storage *fs, const struct iothub_flash *flash,
                                  struct iothub_storage *out_storage);

/* Built with IOTHUB_FLASH_FEW (iothub_flash_diff_c1, _c2): the side with
 * cursors is the log built with IOTHUB_FLASH_CURSORS 1 or 2, below the
 * sector counts of the geometries (test_iothub_flash_few.c). */
#ifdef IOTHUB_FLASH_FEW
tma_status few_flash_storage_open(struct iothub_flash_storage *fs, const struct iothub_flash *flash,
                                  struct iothub_storage *out_storage);
#define CURSOR_OPEN few_flash_storage_open
#else
#define CURSOR_OPEN iothub_flash_storage_open
#endif


struct side {
    struct nor_sim n;
    struct iothub_flash_storage fs;
    struct iothub_storage st;
    int cursors;
};

static tma_status side_open(struct side *d)
{
    struct iothub_flash f = nor_flash(&d->n);
    return d->cursors ? CURSOR_OPEN(&d->fs, &f, &d->st)
                      : ref_flash_storage_open(&d->fs, &f, &d->st);
}

static void same_flash(const struct side *a, const struct side *b, uint32_t step)
{
    size_t total = (size_t)a->n.sector_size * a->n.sector_count;
    if (memcmp(a->n.mem, b->n.mem, total) != 0 || a->n.ops != b->n.ops) {
        fail_msg("step %u: the flash differs", (unsigned)step);
    }
}

#define CHECK_EQ(x, y, what)                                                                          \
    do {                                                                                              \
        if ((int64_t)(x) != (int64_t)(y)) {                                                           \
            fail_msg("seed %u step %u %s: cursors %lld, reference %lld", (unsigned)seed, (unsigned)i, \
                     what, (long long)(x), (long long)(y));                                           \
        }                                                                                             \
    } while (0)

/* A seq to ask for: in [0, end + 1] (end + 1 wraps to 0 at UINT32_MAX), mostly
 * among the last 64 below end when the log started high (base > 0). */
static uint32_t pick(uint32_t *r, uint32_t end, uint32_t base)
{
    if (base != 0u && xorshift32(r) % 4u != 0u) {
        uint32_t back = xorshift32(r) % 64u;
        return end > back ? end - back : 0u;
    }
    return (uint32_t)((uint64_t)xorshift32(r) % ((uint64_t)end + 2u));
}

/* One random sequence; the first put is of seq @p base (near UINT32_MAX:
 * the seqs run into the top of their range, where put refuses UINT32_MAX). */
static uint32_t run(uint32_t ssize, uint32_t scount, uint32_t unit, uint32_t seed, uint32_t steps, uint32_t base)
{
    struct side a, b;
    uint32_t r = seed * 2654435761u + 7u, i;
    uint8_t p[300], ba[400], bb[400];
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    assert_int_equal(nor_init(&a.n, ssize, scount, unit), 0);
    assert_int_equal(nor_init(&b.n, ssize, scount, unit), 0);
    a.cursors = 1;
    assert_int_equal(side_open(&a), TMA_OK);
    assert_int_equal(side_open(&b), TMA_OK);
    for (i = 0; i < steps; i++) {
        uint32_t op = xorshift32(&r) % 100u, end = a.st.seq_end(a.st.ctx), x, oa = 0, ob = 0;
        size_t la = 0, lb = 0;
        tma_status ra, rb;
        CHECK_EQ(end, b.st.seq_end(b.st.ctx), "seq_end");
        if (op < 35) { /* put the next seq (sometimes a gap, sometimes an old one) */
            struct tma_span s;
            uint32_t seq = end + (xorshift32(&r) % 8u == 0u ? xorshift32(&r) % 3u : 0u); /* may wrap near the top */
            if (xorshift32(&r) % 20u == 0u && end > 0u) {
                seq = xorshift32(&r) % end;
            }
            if (end == 0u && base != 0u) {
                seq = base;
            }
            s.len = xorshift32(&r) % (ssize / 3u < sizeof p ? ssize / 3u : sizeof p);
            memset(p, (int)(seq & 0xFFu), s.len);
            s.ptr = p;
            if (xorshift32(&r) % 10u == 0u) { /* an op later reports an error although done */
                a.n.lie_at = b.n.lie_at = a.n.ops + xorshift32(&r) % 4u;
            }
            ra = a.st.put(a.st.ctx, seq, &s, 1);
            rb = b.st.put(b.st.ctx, seq, &s, 1);
            a.n.lie_at = b.n.lie_at = NOR_NO_CUT;
            CHECK_EQ(ra, rb, "put");
        } else if (op < 55) { /* delete: mostly the oldest, as the outbox does */
            x = 0;
            if (xorshift32(&r) % 4u != 0u) {
                (void)b.st.next(b.st.ctx, 0, &x);
                (void)a.st.next(a.st.ctx, 0, &x);
            } else {
                x = pick(&r, end, base);
            }
            ra = a.st.del(a.st.ctx, x);
            rb = b.st.del(b.st.ctx, x);
            CHECK_EQ(ra, rb, "del");
        } else if (op < 75) { /* next, ascending from a random start */
            uint32_t from = pick(&r, end, base), n = 0;
            do {
                ra = a.st.next(a.st.ctx, from, &oa);
                rb = b.st.next(b.st.ctx, from, &ob);
                CHECK_EQ(ra, rb, "next");
                if (ra == TMA_OK) {
                    CHECK_EQ(oa, ob, "next seq");
                    if (xorshift32(&r) % 3u == 0u) {
                        ra = a.st.get(a.st.ctx, oa, ba, sizeof ba, &la);
                        rb = b.st.get(b.st.ctx, ob, bb, sizeof bb, &lb);
                        CHECK_EQ(ra, rb, "get after next");
                    }
                    from = oa + 1u;
                }
            } while (ra == TMA_OK && oa != UINT32_MAX && ++n < 64u && xorshift32(&r) % 8u != 0u);
        } else if (op < 88) { /* get */
            x = pick(&r, end, base);
            ra = a.st.get(a.st.ctx, x, ba, sizeof ba, &la);
            rb = b.st.get(b.st.ctx, x, bb, sizeof bb, &lb);
            CHECK_EQ(ra, rb, "get");
            CHECK_EQ(la, lb, "get length");
            if (ra == TMA_OK && memcmp(ba, bb, la) != 0) {
                fail_msg("seed %u step %u: get bytes differ", (unsigned)seed, (unsigned)i);
            }
        } else if (op < 93) { /* reopen */
            ra = side_open(&a);
            rb = side_open(&b);
            CHECK_EQ(ra, rb, "reopen");
        } else if (op < 97) { /* the next read call fails */
            a.n.read_fail_at = a.n.read_ops;
            b.n.read_fail_at = b.n.read_ops;
            ra = a.st.next(a.st.ctx, 0, &oa);
            rb = b.st.next(b.st.ctx, 0, &ob);
            a.n.read_fail_at = b.n.read_fail_at = NOR_NO_CUT;
            /* the cursors read less, so the failing read may fall
             * elsewhere or after the answer: only a success must agree;
             * the later steps check that both re-read states agree */
            if (ra == TMA_OK && rb == TMA_OK) {
                CHECK_EQ(oa, ob, "next seq with a read error");
            }
        } else { /* power cut at a program/erase of a put, then restart */
            struct tma_span s;
            uint32_t k = xorshift32(&r) % 6u, cs = xorshift32(&r);
            s.len = xorshift32(&r) % 100u;
            memset(p, 0x5A, s.len);
            s.ptr = p;
            nor_cut_after(&a.n, k, cs);
            nor_cut_after(&b.n, k, cs);
            ra = a.st.put(a.st.ctx, end, &s, 1);
            rb = b.st.put(b.st.ctx, end, &s, 1);
            CHECK_EQ(ra, rb, "put with a cut");
            nor_power_on(&a.n);
            nor_power_on(&b.n);
            ra = side_open(&a);
            rb = side_open(&b);
            CHECK_EQ(ra, rb, "open after a cut");
        }
        same_flash(&a, &b, i);
    }
    assert_int_equal(a.n.v, 0u);
    i = a.st.seq_end(a.st.ctx);
    nor_free(&a.n);
    nor_free(&b.n);
    return i;
}

static const uint32_t g[][3] = {
    {256, 3, 4}, {512, 4, 16}, {128, 20, 1}, {1024, 6, 8}, {256, 18, 32}, {2048, 8, 2},
};

#ifdef IOTHUB_FLASH_FEW
#define SEEDS 12u /* two builds of this variant run: keep each short */
#else
#define SEEDS 25u
#endif

/* IOTHUB_FLASH_DIFF_SEEDS: more seeds for a longer run by hand. */
static uint32_t seeds(void)
{
    const char *e = getenv("IOTHUB_FLASH_DIFF_SEEDS");
    long v = e != NULL ? strtol(e, NULL, 10) : 0;
    return v > 0 && v < 1000000 ? (uint32_t)v : SEEDS;
}

static void test_flash_cursors_match_reference(void **state)
{
    uint32_t gi, seed, n = seeds();
    (void)state;
    for (gi = 0; gi < sizeof g / sizeof g[0]; gi++) {
        for (seed = 1; seed <= n; seed++) {
            (void)run(g[gi][0], g[gi][1], g[gi][2], seed + 100u * gi, 600, 0);
        }
    }
}

/* The seqs run into the top of their range: cursor bounds and the end
 * marker (UINT32_MAX) meet real seqs, from + 1 and end + 1 wrap. */
static void test_flash_cursors_match_reference_near_seq_max(void **state)
{
    uint32_t gi, seed, top = 0;
    (void)state;
    for (gi = 0; gi < sizeof g / sizeof g[0]; gi++) {
        for (seed = 1; seed <= SEEDS / 3u; seed++) {
            uint32_t e = run(g[gi][0], g[gi][1], g[gi][2], seed + 100u * gi + 7000u, 600, UINT32_MAX - 110u);
            top += e == UINT32_MAX;
        }
    }
    print_message("near the top: %u of %u runs reached seq_end UINT32_MAX\n", (unsigned)top,
                  (unsigned)(SEEDS / 3u * (sizeof g / sizeof g[0])));
    assert_true(top > 0u); /* else the test does not reach what it is for */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flash_cursors_match_reference),
        cmocka_unit_test(test_flash_cursors_match_reference_near_seq_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
