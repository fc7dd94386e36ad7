/* The bare-metal flash template (port/baremetal/storage_flash_baremetal.c)
 * run on the host: its flash region is memory mapped at a fixed 32-bit
 * address (the template keeps addresses in uint32_t, as on a Cortex-M), and
 * the three board functions model an STM32L4-like internal flash: 2 KB pages,
 * 8-byte double words with ECC, each programmed once per erase. A program or
 * erase cut by power loss leaves its unit with a broken ECC: reading it
 * faults, which board_flash_ecc_fault() reports (on the MCU the NMI handler
 * notes it). Checked: churn with reopens, and a power cut at every flash
 * operation of the workload the ESP-IDF test uses, with the log reopened
 * after each. (port_cross_m4 and iothub_flash_port_m4 cross-compile the
 * template; this runs it.) */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "flash_workload.h"
#include "iothub/storage_flash.h"

#define BASE 0x20000000u
#define PAGE 2048u
#define PAGES 6u
#define UNIT 8u
#define UNITS (PAGE * PAGES / UNIT)
#define NO_CUT UINT64_MAX

const uint32_t board_flash_base = BASE, board_flash_page_size = PAGE, board_flash_pages = PAGES,
               board_flash_unit = UNIT;
int board_flash_program(uint32_t addr, const uint8_t *data, uint32_t len);
int board_flash_erase_page(uint32_t addr);
int board_flash_ecc_fault(uint32_t addr, uint32_t len);
tma_status outbox_flash_baremetal_open(struct iothub_flash_storage *fs, struct iothub_storage *out_storage);

enum { ERASED, PROGRAMMED, BROKEN };

static struct {
    uint8_t *mem;
    uint8_t unit[UNITS];
    uint64_t ops, cut_at;
    int dead;
    uint32_t rng;
    unsigned violations, faults_reported, erases;
    char why[120];
} nor;

static uint32_t rnd(void)
{
    uint32_t x = nor.rng ? nor.rng : 0x1234567u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return nor.rng = x;
}

static void violation(const char *what, uint32_t addr, uint32_t len)
{
    if (nor.violations++ == 0) {
        snprintf(nor.why, sizeof nor.why, "%s at 0x%x len %u (op %llu)", what, (unsigned)addr, (unsigned)len,
                 (unsigned long long)nor.ops);
    }
}

static void break_unit(uint32_t u)
{
    uint32_t i;
    for (i = 0; i < UNIT; i++) {
        nor.mem[u * UNIT + i] = (uint8_t)rnd();
    }
    nor.unit[u] = BROKEN;
}

int board_flash_program(uint32_t addr, const uint8_t *data, uint32_t len)
{
    uint32_t off = addr - BASE, u, cut = UINT32_MAX;
    if (nor.dead) {
        return -1;
    }
    if (addr < BASE || off % UNIT || len % UNIT || len == 0 || off + len > PAGE * PAGES) {
        violation("program not in whole units inside the region", addr, len);
        return -1;
    }
    for (u = off / UNIT; u < (off + len) / UNIT; u++) {
        if (nor.unit[u] != ERASED) {
            violation("program of a unit not erased", addr, len);
            return -1;
        }
    }
    if (nor.ops++ == nor.cut_at) {
        nor.dead = 1;
        cut = off / UNIT + rnd() % (len / UNIT);
    }
    for (u = off / UNIT; u < (off + len) / UNIT; u++) {
        if (u == cut) {
            break_unit(u);
            return -1;
        }
        memcpy(nor.mem + u * UNIT, data + (u * UNIT - off), UNIT);
        nor.unit[u] = PROGRAMMED;
    }
    return 0;
}

int board_flash_erase_page(uint32_t addr)
{
    uint32_t off = addr - BASE, u, stop = UINT32_MAX;
    if (nor.dead) {
        return -1;
    }
    if (addr < BASE || off % PAGE || off >= PAGE * PAGES) {
        violation("erase not of a page", addr, PAGE);
        return -1;
    }
    if (nor.ops++ == nor.cut_at) {
        nor.dead = 1;
        stop = off / UNIT + rnd() % (PAGE / UNIT); /* units before it erased, it broken, the rest as they were */
    }
    for (u = off / UNIT; u < (off + PAGE) / UNIT; u++) {
        if (u == stop) {
            break_unit(u);
            return -1;
        }
        memset(nor.mem + u * UNIT, 0xFF, UNIT);
        nor.unit[u] = ERASED;
    }
    nor.erases++;
    return 0;
}

int board_flash_ecc_fault(uint32_t addr, uint32_t len)
{
    uint32_t off = addr - BASE, u;
    for (u = off / UNIT; u < (off + len + UNIT - 1u) / UNIT && u < UNITS; u++) {
        if (nor.unit[u] == BROKEN) {
            nor.faults_reported++;
            return 1;
        }
    }
    return 0;
}

static void nor_fresh(uint64_t cut_at, uint32_t seed)
{
    memset(nor.mem, 0xFF, PAGE * PAGES);
    memset(nor.unit, ERASED, sizeof nor.unit);
    nor.ops = 0;
    nor.cut_at = cut_at;
    nor.dead = 0;
    nor.rng = seed | 1u;
    nor.violations = nor.faults_reported = nor.erases = 0;
}

static int setup(void **state)
{
    void *p = mmap((void *)(uintptr_t)BASE, PAGE * PAGES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    (void)state;
    if (p == MAP_FAILED || p != (void *)(uintptr_t)BASE) {
        fprintf(stderr, "cannot map the flash region at 0x%x\n", BASE);
        return -1;
    }
    nor.mem = p;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return munmap(nor.mem, PAGE * PAGES);
}

struct log {
    struct iothub_flash_storage fs;
    struct iothub_storage st;
};

static tma_status log_open(struct log *l)
{
    memset(l, 0, sizeof *l);
    return outbox_flash_baremetal_open(&l->fs, &l->st);
}

static void test_baremetal_flash_churn(void **state)
{
    struct log l;
    struct model m;
    uint32_t seq, oldest = 1;
    char when[48];
    (void)state;
    memset(&m, 0, sizeof m);
    nor_fresh(NO_CUT, 7);
    assert_int_equal(log_open(&l), TMA_OK);
    for (seq = 1; seq <= 400; seq++) {
        assert_int_equal(wl_put(&l.st, seq), TMA_OK);
        m.st[seq] = 2;
        while (seq - oldest >= 5u) {
            assert_int_equal(l.st.del(l.st.ctx, oldest), TMA_OK);
            m.st[oldest++] = 3;
        }
        if (seq % 40u == 0) {
            snprintf(when, sizeof when, "reopen after seq %u", (unsigned)seq);
            assert_int_equal(log_open(&l), TMA_OK);
            wl_check(&l.st, &m, when);
        }
    }
    if (nor.violations) {
        fail_msg("flash rule broken %u times: %s", nor.violations, nor.why);
    }
    assert_true(nor.erases > 2u * PAGES);
}

static void test_baremetal_flash_power_cuts(void **state)
{
    struct log l;
    struct model m;
    uint32_t next, seq;
    uint64_t total, k;
    unsigned faults = 0;
    char when[64];
    (void)state;
    memset(&m, 0, sizeof m);
    nor_fresh(NO_CUT, 1);
    assert_int_equal(log_open(&l), TMA_OK);
    wl_run(&l.st, &m, &next);
    total = nor.ops;
    assert_int_equal(nor.violations, 0);
    for (k = 0; k < total; k++) {
        memset(&m, 0, sizeof m);
        nor_fresh(k, (uint32_t)k + 11u);
        assert_int_equal(log_open(&l), TMA_OK);
        wl_run(&l.st, &m, &next);
        assert_true(nor.dead);
        nor.dead = 0;
        nor.cut_at = NO_CUT;
        snprintf(when, sizeof when, "power cut at flash op %llu", (unsigned long long)k);
        if (log_open(&l) != TMA_OK) {
            fail_msg("%s: the log does not reopen", when);
        }
        wl_check(&l.st, &m, when);
        seq = l.st.seq_end(l.st.ctx);
        if (seq < next) {
            seq = next;
        }
        assert_int_equal(wl_put(&l.st, seq), TMA_OK);
        m.st[seq] = 2;
        assert_int_equal(log_open(&l), TMA_OK);
        wl_check(&l.st, &m, when);
        if (nor.violations) {
            fail_msg("%s: flash rule broken %u times: %s", when, nor.violations, nor.why);
        }
        faults += nor.faults_reported;
    }
    printf("power cut at each of %llu flash operations, recovered every time (%u ECC faults reported)\n",
           (unsigned long long)total, faults);
    assert_true(faults > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baremetal_flash_churn),
        cmocka_unit_test(test_baremetal_flash_power_cuts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
