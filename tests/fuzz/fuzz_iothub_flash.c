/* Fuzz target: the flash log (src/iothub/storage_flash.c) opened on an
 * arbitrary flash image. Input: byte 0 picks the program unit (1, 2, 4, 8,
 * 16, 32), byte 1 the sector count (2..5, bits 0-1) and three modes (bit 7:
 * the harness makes every sector header with the log's magic and every
 * record header on the chain check, so crafted headers, lengths, sector
 * sequences, sources and marks are reached, which random bytes never pass a
 * CRC for; bit 6: record data CRCs too; bit 5: one read of the run, chosen
 * from the input's hash, fails with TMA_C_IO), byte 2 the sector size (128,
 * 256, 512); the rest is the image (short images are padded with 0xFF).
 * Then recovery and a few puts, deletes, gets and retries (a put of a stored
 * record again, byte for byte) chosen from the input's hash.
 * Checked: no crash or hang; next() strictly increasing; get() of every seq
 * next() names succeeds; put() above seq_end() works or says FULL; a retry
 * of a stored record is TMA_OK and stores nothing; the log never programs a
 * unit that does not read erased, nor off the unit grid; a reopen sees the
 * same records; TMA_C_IO only from a call during which the read failed;
 * after the run, next() and get() in a shuffled order (ascending, rewound,
 * near the image's top seq), with deletes and puts in between, answer as
 * the log built without its scan cursors on a copy of the flash, and both
 * leave the same flash. Last, rebase(): refused (flash unchanged) while a
 * record is live, else an empty log at seq 0, also reopened, that takes a
 * put of seq 0. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iothub/storage_flash.h"
#include "tma_testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IMAGE (5u * 512u)

struct fz_flash {
    uint8_t mem[MAX_IMAGE];
    uint32_t size, unit;
    uint64_t reads, fail_at; /* read calls; the one that fails */
    int fired;               /* the failing read happened (cleared by the harness) */
};

#define IO_ERR TMA_ERR(TMA_LAYER_STORE, TMA_C_IO)

static tma_status fz_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct fz_flash *f = ctx;
    if (addr > f->size || len > f->size - addr) {
        abort();
    }
    if (f->reads++ == f->fail_at) {
        f->fired = 1;
        return IO_ERR;
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

/* A call's status: TMA_C_IO is only allowed from a call during which the
 * injected read failure happened. 1 when it did (the caller's checks of the
 * result are off for this call). */
static int io_fired(struct fz_flash *f, tma_status rc)
{
    int fired = f->fired;
    f->fired = 0;
    if (rc == IO_ERR && !fired) {
        abort();
    }
    return fired;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Make the headers of the image check, following the layout of
 * docs/design/outbox.md: a sector header with the magic gets its CRC; its
 * record chain (from the first record to an erased header or a length that
 * leaves the sector) gets header CRCs, and data CRCs when @p data_too. */
static void fix_crcs(struct fz_flash *f, uint32_t sector_size, int data_too)
{
    uint32_t u = f->unit, hdr = (20u + u - 1u) / u * u, rh = u > 16u ? u : 16u, s;
    for (s = 0; s < f->size / sector_size; s++) {
        uint8_t *b = f->mem + (size_t)s * sector_size;
        uint32_t off = hdr + u;
        size_t i;
        if (le32(b) != 0x4C464D54u) {
            continue;
        }
        set_le32(b + 16, tma_test_crc32(0, b, 16));
        while (off + rh + 2u * u <= sector_size) {
            uint8_t *r = b + off;
            uint32_t len = le32(r + 4), size;
            for (i = 0; i < rh && r[i] == 0xFF; i++) {
            }
            if (i == rh) {
                break;
            }
            /* a header that checks but whose length leaves the sector too */
            size = len > sector_size ? UINT32_MAX : rh + 2u * u + (len + u - 1u) / u * u;
            if (size > sector_size - off) {
                set_le32(r + 12, tma_test_crc32(0, r, 12));
                break;
            }
            if (data_too) {
                set_le32(r + 8, tma_test_crc32(tma_test_crc32(0, r, 8), r + rh + 2u * u, len));
            }
            set_le32(r + 12, tma_test_crc32(0, r, 12));
            off += size;
        }
    }
}

static struct fz_flash f;

/* Walk next(); check order and get(). Returns the number of records, or -1
 * when the injected read failure stopped the walk. */
static long walk_all(struct iothub_storage *st)
{
    static uint8_t buf[MAX_IMAGE];
    uint32_t from = 0, seq, prev = 0;
    long n = 0;
    size_t got;
    tma_status rc;
    for (;;) {
        rc = st->next(st->ctx, from, &seq);
        if (io_fired(&f, rc)) {
            return -1;
        }
        if (rc != TMA_OK) {
            break;
        }
        if (n > 0 && seq <= prev) {
            abort();
        }
        rc = st->get(st->ctx, seq, buf, sizeof buf, &got);
        if (io_fired(&f, rc)) {
            return -1;
        }
        if (rc != TMA_OK) {
            abort();
        }
        if (seq >= st->seq_end(st->ctx) && seq != UINT32_MAX) {
            abort();
        }
        if (io_fired(&f, TMA_OK)) {
            return -1; /* seq_end() re-read the flash and it failed */
        }
        prev = seq;
        n++;
        if (seq == UINT32_MAX || n > (long)MAX_IMAGE) {
            break;
        }
        from = seq + 1u;
    }
    return n;
}

/* The log built without its scan cursors (unit/test_iothub_flash_ref.c). */
tma_status ref_flash_storage_open(struct iothub_flash_storage *fs, const struct iothub_flash *flash,
                                  struct iothub_storage *out_storage);

static struct fz_flash g;

/* The context after the run (its cursors as the run left them) answers
 * next() and get() in an order picked by @p h (not ascending), with del()
 * and put() in between, exactly as the log without cursors opened on a
 * copy of the flash. */
static void same_as_reference(struct iothub_storage *st, const struct iothub_flash *fl, uint32_t h)
{
    static uint8_t ba[MAX_IMAGE], bb[MAX_IMAGE];
    struct iothub_flash gl = *fl;
    struct iothub_flash_storage rfs;
    struct iothub_storage ref;
    uint32_t i, from, sa = 0, sb = 0;
    size_t la = 0, lb = 0;
    tma_status ra, rb;
    int alike; /* the reference's recovery wrote nothing: the flashes stay equal */
    g = f;
    g.reads = 0;
    g.fired = 0;
    g.fail_at = UINT64_MAX;
    gl.ctx = &g;
    if (ref_flash_storage_open(&rfs, &gl, &ref) != TMA_OK) {
        abort();
    }
    /* (a crafted image may carry a sector that the run's log knows to be
     * dead by its reclaim, which a fresh open erases) */
    alike = memcmp(f.mem, g.mem, f.size) == 0;
    for (i = 0; i < 64; i++) {
        uint32_t end = st->seq_end(st->ctx);
        h = h * 1103515245u + 12345u;
        if (end != ref.seq_end(ref.ctx)) {
            abort();
        }
        switch ((h >> 4) % 6u) {
        case 0:
        case 1:
            from = sa + 1u; /* the ascending walk the outbox does */
            break;
        case 2:
            from = sa; /* the same again, or one below: a rewind */
            from -= (h >> 7) & 1u;
            break;
        case 3:
            from = end - (h >> 8) % 72u; /* near the top of a crafted image's seqs */
            break;
        default:
            from = (h >> 8) % 72u;
        }
        ra = st->next(st->ctx, from, &sa);
        rb = ref.next(ref.ctx, from, &sb);
        if (ra != rb || (ra == TMA_OK && sa != sb)) {
            abort();
        }
        if (ra != TMA_OK) {
            sa = 0;
            continue;
        }
        ra = st->get(st->ctx, sa, ba, sizeof ba, &la);
        rb = ref.get(ref.ctx, sb, bb, sizeof bb, &lb);
        if (ra != rb || la != lb || (ra == TMA_OK && memcmp(ba, bb, la) != 0)) {
            abort();
        }
        if ((h >> 12) % 4u == 0u) { /* ack it: both logs change the flash alike */
            if (st->del(st->ctx, sa) != ref.del(ref.ctx, sb)) {
                abort();
            }
        } else if ((h >> 12) % 8u == 1u && end != UINT32_MAX) { /* a new record on both */
            struct tma_span sp;
            memset(ba, (int)(h >> 20), 40);
            sp.ptr = ba;
            sp.len = (h >> 14) % 40u;
            if (st->put(st->ctx, end, &sp, 1) != ref.put(ref.ctx, end, &sp, 1)) {
                abort();
            }
        }
        if (alike && memcmp(f.mem, g.mem, f.size) != 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t units[] = {1, 2, 4, 8, 16, 32};
    static const uint32_t sizes[] = {128, 256, 512};
    struct iothub_flash fl;
    struct iothub_flash_storage fs;
    struct iothub_storage st;
    uint32_t h = 2166136261u, i;
    long n1, n2;
    size_t k;
    uint8_t p[300];
    tma_status rc;
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
    if (data[1] & 0x80u) {
        fix_crcs(&f, g_sector_size, (data[1] & 0x40u) != 0);
    }
    f.reads = 0;
    f.fired = 0;
    f.fail_at = (data[1] & 0x20u) ? (h >> 8) % 3000u : UINT64_MAX;
    fl.ctx = &f;
    fl.read = fz_read;
    fl.program = fz_program;
    fl.erase = fz_erase;
    fl.sector_size = g_sector_size;
    fl.program_unit = f.unit;
    rc = iothub_flash_storage_open(&fs, &fl, &st);
    if (io_fired(&f, rc)) {
        if (rc != IO_ERR) {
            abort(); /* open read a failed read as data */
        }
        rc = iothub_flash_storage_open(&fs, &fl, &st); /* the failure is spent */
    }
    if (rc != TMA_OK) {
        abort(); /* the image alone never makes open fail */
    }
    (void)walk_all(&st);
    for (i = 0; i < 12; i++) {
        uint32_t seq, op;
        h = h * 1103515245u + 12345u;
        op = (h >> 16) % 5u;
        if (op < 2) {
            size_t len = (h >> 8) % sizeof p;
            struct tma_span sp;
            memset(p, (int)(h & 0xFFu), len);
            sp.ptr = p;
            sp.len = len;
            seq = st.seq_end(st.ctx);
            if (io_fired(&f, TMA_OK)) {
                continue;
            }
            if (seq == UINT32_MAX) {
                break;
            }
            rc = st.put(st.ctx, seq, &sp, 1);
            if (io_fired(&f, rc)) {
                continue;
            }
            if (rc != TMA_OK && rc != TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL) &&
                !(rc == TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM) && len > iothub_flash_storage_max_record(&fs)) &&
                rc != TMA_ERR(TMA_LAYER_STORE, TMA_C_STATE)) {
                abort();
            }
            if (rc == TMA_OK) {
                uint8_t back[300];
                size_t got;
                rc = st.get(st.ctx, seq, back, sizeof back, &got);
                if (io_fired(&f, rc)) {
                    continue;
                }
                if (rc != TMA_OK || got != len || memcmp(back, p, len) != 0) {
                    abort();
                }
            }
        } else if (op == 4) {
            /* the retry of a stored record: done, nothing written */
            uint8_t back[MAX_IMAGE];
            size_t got;
            long before = walk_all(&st), after;
            struct tma_span sp;
            rc = st.next(st.ctx, (h >> 4) % 64u, &seq);
            if (io_fired(&f, rc) || rc != TMA_OK || before < 0 || seq == UINT32_MAX) {
                continue; /* UINT32_MAX: a put of it is refused (seq_end cannot pass it) */
            }
            rc = st.get(st.ctx, seq, back, sizeof back, &got);
            if (io_fired(&f, rc)) {
                continue;
            }
            if (rc != TMA_OK) {
                abort();
            }
            sp.ptr = back;
            sp.len = got;
            rc = st.put(st.ctx, seq, &sp, 1);
            if (io_fired(&f, rc)) {
                continue;
            }
            if (rc != TMA_OK) {
                abort();
            }
            after = walk_all(&st);
            if (after >= 0 && after != before) {
                abort();
            }
        } else {
            rc = st.next(st.ctx, (h >> 4) % 64u, &seq);
            if (io_fired(&f, rc) || rc != TMA_OK) {
                continue;
            }
            rc = st.del(st.ctx, seq);
            if (!io_fired(&f, rc) && rc != TMA_OK) {
                abort();
            }
        }
    }
    f.fail_at = UINT64_MAX; /* from here on no read fails */
    same_as_reference(&st, &fl, h);
    n1 = walk_all(&st);
    /* a reopen finds the same records */
    if (iothub_flash_storage_open(&fs, &fl, &st) != TMA_OK) {
        abort();
    }
    n2 = walk_all(&st);
    if (n1 != n2) {
        abort();
    }
    /* rebase: refused with a record stored, the flash unchanged; with none,
     * the log is empty at seq 0 and stays so when reopened */
    {
        static uint8_t before[MAX_IMAGE];
        uint32_t seq;
        struct tma_span sp = {p, 7};
        memset(p, 0x5A, sp.len);
        memcpy(before, f.mem, f.size);
        rc = st.rebase(st.ctx);
        if (n2 > 0 ? rc != TMA_ERR(TMA_LAYER_STORE, TMA_C_STATE) || memcmp(before, f.mem, f.size) != 0
                   : rc != TMA_OK || st.seq_end(st.ctx) != 0u) {
            abort();
        }
        if (n2 == 0 && (iothub_flash_storage_open(&fs, &fl, &st) != TMA_OK || st.seq_end(st.ctx) != 0u ||
                        st.next(st.ctx, 0u, &seq) != TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND) ||
                        st.put(st.ctx, 0u, &sp, 1) != TMA_OK || st.seq_end(st.ctx) != 1u)) {
            abort();
        }
    }
    return 0;
}
