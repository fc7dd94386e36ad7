/* Flash log (src/iothub/storage_flash.c) read cost: record-header reads
 * counted on the simulated NOR flash for the outbox's boot count
 * (iothub_outbox_init) over a full log and for sending and acknowledging
 * every stored message; both must grow linearly with the records stored
 * (the log before session 8 paid a scan per next(), quadratic). Prints the
 * figures docs/design/outbox.md quotes. Counting is not timing: the bound
 * is on reads, which the simulated flash counts exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
#include "test_iothub_flash_sim.h"
#include "tma_test.h"

#define S_ERR(code) TMA_ERR(TMA_LAYER_STORE, (code))

/* Counting port over the simulated flash: a read of exactly one record
 * header (16 bytes or a unit, plus the commit and delete units) counts as a
 * header read; every read call counts in calls. */
struct counting {
    struct nor_sim *n;
    uint32_t hdr_read_len;
    uint64_t hdr_reads, calls;
};

static tma_status c_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct counting *c = ctx;
    c->calls++;
    c->hdr_reads += len == c->hdr_read_len;
    return nor_read(c->n, addr, buf, len);
}

static tma_status c_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    struct counting *c = ctx;
    return nor_program(c->n, addr, data, len);
}

static tma_status c_erase(void *ctx, uint32_t sector)
{
    struct counting *c = ctx;
    return nor_erase(c->n, sector);
}

static void c_open(struct counting *c, struct nor_sim *n, struct iothub_flash_storage *fs,
                   struct iothub_storage *st)
{
    struct iothub_flash f = nor_flash(n);
    c->n = n;
    c->hdr_read_len = (n->unit > 16u ? n->unit : 16u) + 2u * n->unit;
    f.ctx = c;
    f.read = c_read;
    f.program = c_program;
    f.erase = c_erase;
    assert_int_equal(iothub_flash_storage_open(fs, &f, st), TMA_OK);
}

struct geo {
    uint32_t sector_size, sector_count, unit;
    size_t payload;
};

static void cost_geometry(const struct geo *g)
{
    static const char topic[] = "devices/d/messages/events/";
    struct nor_sim n;
    struct counting c;
    struct iothub_flash_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    struct iothub_outbox_msg msg;
    uint8_t p[512], buf[1024];
    uint32_t seq, stored = 0, sent = 0, i;
    uint64_t init_hdr, init_calls, cycle_hdr, cycle_calls, bound_init, bound_cycle;
    tma_status rc;

    assert_true(g->payload <= sizeof p);
    assert_int_equal(nor_init(&n, g->sector_size, g->sector_count, g->unit), 0);
    memset(&c, 0, sizeof c);
    c_open(&c, &n, &fs, &st);
    assert_int_equal(iothub_outbox_init(&ob, &st, 100000, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    /* fill the log (reclaims included) until the flash refuses */
    for (i = 0;; i++) {
        memset(p, (int)(i & 0xFFu), g->payload);
        rc = iothub_outbox_push(&ob, topic, p, g->payload, &seq);
        if (rc != TMA_OK) {
            break;
        }
        stored++;
    }
    assert_int_equal(rc, S_ERR(TMA_C_FULL));
    assert_true(stored > 2u * g->sector_count);

    /* boot: open (recovery), then the outbox counts the records */
    memset(&c, 0, sizeof c);
    c_open(&c, &n, &fs, &st);
    c.hdr_reads = c.calls = 0;
    assert_int_equal(iothub_outbox_init(&ob, &st, 100000, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    init_hdr = c.hdr_reads;
    init_calls = c.calls;
    assert_int_equal(iothub_outbox_count(&ob), stored);

    /* send and acknowledge every message, oldest first */
    c.hdr_reads = c.calls = 0;
    for (;;) {
        rc = iothub_outbox_peek(&ob, buf, sizeof buf, &msg);
        if (rc == S_ERR(TMA_C_NOT_FOUND)) {
            break;
        }
        assert_int_equal(rc, TMA_OK);
        assert_int_equal(msg.payload.len, g->payload);
        iothub_outbox_mark_sent(&ob, msg.seq);
        assert_int_equal(iothub_outbox_ack(&ob, msg.seq), TMA_OK);
        sent++;
    }
    cycle_hdr = c.hdr_reads;
    cycle_calls = c.calls;
    if (sent != stored || iothub_outbox_count(&ob) != 0u || n.v != 0u) {
        nor_free(&n);
        fail_msg("sent %u of %u, %u left, %u flash violations", (unsigned)sent, (unsigned)stored,
                 (unsigned)iothub_outbox_count(&ob), n.v);
    }

    print_message("geometry %u x %u B, unit %u, %u records of %zu B: init %llu header reads (%llu read "
                  "calls), send+ack all %llu header reads (%llu read calls)\n",
                  (unsigned)g->sector_count, (unsigned)g->sector_size, (unsigned)g->unit, (unsigned)stored,
                  g->payload, (unsigned long long)init_hdr, (unsigned long long)init_calls,
                  (unsigned long long)cycle_hdr, (unsigned long long)cycle_calls);
    /* Linear: a few header reads per record, plus a few per sector (its
     * header and its first record when first seen). */
    bound_init = (uint64_t)stored + 4u * g->sector_count + 8u;
    bound_cycle = 6u * (uint64_t)stored + 4u * g->sector_count + 8u;
    nor_free(&n);
    assert_true(init_hdr <= bound_init);
    assert_true(cycle_hdr <= bound_cycle);
}

static void test_flash_cost_linear(void **state)
{
    static const struct geo geos[] = {
        {4096, 8, 16, 100}, /* the figure docs/design/outbox.md quotes */
        {2048, 16, 8, 100}, /* STM32L4-like pages, double-word unit */
        {4096, 16, 1, 60},  /* SPI NOR, byte program, small messages */
        {1024, 4, 4, 40},
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof geos / sizeof geos[0]; i++) {
        cost_geometry(&geos[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flash_cost_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
