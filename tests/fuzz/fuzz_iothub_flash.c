/* Fuzz target: the flash log (src/iothub/storage_flash.c) opened on an
 * arbitrary flash image. Input: byte 0 picks the program unit (1, 2, 4, 8,
 * 16), byte 1 the sector count (2..5), byte 2 the sector size (128, 256,
 * 512); the rest is the image (short images are padded with 0xFF). Then
 * recovery and a few puts, deletes and gets chosen from the input's hash.
 * Checked: no crash or hang; next() strictly increasing; get() of every seq
 * next() names succeeds; put() above seq_end() works or says FULL; the log
 * never programs a unit that does not read erased, nor off the unit grid;
 * a reopen sees the same records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iothub/storage_flash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IMAGE (5u * 512u)

struct fz_flash {
    uint8_t mem[MAX_IMAGE];
    uint32_t size, unit;
};

static tma_status fz_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct fz_flash *f = ctx;
    if (addr > f->size || len > f->size - addr) {
        abort();
    }
    if (len > 0) {
        memcpy(buf, f->mem + addr, len);
    }
    return TMA_OK;
}

static tma_status fz_program(void *ctx, uint32_t addr, const uint8_t *p, size_t len)
{
    struct fz_flash *f = ctx;
    size_t i;
    if (addr > f->size || len > f->size - addr || addr % f->unit || len % f->unit || len == 0) {
        abort();
    }
    for (i = 0; i < len; i++) {
        if (f->mem[addr + i] != 0xFF) {
            abort(); /* would program a unit twice */
        }
    }
    for (i = 0; i < len; i++) {
        f->mem[addr + i] &= p[i];
    }
    return TMA_OK;
}

static uint32_t g_sector_size;

static tma_status fz_erase(void *ctx, uint32_t sector)
{
    struct fz_flash *f = ctx;
    if ((uint64_t)(sector + 1u) * g_sector_size > f->size) {
        abort();
    }
    memset(f->mem + (size_t)sector * g_sector_size, 0xFF, g_sector_size);
    return TMA_OK;
}

/* Walk next(); check order and get(). Returns the number of records. */
static unsigned walk_all(struct iothub_storage *st, uint32_t *out_last)
{
    static uint8_t buf[MAX_IMAGE];
    uint32_t from = 0, seq, prev = 0;
    unsigned n = 0;
    size_t got;
    while (st->next(st->ctx, from, &seq) == TMA_OK) {
        if (n > 0 && seq <= prev) {
            abort();
        }
        if (st->get(st->ctx, seq, buf, sizeof buf, &got) != TMA_OK) {
            abort();
        }
        if (seq >= st->seq_end(st->ctx) && seq != UINT32_MAX) {
            abort();
        }
        prev = seq;
        n++;
        if (seq == UINT32_MAX || n > MAX_IMAGE) {
            break;
        }
        from = seq + 1u;
    }
    *out_last = prev;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t units[] = {1, 2, 4, 8, 16, 32};
    static const uint32_t sizes[] = {128, 256, 512};
    static struct fz_flash f;
    struct iothub_flash fl;
    struct iothub_flash_storage fs;
    struct iothub_storage st;
    uint32_t h = 2166136261u, last, i;
    unsigned n1, n2;
    size_t k;
    uint8_t p[300];
    if (size < 3) {
        return 0;
    }
    f.unit = units[data[0] % 6u];
    g_sector_size = sizes[data[2] % 3u];
    if (g_sector_size < 8u * f.unit) {
        g_sector_size = 8u * f.unit;
    }
    fl.sector_count = 2u + data[1] % 4u;
    f.size = fl.sector_count * g_sector_size;
    memset(f.mem, 0xFF, sizeof f.mem);
    memcpy(f.mem, data + 3, size - 3 < f.size ? size - 3 : f.size);
    for (k = 0; k < size; k++) {
        h = (h ^ data[k]) * 16777619u;
    }
    fl.ctx = &f;
    fl.read = fz_read;
    fl.program = fz_program;
    fl.erase = fz_erase;
    fl.sector_size = g_sector_size;
    fl.program_unit = f.unit;
    if (iothub_flash_storage_open(&fs, &fl, &st) != TMA_OK) {
        abort(); /* the image alone never makes open fail */
    }
    walk_all(&st, &last);
    for (i = 0; i < 12; i++) {
        uint32_t seq, op;
        h = h * 1103515245u + 12345u;
        op = (h >> 16) % 4u;
        if (op < 2) {
            size_t len = (h >> 8) % sizeof p;
            tma_status rc;
            struct tma_span sp;
            memset(p, (int)(h & 0xFFu), len);
            sp.ptr = p;
            sp.len = len;
            seq = st.seq_end(st.ctx);
            if (seq == UINT32_MAX) {
                break;
            }
            rc = st.put(st.ctx, seq, &sp, 1);
            if (rc != TMA_OK && rc != TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL) &&
                !(rc == TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM) && len > iothub_flash_storage_max_record(&fs))) {
                abort();
            }
            if (rc == TMA_OK) {
                uint8_t back[300];
                size_t got;
                if (st.get(st.ctx, seq, back, sizeof back, &got) != TMA_OK || got != len ||
                    memcmp(back, p, len) != 0) {
                    abort();
                }
            }
        } else if (st.next(st.ctx, (h >> 4) % 64u, &seq) == TMA_OK) {
            if (st.del(st.ctx, seq) != TMA_OK) {
                abort();
            }
        }
    }
    n1 = walk_all(&st, &last);
    /* a reopen finds the same records */
    if (iothub_flash_storage_open(&fs, &fl, &st) != TMA_OK) {
        abort();
    }
    n2 = walk_all(&st, &last);
    if (n1 != n2) {
        abort();
    }
    return 0;
}
