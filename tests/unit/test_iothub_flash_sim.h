/* Simulated NOR flash for the flash log's tests and benches (C11, test code).
 *
 * Strict about what real MCU flash forbids or makes undefined:
 *  - reads and programs outside the range, programs not aligned to the
 *    program unit or not a multiple of it: a violation;
 *  - programming a unit that is not erased (programmed since its last erase,
 *    or left undefined by a cut erase): a violation, even when the new bits
 *    would only clear more bits (ECC flash forbids it);
 * and counts per sector the erases and the bytes programmed (wear).
 *
 * Power cut at operation k (programs and erases are numbered from 0):
 *  - a cut program leaves a random subset of its bits programmed (either a
 *    sequential cut: units before a random point complete, one unit partial,
 *    the rest untouched; or scattered: every bit independently). A unit in
 *    which no bit changed stays erased (no charge moved); any other unit
 *    touched counts as programmed;
 *  - a cut erase leaves the sector random, partly erased (old bits randomly
 *    set to 1, or one stretch erased and the rest as it was), untouched, or
 *    reading all 0xFF; in all but "untouched" every unit is undefined until
 *    the next complete erase;
 *  - the cut operation and every one after it fail with TMA_C_IO (the
 *    device is off). nor_power_on() restores power, keeping the contents.
 * lie_at: that operation completes but reports TMA_C_IO (a port that cannot
 * tell whether its write went through); power stays on.
 * read_fail_at: that read call (counted in read_ops) fails with TMA_C_IO.
 * Violations are counted in v and described in why (the tests assert v == 0).
 */
#ifndef TEST_IOTHUB_FLASH_SIM_H
#define TEST_IOTHUB_FLASH_SIM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iothub/storage_flash.h"
#include "tma_testutil.h"

#define NOR_ERASED 0u
#define NOR_PROGRAMMED 1u
#define NOR_UNDEFINED 2u
#define NOR_NO_CUT UINT64_MAX

struct nor_sim {
    uint32_t sector_size, sector_count, unit;
    uint8_t *mem;
    uint8_t *state; /* per unit */
    uint32_t *erases;
    uint64_t *programmed_bytes;
    uint64_t ops;
    uint64_t reads, read_bytes; /* read calls and bytes (cost figures for the bench) */
    uint64_t cut_at;
    uint64_t lie_at; /* this operation is done but reports TMA_C_IO (power stays on) */
    uint64_t read_ops;     /* read calls, failed ones included */
    uint64_t read_fail_at; /* this read call fails with TMA_C_IO (nothing read) */
    int dead;
    uint32_t rng;
    unsigned v;
    char why[160];
};

/* the flash tests' one generator (seeded, repeatable) */
#define xorshift32 tma_test_xorshift32

static inline uint32_t nor_rand(struct nor_sim *n)
{
    if (n->rng == 0) {
        n->rng = 0x9E3779B9u;
    }
    return xorshift32(&n->rng);
}

static inline void nor_violation(struct nor_sim *n, const char *what, uint32_t addr, size_t len)
{
    if (n->v++ == 0) {
        snprintf(n->why, sizeof n->why, "%s at 0x%x len %zu (op %llu)", what, (unsigned)addr, len,
                 (unsigned long long)n->ops);
    }
}

static inline int nor_init(struct nor_sim *n, uint32_t sector_size, uint32_t sector_count, uint32_t unit)
{
    size_t total = (size_t)sector_size * sector_count;
    memset(n, 0, sizeof(*n));
    n->sector_size = sector_size;
    n->sector_count = sector_count;
    n->unit = unit;
    n->mem = malloc(total);
    n->state = malloc(total / unit);
    n->erases = calloc(sector_count, sizeof(uint32_t));
    n->programmed_bytes = calloc(sector_count, sizeof(uint64_t));
    if (n->mem == NULL || n->state == NULL || n->erases == NULL || n->programmed_bytes == NULL) {
        return -1;
    }
    /* A factory-fresh part: erased. */
    memset(n->mem, 0xFF, total);
    memset(n->state, NOR_ERASED, total / unit);
    n->cut_at = NOR_NO_CUT;
    n->lie_at = NOR_NO_CUT;
    n->read_fail_at = NOR_NO_CUT;
    n->rng = 1;
    return 0;
}

static inline void nor_free(struct nor_sim *n)
{
    free(n->mem);
    free(n->state);
    free(n->erases);
    free(n->programmed_bytes);
    memset(n, 0, sizeof(*n));
}

/* Copy contents, unit states and counters (not the cut). */
static inline int nor_clone(struct nor_sim *dst, const struct nor_sim *src)
{
    size_t total = (size_t)src->sector_size * src->sector_count;
    if (nor_init(dst, src->sector_size, src->sector_count, src->unit) != 0) {
        return -1;
    }
    memcpy(dst->mem, src->mem, total);
    memcpy(dst->state, src->state, total / src->unit);
    memcpy(dst->erases, src->erases, src->sector_count * sizeof(uint32_t));
    memcpy(dst->programmed_bytes, src->programmed_bytes, src->sector_count * sizeof(uint64_t));
    dst->ops = src->ops;
    dst->v = src->v;
    memcpy(dst->why, src->why, sizeof dst->why);
    return 0;
}

static inline void nor_power_on(struct nor_sim *n)
{
    n->dead = 0;
    n->cut_at = NOR_NO_CUT;
}

/* Cut power at the k-th program/erase from now; seed the torn pattern. */
static inline void nor_cut_after(struct nor_sim *n, uint64_t k, uint32_t seed)
{
    n->cut_at = n->ops + k;
    n->rng = seed * 2654435761u + 1u;
}

static inline tma_status nor_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct nor_sim *n = ctx;
    size_t total = (size_t)n->sector_size * n->sector_count;
    if (n->dead || n->read_ops++ == n->read_fail_at) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    if ((size_t)addr > total || len > total - addr || (buf == NULL && len > 0)) {
        nor_violation(n, "read out of range", addr, len);
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM);
    }
    if (len > 0) {
        memcpy(buf, n->mem + addr, len);
    }
    n->reads++;
    n->read_bytes += len;
    return TMA_OK;
}

static inline tma_status nor_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    struct nor_sim *n = ctx;
    size_t total = (size_t)n->sector_size * n->sector_count, u, nunits = len / n->unit, i;
    uint32_t first = addr / n->unit;
    if (n->dead) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    if ((size_t)addr > total || len > total - addr || len == 0 || addr % n->unit || len % n->unit) {
        nor_violation(n, "program out of range or not aligned to the unit", addr, len);
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM);
    }
    if (addr / n->sector_size != (addr + (uint32_t)len - 1u) / n->sector_size) {
        nor_violation(n, "program across a sector boundary", addr, len);
    }
    for (u = 0; u < nunits; u++) {
        if (n->state[first + u] != NOR_ERASED) {
            nor_violation(n, n->state[first + u] == NOR_PROGRAMMED ? "second program of a unit"
                                                                     : "program of a unit a cut erase left undefined",
                          addr + (uint32_t)(u * n->unit), n->unit);
        }
    }
    if (n->ops++ == n->cut_at) {
        int scattered = (int)(nor_rand(n) & 1u);
        size_t c = nor_rand(n) % (nunits + 1);
        for (u = 0; u < nunits; u++) {
            int changed = 0;
            for (i = 0; i < n->unit; i++) {
                size_t a = addr + u * n->unit + i;
                uint8_t want = data[u * n->unit + i], mask;
                if (scattered) {
                    mask = (uint8_t)nor_rand(n);
                } else if (u < c) {
                    mask = 0xFF;
                } else if (u == c) {
                    mask = (uint8_t)nor_rand(n);
                } else {
                    mask = 0;
                }
                /* bits in mask are programmed (a 0 in want clears them) */
                uint8_t nv = (uint8_t)(n->mem[a] & (want | (uint8_t)~mask));
                changed |= nv != n->mem[a];
                n->mem[a] = nv;
            }
            if (changed) {
                n->state[first + u] = NOR_PROGRAMMED;
            }
        }
        n->programmed_bytes[addr / n->sector_size] += len;
        n->dead = 1;
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    for (i = 0; i < len; i++) {
        n->mem[addr + i] &= data[i];
    }
    memset(n->state + first, NOR_PROGRAMMED, nunits);
    n->programmed_bytes[addr / n->sector_size] += len;
    return n->ops - 1 == n->lie_at ? TMA_ERR(TMA_LAYER_STORE, TMA_C_IO) : TMA_OK;
}

static inline tma_status nor_erase(void *ctx, uint32_t sector)
{
    struct nor_sim *n = ctx;
    uint8_t *m;
    uint32_t i, per = n->sector_size / n->unit;
    if (n->dead) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    if (sector >= n->sector_count) {
        nor_violation(n, "erase of a sector out of range", sector, 0);
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM);
    }
    m = n->mem + (size_t)sector * n->sector_size;
    n->erases[sector]++;
    if (n->ops++ == n->cut_at) {
        uint32_t mode = nor_rand(n) % 5u, a = nor_rand(n) % n->sector_size,
                 b = a + nor_rand(n) % (n->sector_size - a + 1u);
        for (i = 0; i < n->sector_size; i++) {
            if (mode == 4) {
                if (i >= a && i < b) {
                    m[i] = 0xFF; /* one stretch erased, the rest as it was */
                }
            } else if (mode == 0) {
                m[i] = (uint8_t)nor_rand(n);
            } else if (mode == 1) {
                m[i] = (uint8_t)(m[i] | (uint8_t)nor_rand(n));
            } else if (mode == 3) {
                m[i] = 0xFF;
            }
        }
        if (mode != 2) {
            memset(n->state + (size_t)sector * per, NOR_UNDEFINED, per);
        }
        n->dead = 1;
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    memset(m, 0xFF, n->sector_size);
    memset(n->state + (size_t)sector * per, NOR_ERASED, per);
    return n->ops - 1 == n->lie_at ? TMA_ERR(TMA_LAYER_STORE, TMA_C_IO) : TMA_OK;
}

static inline struct iothub_flash nor_flash(struct nor_sim *n)
{
    struct iothub_flash f;
    f.ctx = n;
    f.read = nor_read;
    f.program = nor_program;
    f.erase = nor_erase;
    f.sector_size = n->sector_size;
    f.sector_count = n->sector_count;
    f.program_unit = n->unit;
    return f;
}

#endif
