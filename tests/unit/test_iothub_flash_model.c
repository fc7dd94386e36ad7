/* The flash log's answers against a model of what it must hold (review of
 * the scan cursors, brief FLASHREV): random sequences in the outbox's
 * pattern (an ascending send walk with next() and get() interleaved with
 * puts, deletes of the oldest and of random seqs, rewinds of the walk,
 * reopens, a failing read, a delete and a put the port reports failed
 * although they went through, retried as the outbox does) on the simulated
 * NOR flash. After every step next(), get() and del() must answer what the
 * model says: a record put and not deleted is found, once, with its bytes;
 * a deleted one is never found. Unlike iothub_flash_diff this catches a
 * fault the log shares with its build without cursors. Built as
 * iothub_flash_model (the shipped log) and iothub_flash_model_c1 (the log
 * remembering one sector, IOTHUB_FLASH_FEW). */
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

#ifdef IOTHUB_FLASH_FEW
tma_status few_flash_storage_open(struct iothub_flash_storage *fs, const struct iothub_flash *flash,
                                  struct iothub_storage *out_storage);
#define LOG_OPEN few_flash_storage_open
#else
#define LOG_OPEN iothub_flash_storage_open
#endif

#define SPAN 2048u /* seqs base .. base + SPAN - 1 */
#define NF TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND)
#define FULL TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL)
#define IO TMA_ERR(TMA_LAYER_STORE, TMA_C_IO)


struct model {
    uint32_t base;
    uint8_t live[SPAN];
    uint16_t len[SPAN];
};

static void fill(uint8_t *p, uint32_t seq, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        p[i] = (uint8_t)(seq * 31u + i * 7u + (uint32_t)len);
    }
}

/* The model's answer to next(from): 1 with *out, or 0. */
static int m_next(const struct model *m, uint32_t from, uint32_t *out)
{
    uint32_t k = from < m->base ? 0u : from - m->base;
    for (; k < SPAN; k++) {
        if (m->live[k]) {
            *out = m->base + k;
            return 1;
        }
    }
    return 0;
}

static int m_live(const struct model *m, uint32_t seq)
{
    return seq >= m->base && seq - m->base < SPAN && m->live[seq - m->base];
}

#define FAILF(...)                                                                   \
    do {                                                                             \
        char why_[200];                                                              \
        snprintf(why_, sizeof why_, __VA_ARGS__);                                    \
        fail_msg("seed %u step %u: %s", (unsigned)seed, (unsigned)step, why_);       \
    } while (0)

struct ctx {
    struct nor_sim n;
    struct iothub_flash_storage fs;
    struct iothub_storage st;
    struct model m;
    uint32_t seed, step;
};

static void check_get(struct ctx *c, uint32_t seq)
{
    uint8_t buf[400], want[400];
    size_t got = 0;
    uint32_t seed = c->seed, step = c->step;
    tma_status rc = c->st.get(c->st.ctx, seq, buf, sizeof buf, &got);
    if (!m_live(&c->m, seq)) {
        if (rc != NF) {
            FAILF("get(%u) of a record not held: %d", (unsigned)seq, (int)rc);
        }
        return;
    }
    if (rc != TMA_OK || got != c->m.len[seq - c->m.base]) {
        FAILF("get(%u): %d len %zu, held len %u", (unsigned)seq, (int)rc, got,
              (unsigned)c->m.len[seq - c->m.base]);
    }
    fill(want, seq, got);
    if (memcmp(buf, want, got) != 0) {
        FAILF("get(%u): other bytes (a wrong record)", (unsigned)seq);
    }
}

static void check_next(struct ctx *c, uint32_t from, uint32_t *out)
{
    uint32_t got = 0, want = 0, seed = c->seed, step = c->step;
    tma_status rc = c->st.next(c->st.ctx, from, &got);
    int have = m_next(&c->m, from, &want);
    if (have ? rc != TMA_OK || got != want : rc != NF) {
        FAILF("next(%u): %d seq %u, model %s %u", (unsigned)from, (int)rc, (unsigned)got,
              have ? "holds" : "holds nothing from there", (unsigned)want);
    }
    *out = have ? want : UINT32_MAX;
}

/* Put @p seq, retrying after an error as the outbox does; 1 stored, 0 FULL. */
static int put_rec(struct ctx *c, uint32_t seq, size_t len, int lie)
{
    uint8_t p[400];
    struct tma_span s;
    uint32_t seed = c->seed, step = c->step, tries;
    tma_status rc;
    fill(p, seq, len);
    s.ptr = p;
    s.len = len;
    if (lie) {
        c->n.lie_at = c->n.ops + xorshift32(&c->seed) % 5u; /* done, reported failed */
        seed = c->seed;
    }
    for (tries = 0;; tries++) {
        rc = c->st.put(c->st.ctx, seq, &s, 1);
        c->n.lie_at = NOR_NO_CUT;
        if (rc == TMA_OK) {
            c->m.live[seq - c->m.base] = 1;
            c->m.len[seq - c->m.base] = (uint16_t)len;
            return 1;
        }
        if (rc == FULL) {
            return 0;
        }
        if (rc != IO || tries > 0u) {
            FAILF("put(%u) len %zu: %d (try %u)", (unsigned)seq, len, (int)rc, (unsigned)tries);
        }
    }
}

/* @p base: the model's lowest seq; @p start: the first put's seq. */
static void run(uint32_t ssize, uint32_t scount, uint32_t unit, uint32_t seed, uint32_t steps, uint32_t base,
                uint32_t start)
{
    static struct ctx c;
    struct iothub_flash f;
    uint32_t r = seed * 2654435761u + 3u, step, walk = base, x;
    tma_status rc;
    memset(&c, 0, sizeof c);
    c.seed = seed ^ 0x5bd1e995u;
    c.m.base = base;
    assert_int_equal(nor_init(&c.n, ssize, scount, unit), 0);
    f = nor_flash(&c.n);
    assert_int_equal(LOG_OPEN(&c.fs, &f, &c.st), TMA_OK);
    for (step = 0; step < steps; step++) {
        uint32_t op = xorshift32(&r) % 100u, end = c.st.seq_end(c.st.ctx), want;
        c.step = step;
        if (end < start) {
            end = start;
        }
        if (op < 34 && end - base > SPAN - 3u) {
            op = 40; /* seqs exhausted (UINT32_MAX - 1 is the last a put takes) */
        }
        if (op < 34) { /* put the next seq, now and then after a gap */
            uint32_t seq = end + (xorshift32(&r) % 6u == 0u ? xorshift32(&r) % 3u : 0u);
            size_t len = xorshift32(&r) % (ssize / 3u < 300u ? ssize / 3u : 300u);
            int stored = put_rec(&c, seq, len, xorshift32(&r) % 12u == 0u);
            if (stored && xorshift32(&r) % 3u == 0u) { /* read back or drop at once */
                if (xorshift32(&r) % 2u == 0u) {
                    check_get(&c, seq);
                } else {
                    if (c.st.del(c.st.ctx, seq) != TMA_OK) {
                        FAILF("del(%u) right after its put", (unsigned)seq);
                    }
                    c.m.live[seq - base] = 0;
                }
            }
            if (!stored) {
                /* FULL: the outbox drops the oldest and goes on */
                if (m_next(&c.m, 0, &x)) {
                    rc = c.st.del(c.st.ctx, x);
                    if (rc != TMA_OK) {
                        FAILF("del(%u) of the oldest after FULL: %d", (unsigned)x, (int)rc);
                    }
                    c.m.live[x - base] = 0;
                }
            }
        } else if (op < 56) { /* the send walk: next step, get it, sometimes ack it */
            check_next(&c, walk, &want);
            if (want != UINT32_MAX) {
                check_get(&c, want);
                if (xorshift32(&r) % 3u == 0u) {
                    if (c.st.del(c.st.ctx, want) != TMA_OK) {
                        FAILF("del(%u) of the walk's record", (unsigned)want);
                    }
                    c.m.live[want - base] = 0;
                }
                walk = want + 1u;
            } else {
                walk = base; /* end reached: start over */
            }
        } else if (op < 64) { /* rewind the walk */
            walk = base + xorshift32(&r) % (end - base + 1u);
        } else if (op < 74) { /* delete the oldest (ack in order) */
            if (m_next(&c.m, 0, &x)) {
                rc = c.st.del(c.st.ctx, x);
                if (rc != TMA_OK) {
                    FAILF("del(%u) of the oldest: %d", (unsigned)x, (int)rc);
                }
                c.m.live[x - base] = 0;
            }
        } else if (op < 80) { /* delete any seq, held or not */
            x = base + xorshift32(&r) % (end - base + 2u);
            rc = c.st.del(c.st.ctx, x);
            if (rc != (m_live(&c.m, x) ? TMA_OK : NF)) {
                FAILF("del(%u): %d, model %s", (unsigned)x, (int)rc, m_live(&c.m, x) ? "holds it" : "does not");
            }
            if (m_live(&c.m, x)) {
                c.m.live[x - base] = 0;
            }
        } else if (op < 86) { /* a delete that went through, reported failed */
            if (m_next(&c.m, base + xorshift32(&r) % (end - base + 1u), &x)) {
                c.n.lie_at = c.n.ops;
                rc = c.st.del(c.st.ctx, x);
                c.n.lie_at = NOR_NO_CUT;
                if (rc != IO) {
                    FAILF("del(%u) with the port's error: %d", (unsigned)x, (int)rc);
                }
                c.m.live[x - base] = 0; /* it is gone all the same */
            }
        } else if (op < 92) { /* get any seq */
            check_get(&c, base + xorshift32(&r) % (end - base + 2u));
        } else if (op < 95) { /* a read fails during next(); the state is re-read */
            uint32_t got;
            c.n.read_fail_at = c.n.read_ops;
            rc = c.st.next(c.st.ctx, walk, &got);
            c.n.read_fail_at = NOR_NO_CUT;
            if (rc != IO && rc != TMA_OK && rc != NF) {
                FAILF("next with a failing read: %d", (int)rc);
            }
        } else { /* restart */
            f = nor_flash(&c.n);
            if (LOG_OPEN(&c.fs, &f, &c.st) != TMA_OK) {
                FAILF("reopen");
            }
        }
        /* now and then the whole content, ascending (its scans refresh
         * every cursor, so not after every step), and a seq_end above it;
         * else one seq near the end */
        if (xorshift32(&r) % 6u != 0u) {
            uint32_t e = c.st.seq_end(c.st.ctx);
            check_get(&c, e - xorshift32(&r) % 4u);
        } else {
            uint32_t from = base, n = 0;
            do {
                check_next(&c, from, &want);
                if (want == UINT32_MAX) {
                    break;
                }
                if (xorshift32(&r) % 4u == 0u) {
                    check_get(&c, want);
                }
                from = want + 1u;
            } while (++n < SPAN);
            if (m_next(&c.m, 0, &x) && c.st.seq_end(c.st.ctx) <= x) {
                FAILF("seq_end %u not above held seq %u", (unsigned)c.st.seq_end(c.st.ctx), (unsigned)x);
            }
        }
        if (c.n.v != 0u) {
            FAILF("flash rule broken: %s", c.n.why);
        }
    }
    nor_free(&c.n);
}

static const uint32_t geo[][3] = {
    {256, 3, 4}, {512, 4, 16}, {128, 20, 1}, {1024, 6, 8}, {256, 18, 32}, {2048, 8, 2}, {128, 2, 1},
};

/* Seeds per geometry: 16, or IOTHUB_FLASH_MODEL_SEEDS for a longer run by
 * hand (the first 16 are the same seeds). */
static uint32_t seeds(uint32_t dflt)
{
    const char *e = getenv("IOTHUB_FLASH_MODEL_SEEDS");
    long v = e != NULL ? strtol(e, NULL, 10) : 0;
    return v > 0 && v < 1000000 ? (uint32_t)v : dflt;
}

static void test_flash_matches_model(void **state)
{
    uint32_t gi, seed, n = seeds(16u);
    (void)state;
    for (gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
        for (seed = 1; seed <= n; seed++) {
            run(geo[gi][0], geo[gi][1], geo[gi][2], seed + 37u * gi, 800, 0, 0);
        }
    }
}

/* The same with seqs at the top of their range. */
static void test_flash_matches_model_near_seq_max(void **state)
{
    uint32_t gi, seed;
    (void)state;
    for (gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
        for (seed = 1; seed <= 5u; seed++) {
            run(geo[gi][0], geo[gi][1], geo[gi][2], seed + 37u * gi + 900u, 500, UINT32_MAX - SPAN,
                UINT32_MAX - 150u);
        }
    }
}

/* Scripted: the pairs of the review that random sequences reach rarely. */
static void open_log(struct ctx *c, uint32_t ssize, uint32_t scount, uint32_t unit, uint32_t base)
{
    struct iothub_flash f;
    memset(c, 0, sizeof *c);
    c->m.base = base;
    assert_int_equal(nor_init(&c->n, ssize, scount, unit), 0);
    f = nor_flash(&c->n);
    assert_int_equal(LOG_OPEN(&c->fs, &f, &c->st), TMA_OK);
}

static void del_rec(struct ctx *c, uint32_t seq)
{
    assert_int_equal(c->st.del(c->st.ctx, seq), TMA_OK);
    c->m.live[seq - c->m.base] = 0;
}

/* The whole content ascending equals the model (each seq once). */
static void check_all(struct ctx *c)
{
    uint32_t from = c->m.base, want, n = 0;
    do {
        check_next(c, from, &want);
        if (want != UINT32_MAX) {
            check_get(c, want);
            from = want + 1u;
        }
    } while (want != UINT32_MAX && ++n < SPAN);
}

static void test_flash_scripted_cursor_pairs(void **state)
{
    static struct ctx c;
    uint32_t seq, got, i, walk;
    (void)state;
    /* A next() past the end learns "nothing from here" on the head; the put
     * that follows must lower it: get, del and next of the new record. */
    open_log(&c, 512, 3, 4, 0);
    for (seq = 0; seq < 5u; seq++) {
        assert_int_equal(put_rec(&c, seq, 20, 0), 1);
    }
    assert_int_equal(c.st.next(c.st.ctx, 9, &got), NF);
    assert_int_equal(c.st.next(c.st.ctx, 5, &got), NF); /* the head: (end, below 5, low "none") */
    assert_int_equal(put_rec(&c, 5, 20, 0), 1);
    check_get(&c, 5);
    assert_int_equal(put_rec(&c, 6, 20, 0), 1);
    del_rec(&c, 6);
    assert_int_equal(put_rec(&c, 7, 20, 0), 1);
    check_next(&c, 6, &got);
    assert_int_equal(got, 7u);
    check_all(&c);
    /* The hint: next() named 7 (the head's last record); it is deleted,
     * more records come; a walk from 8 and a rewind to 0 see them all. */
    del_rec(&c, 7);
    assert_int_equal(put_rec(&c, 8, 20, 0), 1);
    check_next(&c, 8, &got);
    assert_int_equal(got, 8u);
    check_next(&c, 0, &got);
    assert_int_equal(got, 0u);
    check_all(&c);
    nor_free(&c.n);

    /* A send walk across reclaims: the hint's sector is copied and erased
     * while the walk stands in it; the walk must name every record put and
     * not acknowledged, in order, once. 3 sectors of 256 B (one free). */
    open_log(&c, 256, 3, 8, 0);
    walk = 0;
    for (seq = 0, i = 0; i < 400u; i++) {
        if (put_rec(&c, seq, 30, 0) == 1) {
            seq++;
        } else {
            uint32_t old = 0; /* set by m_next(); cmocka's assert is not noreturn for -O2 */
            assert_true(m_next(&c.m, 0, &old));
            del_rec(&c, old); /* FULL: ack the oldest */
        }
        if (i % 3u == 0u) { /* one send step; every other one acked */
            check_next(&c, walk, &got);
            if (got != UINT32_MAX) {
                check_get(&c, got);
                if (i % 2u == 0u) {
                    del_rec(&c, got);
                }
                walk = got + 1u;
            }
        }
        if (i % 5u == 0u) { /* the ack of some early record, out of order */
            uint32_t old;
            if (m_next(&c.m, 0, &old) && old + 1u < walk) {
                del_rec(&c, old);
            }
        }
    }
    check_all(&c);
    nor_free(&c.n);

    /* Seqs at the top: cursor bounds meet UINT32_MAX (the "end" mark). */
    open_log(&c, 256, 4, 1, UINT32_MAX - SPAN);
    for (seq = UINT32_MAX - 6u; seq < UINT32_MAX; seq++) {
        assert_int_equal(put_rec(&c, seq, 10, 0), 1);
    }
    {
        struct tma_span sp = {(const uint8_t *)"x", 1};
        assert_int_equal(c.st.put(c.st.ctx, UINT32_MAX, &sp, 1), TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM));
    }
    assert_int_equal(c.st.seq_end(c.st.ctx), UINT32_MAX);
    assert_int_equal(c.st.next(c.st.ctx, UINT32_MAX, &got), NF);
    check_get(&c, UINT32_MAX);
    check_next(&c, UINT32_MAX - 1u, &got);
    assert_int_equal(got, UINT32_MAX - 1u);
    del_rec(&c, UINT32_MAX - 1u);
    assert_int_equal(c.st.next(c.st.ctx, UINT32_MAX - 1u, &got), NF);
    check_next(&c, UINT32_MAX - 3u, &got);
    check_all(&c);
    nor_free(&c.n);

    /* A delete the port reports failed but that went through, right after
     * next() named the record: the re-read state never names it again. */
    open_log(&c, 512, 3, 2, 0);
    for (seq = 0; seq < 8u; seq++) {
        assert_int_equal(put_rec(&c, seq, 25, 0), 1);
    }
    check_next(&c, 3, &got);
    c.n.lie_at = c.n.ops;
    assert_int_equal(c.st.del(c.st.ctx, 3), IO);
    c.n.lie_at = NOR_NO_CUT;
    c.m.live[3] = 0;
    check_next(&c, 3, &got);
    assert_int_equal(got, 4u);
    check_all(&c);
    assert_int_equal(c.n.v, 0u);
    nor_free(&c.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flash_matches_model),
        cmocka_unit_test(test_flash_matches_model_near_seq_max),
        cmocka_unit_test(test_flash_scripted_cursor_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
