/* Outbox storage on raw NOR flash: a ring log of erase sectors.
 * See include/iothub/storage_flash.h and docs/design/outbox.md ("MCU flash log").
 *
 * Sector: header | mark unit | records ...
 *   header (20 bytes, padded to the unit): magic, sector sequence, seq floor
 *   (seq_end at stamping), source (sector sequence this sector reclaimed, 0:
 *   none), CRC-32 of the 16 bytes before it.
 *   mark unit: programmed once the reclaim copy into this sector is complete;
 *   from then on every sector stamped with a sequence <= source is garbage.
 * Record: header (16) | commit unit | delete unit | data padded to the unit
 *   header: seq, len, data CRC (over seq, len, data), header CRC (over the
 *   12 bytes before it). Programmed in this order: header, data, commit.
 *   del() programs the delete unit. A unit counts as programmed when any of
 *   its bits reads 0.
 *
 * Scan cursors (RAM only, nothing of it is on flash): for each of the first
 * IOTHUB_FLASH_CURSORS sectors the context remembers whether it is a live
 * sector and where the last scan of it stopped: (off, below, low) says every
 * committed record before off has a seq < below and every committed record
 * from off on a seq >= low (the records of a sector are in seq order while
 * fs->sorted). A scan for a seq >= below resumes at off; a sector whose low
 * cannot beat the answer at hand is not read at all. What changes the facts:
 * put (a new record at the head: low drops to its seq), stamp and erase
 * (forgotten), the end of a reclaim (fs->obsolete changes which sectors are
 * live: all forgotten), recovery and any port error (all forgotten: ok = 0). del()
 * only marks records deleted, which the facts do not cover. Built with
 * IOTHUB_FLASH_NO_CURSORS (tests only) the log scans as without them.
 */
#include "iothub/storage_flash.h"

#include <string.h>

#include "../common/le32.h"

#define S_ERR(code) TMA_ERR(TMA_LAYER_STORE, (code))
#define MAGIC 0x4C464D54u /* "TMFL" little endian */
#define SHDR_BYTES 20u
#define RHDR_BYTES 16u
#define NONE UINT32_MAX
#define CHUNK 64u /* stack buffer for data moves; a multiple of every unit */
#define MAX_UNIT 32u
#define SHDR_MAX 32u /* SHDR_BYTES padded to the largest unit */
#define CUR_UNKNOWN 0u
#define CUR_NOT_LIVE 1u /* any record offset is above: first_rec() >= 21 */

enum rec_kind { REC_END, REC_BAD, REC_OK };

struct shdr {
    uint32_t sseq;
    uint32_t floor;
    uint32_t src;
    uint8_t marked;
};

struct rec {
    uint32_t seq;
    uint32_t len;
    uint32_t dcrc;
    uint32_t size; /* bytes the record occupies */
    uint8_t committed;
    uint8_t deleted;
};

/* CRC-32 (IEEE, reflected), nibble table: 64 bytes of constants. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static const uint32_t t[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    size_t i;
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        crc = t[crc & 15u] ^ (crc >> 4);
        crc = t[crc & 15u] ^ (crc >> 4);
    }
    return ~crc;
}

static uint32_t unit(const struct iothub_flash_storage *fs)
{
    return fs->fl.program_unit;
}

/* Record header: 16 bytes, a whole unit when the unit is larger. */
static uint32_t rhdr(const struct iothub_flash_storage *fs)
{
    return unit(fs) > RHDR_BYTES ? unit(fs) : RHDR_BYTES;
}

static uint32_t round_up(uint32_t v, uint32_t u)
{
    return (v + u - 1u) / u * u;
}

static int all_ff(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != 0xFFu) {
            return 0;
        }
    }
    return 1;
}

static uint32_t first_rec(const struct iothub_flash_storage *fs)
{
    return fs->hdr_len + unit(fs);
}

static uint32_t rec_size(const struct iothub_flash_storage *fs, uint32_t len)
{
    return rhdr(fs) + 2u * unit(fs) + round_up(len, unit(fs));
}

static tma_status rd(struct iothub_flash_storage *fs, uint32_t s, uint32_t off, uint8_t *buf, size_t n)
{
    return fs->fl.read(fs->fl.ctx, s * fs->fl.sector_size + off, buf, n);
}

static tma_status prog(struct iothub_flash_storage *fs, uint32_t s, uint32_t off, const uint8_t *p,
                       size_t n)
{
    return fs->fl.program(fs->fl.ctx, s * fs->fl.sector_size + off, p, n);
}

/* Program one unit to all zero bits (mark, commit, delete). */
static tma_status prog_flag(struct iothub_flash_storage *fs, uint32_t s, uint32_t off)
{
    uint8_t z[MAX_UNIT];
    memset(z, 0, sizeof z);
    return prog(fs, s, off, z, unit(fs));
}

/* Sector header: 1 valid, 0 not (erased, torn, foreign), <0 read error. */
static tma_status read_shdr(struct iothub_flash_storage *fs, uint32_t s, struct shdr *out)
{
    uint8_t b[SHDR_MAX + MAX_UNIT];
    tma_status st;
    /* every answer leaves *out defined (callers read it only for 1, but an
     * optimising compiler cannot always see that) */
    memset(out, 0, sizeof(*out));
    st = rd(fs, s, 0, b, fs->hdr_len + unit(fs));
    if (st != TMA_OK) {
        return st;
    }
    if (get_le32(b) != MAGIC || crc32_update(0, b, 16) != get_le32(b + 16)) {
        return 0;
    }
    out->sseq = get_le32(b + 4);
    out->floor = get_le32(b + 8);
    out->src = get_le32(b + 12);
    out->marked = !all_ff(b + fs->hdr_len, unit(fs));
    if (out->sseq == 0u || out->sseq == NONE || out->src >= out->sseq) {
        return 0;
    }
    return 1;
}

/* A sector holding live log data: valid header, not reclaimed. */
static tma_status data_sector(struct iothub_flash_storage *fs, uint32_t s, struct shdr *out)
{
    tma_status st = read_shdr(fs, s, out);
    if (st == 1 && out->sseq == fs->obsolete) {
        return 0;
    }
    return st;
}

/* The cursor of sector @p s, or NULL when none may be used: beyond the
 * remembered sectors, during recovery (ok = 0) or on an unsorted image. */
static struct iothub_flash_cursor *cursor(struct iothub_flash_storage *fs, uint32_t s)
{
#ifdef IOTHUB_FLASH_NO_CURSORS
    (void)fs;
    (void)s;
    return NULL;
#else
    return s < IOTHUB_FLASH_CURSORS && fs->ok && fs->sorted ? &fs->cur[s] : NULL;
#endif
}

static void forget(struct iothub_flash_storage *fs, uint32_t s)
{
    if (s < IOTHUB_FLASH_CURSORS) {
        fs->cur[s].off = CUR_UNKNOWN;
    }
    if (s == fs->hint) {
        fs->hint_off = 0;
    }
}

static void forget_all(struct iothub_flash_storage *fs)
{
    memset(fs->cur, 0, sizeof fs->cur);
    fs->hint_off = 0;
}

/* Bad sectors: a free sector whose erase or header program failed this
 * session (RAM only: after a restart a bad sector is found again by its
 * failed erase). @p skip: one more, beyond the remembered ones. */
static int is_bad(const struct iothub_flash_storage *fs, uint32_t s, uint32_t skip)
{
    return s == skip || (s < IOTHUB_FLASH_BAD_SECTORS && ((fs->bad[s / 32u] >> (s % 32u)) & 1u) != 0u);
}

static void set_bad(struct iothub_flash_storage *fs, uint32_t s, int on)
{
    if (s < IOTHUB_FLASH_BAD_SECTORS) {
        uint32_t m = 1u << (s % 32u);
        fs->bad[s / 32u] = on ? fs->bad[s / 32u] | m : fs->bad[s / 32u] & ~m;
    }
}

/* data_sector() of the scans, remembered: 1 live, 0 not, <0 read error. */
static tma_status live_sector(struct iothub_flash_storage *fs, uint32_t s)
{
    struct iothub_flash_cursor *c = cursor(fs, s);
    struct shdr h;
    tma_status k;
    if (c != NULL && c->off != CUR_UNKNOWN) {
        return c->off == CUR_NOT_LIVE ? 0 : 1;
    }
    k = data_sector(fs, s, &h);
    if (c != NULL && k >= 0) {
        c->off = k == 1 ? first_rec(fs) : CUR_NOT_LIVE;
        c->below = 0;
        c->low = 0;
    }
    return k;
}

/* Whether the cursor of live sector @p s applies to a scan for seqs >= @p from. */
static int resumes(struct iothub_flash_storage *fs, uint32_t s, uint32_t from)
{
    const struct iothub_flash_cursor *c = cursor(fs, s);
    return c != NULL && c->off > CUR_NOT_LIVE && from >= c->below;
}

/* Lower bound of the committed seqs from the cursor on (resumes() only). */
static uint32_t low_of(struct iothub_flash_storage *fs, uint32_t s)
{
    return fs->cur[s].low;
}

/* Offset where a scan of live sector @p s for seqs >= @p from starts. When
 * the cursor stands on the last answer of next() (a record that stays there
 * until its sector is stamped or erased) and @p from is above its seq, the
 * scan starts behind it: an ascending walk reads each header once. */
static uint32_t scan_start(struct iothub_flash_storage *fs, uint32_t s, uint32_t from)
{
    if (!resumes(fs, s, from)) {
        return first_rec(fs);
    }
    if (s == fs->hint && fs->hint_off != 0u && fs->cur[s].off == fs->hint_off && from > fs->hint_seq) {
        return fs->hint_off + fs->hint_size;
    }
    return fs->cur[s].off;
}

/* A scan of sector @p s for seqs >= @p from, started at scan_start(),
 * stopped at @p off: the first committed record with seq >= from (@p low
 * its seq) or the end of the records (@p low NONE). */
static void learn(struct iothub_flash_storage *fs, uint32_t s, uint32_t off, uint32_t from, uint32_t low)
{
    struct iothub_flash_cursor *c = cursor(fs, s);
    if (c != NULL) {
        c->off = off;
        c->below = from;
        c->low = low;
    }
}

/* Record at @p off of sector @p s: REC_END (erased header), REC_BAD (does not
 * check or does not fit), REC_OK; <0 read error. */
static tma_status read_rec(struct iothub_flash_storage *fs, uint32_t s, uint32_t off, struct rec *r)
{
    uint8_t b[3u * MAX_UNIT];
    uint32_t u = unit(fs), h = rhdr(fs);
    tma_status st;
    memset(r, 0, sizeof(*r)); /* defined for every answer, as read_shdr() */
    if (off > fs->fl.sector_size || fs->fl.sector_size - off < rec_size(fs, 0)) {
        return REC_END;
    }
    st = rd(fs, s, off, b, h + 2u * u);
    if (st != TMA_OK) {
        return st;
    }
    if (all_ff(b, h)) {
        return REC_END;
    }
    if (crc32_update(0, b, 12) != get_le32(b + 12)) {
        return REC_BAD;
    }
    r->seq = get_le32(b);
    r->len = get_le32(b + 4);
    r->dcrc = get_le32(b + 8);
    if (r->len > fs->fl.sector_size) {
        return REC_BAD;
    }
    r->size = rec_size(fs, r->len);
    if (r->size > fs->fl.sector_size - off) {
        return REC_BAD;
    }
    /* seq NONE: put refuses it, so only a forged or damaged record has it;
     * taken as committed, seq_end() would stop at NONE with a record that
     * the outbox can never send nor delete: read as a torn put */
    r->committed = r->seq != NONE && !all_ff(b + h, u);
    r->deleted = !all_ff(b + h + u, u);
    return REC_OK;
}

/* 1 when the record's data matches its CRC, 0 if not, <0 read error. */
static tma_status check_data(struct iothub_flash_storage *fs, uint32_t s, uint32_t off,
                             const struct rec *r)
{
    uint8_t b[CHUNK];
    uint32_t crc, done = 0, data = off + rhdr(fs) + 2u * unit(fs);
    tma_status st;
    put_le32(b, r->seq);
    put_le32(b + 4, r->len);
    crc = crc32_update(0, b, 8);
    while (done < r->len) {
        uint32_t n = r->len - done < CHUNK ? r->len - done : CHUNK;
        st = rd(fs, s, data + done, b, n);
        if (st != TMA_OK) {
            return st;
        }
        crc = crc32_update(crc, b, n);
        done += n;
    }
    return crc == r->dcrc ? 1 : 0;
}

static void bump_seq_end(struct iothub_flash_storage *fs, uint32_t seq)
{
    uint32_t e = seq == UINT32_MAX ? UINT32_MAX : seq + 1u;
    if (e > fs->seq_end) {
        fs->seq_end = e;
    }
}

/* Walk sector @p s; *out_end = offset where the records stop, *out_tail_ok =
 * 1 when everything from there to the sector end is erased. Bumps seq_end
 * with the committed records. */
static tma_status walk(struct iothub_flash_storage *fs, uint32_t s, uint32_t *out_end, int *out_tail_ok)
{
    uint32_t off = first_rec(fs), prev = 0;
    struct rec r;
    tma_status k;
    for (;;) {
        k = read_rec(fs, s, off, &r);
        if (k < 0) {
            return k;
        }
        if (k != REC_OK) {
            break;
        }
        if (r.committed) {
            bump_seq_end(fs, r.seq);
            if (r.seq < prev) {
                fs->sorted = 0; /* not written by this log: scan whole sectors */
            }
            prev = r.seq;
        }
        off += r.size;
    }
    *out_end = off;
    *out_tail_ok = 0;
    if (k == REC_END) {
        uint8_t b[CHUNK];
        uint32_t p = off;
        while (p < fs->fl.sector_size) {
            uint32_t n = fs->fl.sector_size - p < CHUNK ? fs->fl.sector_size - p : CHUNK;
            tma_status st = rd(fs, s, p, b, n);
            if (st != TMA_OK) {
                return st;
            }
            if (!all_ff(b, n)) {
                return TMA_OK;
            }
            p += n;
        }
        *out_tail_ok = 1;
    }
    return TMA_OK;
}

/* Find the live (committed, not deleted, data intact) copy of @p seq in a
 * sector other than @p skip. 1 found, 0 not, <0 error. */
static tma_status find(struct iothub_flash_storage *fs, uint32_t seq, uint32_t skip, uint32_t *out_s,
                       uint32_t *out_off, struct rec *out_r, int need_live)
{
    uint32_t s;
    for (s = 0; s < fs->fl.sector_count; s++) {
        uint32_t off;
        int learned = 0;
        tma_status k = s == skip ? 0 : live_sector(fs, s);
        if (k < 0) {
            return k;
        }
        if (k == 1 && resumes(fs, s, seq) && low_of(fs, s) > seq) {
            continue; /* no committed record of this seq in the sector */
        }
        off = scan_start(fs, s, seq);
        while (k == 1) {
            struct rec r;
            k = read_rec(fs, s, off, &r);
            if (k < 0) {
                return k;
            }
            if (k != REC_OK) {
                if (!learned) {
                    learn(fs, s, off, seq, NONE);
                }
                break;
            }
            if (!learned && r.committed && r.seq >= seq) {
                learn(fs, s, off, seq, r.seq);
                learned = 1;
            }
            if (fs->sorted && r.committed && r.seq > seq) {
                break; /* records of a sector are in seq order */
            }
            if (r.seq == seq && r.committed && (!need_live || !r.deleted)) {
                k = check_data(fs, s, off, &r);
                if (k < 0) {
                    return k;
                }
                if (k == 1) {
                    *out_s = s;
                    *out_off = off;
                    *out_r = r;
                    return 1;
                }
            }
            off += r.size;
            k = 1;
        }
    }
    return 0;
}

/* 1 when a sector with a completed reclaim (mark programmed) names
 * @p sseq as its source; 0 if none; <0 read error. */
static tma_status reclaimed(struct iothub_flash_storage *fs, uint32_t sseq)
{
    uint32_t s;
    struct shdr m;
    for (s = 0; s < fs->fl.sector_count; s++) {
        tma_status k = read_shdr(fs, s, &m);
        if (k < 0) {
            return k;
        }
        if (k == 1 && m.marked && m.src == sseq) {
            return 1;
        }
    }
    return 0;
}

/* A reclaimed sector whose erase failed: its records were copied (or were
 * damaged and dropped), so mark each one still live deleted, which makes the
 * sector hold nothing (a later reclaim of the copy cannot bring them back),
 * and remember it as bad. TMA_OK or the port's error. */
static tma_status retire(struct iothub_flash_storage *fs, uint32_t s)
{
    uint32_t off = first_rec(fs);
    struct rec r;
    tma_status k;
    forget(fs, s);
    for (;;) {
        k = read_rec(fs, s, off, &r);
        if (k < 0) {
            return k;
        }
        if (k != REC_OK) {
            break;
        }
        if (r.committed && !r.deleted) {
            k = prog_flag(fs, s, off + rhdr(fs) + unit(fs));
            if (k != TMA_OK) {
                return k;
            }
        }
        off += r.size;
    }
    set_bad(fs, s, 1);
    return TMA_OK;
}

/* Re-read the state from flash (see the file comment). */
static tma_status recover(struct iothub_flash_storage *fs)
{
    uint32_t s, data = 0, pass, newest = 0, end = 0;
    struct shdr h, head_h;
    int tail_ok = 0;
    tma_status k;
    memset(&head_h, 0, sizeof head_h);
    forget_all(fs);
    for (pass = 0;; pass++) {
        int erased = 0;
        fs->ok = 0;
        fs->head = NONE;
        fs->head_off = fs->fl.sector_size;
        fs->top_sseq = 0;
        fs->obsolete = 0;
        fs->clean = NONE; /* after a restart nothing is known to be erased */
        fs->sorted = 1;
        fs->seq_end = 0;
        for (s = 0; s < fs->fl.sector_count && !erased; s++) {
            k = read_shdr(fs, s, &h);
            if (k < 0) {
                return k;
            }
            if (k != 1) {
                continue;
            }
            if (h.sseq > fs->top_sseq) {
                fs->top_sseq = h.sseq;
            }
            if (h.floor > fs->seq_end) {
                fs->seq_end = h.floor;
            }
            /* A sector whose reclaim completed (a marked sector names it as
             * its source) but whose erase was cut: erase it now, while the
             * mark that says so still exists. */
            k = reclaimed(fs, h.sseq);
            if (k < 0) {
                return k;
            }
            if (k == 1 && pass <= fs->fl.sector_count && !is_bad(fs, s, NONE)) {
                k = fs->fl.erase(fs->fl.ctx, s);
                if (k != TMA_OK && retire(fs, s) != TMA_OK) {
                    return k;
                }
                erased = k == TMA_OK;
            }
        }
        if (erased) {
            continue;
        }
        data = 0;
        newest = 0;
        for (s = 0; s < fs->fl.sector_count; s++) {
            uint32_t e;
            int t;
            k = data_sector(fs, s, &h);
            if (k < 0) {
                return k;
            }
            if (k != 1) {
                continue;
            }
            data++;
            k = walk(fs, s, &e, &t);
            if (k < 0) {
                return k;
            }
            if (h.sseq > newest) {
                newest = h.sseq;
                head_h = h;
                fs->head = s;
                end = e;
                tail_ok = t;
            }
        }
        if (fs->head != NONE) {
            fs->head_off = tail_ok ? end : fs->fl.sector_size;
        }
        if (data == 0u || head_h.src == 0u || head_h.marked || pass > fs->fl.sector_count + 1u) {
            break;
        }
        /* A reclaim into the head was cut before its mark. Without bad
         * sectors no sector is free then (a reclaim takes the last free
         * one); with them (free but not usable) some are, so this does not
         * depend on the count of free sectors.
         * The source is complete; erase the partial copy, but only if every
         * record in it is indeed a copy (else keep it: puts that need a new
         * sector then get FULL). */
        {
            uint32_t off = first_rec(fs), cs, co;
            struct rec r, o;
            int own = 0;
            for (;;) {
                k = read_rec(fs, fs->head, off, &r);
                if (k < 0) {
                    return k;
                }
                if (k != REC_OK) {
                    break;
                }
                if (r.committed) {
                    k = find(fs, r.seq, fs->head, &cs, &co, &o, 0);
                    if (k < 0) {
                        return k;
                    }
                    if (k == 0) {
                        own = 1;
                        break;
                    }
                }
                off += r.size;
            }
            if (own) {
                break;
            }
        }
        k = fs->fl.erase(fs->fl.ctx, fs->head);
        if (k != TMA_OK) {
            return k;
        }
    }
    forget_all(fs);
    fs->ok = 1;
    return TMA_OK;
}

static tma_status ensure(struct iothub_flash_storage *fs)
{
    return fs->ok ? TMA_OK : recover(fs);
}

/* After a port error the RAM state may be behind the flash: re-read it
 * before the next operation. */
static tma_status failed(struct iothub_flash_storage *fs, tma_status st)
{
    fs->ok = 0;
    return st;
}

static uint32_t geometry_ok(const struct iothub_flash *f)
{
    uint32_t u = f->program_unit;
    if (u != 1u && u != 2u && u != 4u && u != 8u && u != 16u && u != 32u) {
        return 0;
    }
    if (f->sector_size < 128u || f->sector_size < 8u * u || f->sector_size % u != 0u || f->sector_count < 2u ||
        f->sector_size > UINT32_MAX / f->sector_count) {
        return 0;
    }
    return 1;
}

tma_status iothub_flash_storage_open(struct iothub_flash_storage *fs, const struct iothub_flash *flash,
                                     struct iothub_storage *out_storage)
{
    tma_status st;
    if (fs == NULL || flash == NULL || out_storage == NULL || flash->read == NULL ||
        flash->program == NULL || flash->erase == NULL || !geometry_ok(flash)) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    memset(fs, 0, sizeof(*fs));
    fs->fl = *flash;
    fs->hdr_len = round_up(SHDR_BYTES, flash->program_unit);
    st = recover(fs);
    if (st != TMA_OK) {
        return st;
    }
    out_storage->ctx = fs;
    out_storage->put = iothub_flash_storage_put;
    out_storage->get = iothub_flash_storage_get;
    out_storage->del = iothub_flash_storage_del;
    out_storage->next = iothub_flash_storage_next;
    out_storage->seq_end = iothub_flash_storage_seq_end;
    out_storage->rebase = iothub_flash_storage_rebase;
    return TMA_OK;
}

size_t iothub_flash_storage_max_record(const struct iothub_flash_storage *fs)
{
    uint32_t room;
    if (fs == NULL || fs->hdr_len == 0u) {
        return 0;
    }
    room = fs->fl.sector_size - first_rec(fs) - rhdr(fs) - 2u * unit(fs);
    return (size_t)(room / unit(fs) * unit(fs));
}

/* Erase sector @p s and stamp it as the new head. */
static tma_status stamp(struct iothub_flash_storage *fs, uint32_t s, uint32_t src)
{
    uint8_t b[SHDR_MAX + MAX_UNIT];
    tma_status st;
    /* Sector sequences end below NONE (read_shdr() refuses it): a log this
     * far along (only a crafted image; one stamp per sector filled) takes
     * no new sector rather than write one it could not read back. */
    if (fs->top_sseq >= NONE - 1u) {
        return S_ERR(TMA_C_STATE);
    }
    /* A sector this session erased completely (the last reclaim's source)
     * and left alone since needs no second erase. */
    forget(fs, s);
    st = s == fs->clean ? TMA_OK : fs->fl.erase(fs->fl.ctx, s);
    fs->clean = NONE;
    if (st != TMA_OK) {
        return st;
    }
    memset(b, 0xFF, sizeof b);
    put_le32(b, MAGIC);
    put_le32(b + 4, fs->top_sseq + 1u);
    put_le32(b + 8, fs->seq_end);
    put_le32(b + 12, src);
    put_le32(b + 16, crc32_update(0, b, 16));
    st = prog(fs, s, 0, b, fs->hdr_len);
    if (st != TMA_OK) {
        return st;
    }
    fs->top_sseq++;
    fs->head = s;
    fs->head_off = first_rec(fs);
    return TMA_OK;
}

/* Copy the live record at @p off of sector @p from to the head. */
static tma_status copy_rec(struct iothub_flash_storage *fs, uint32_t from, uint32_t off, const struct rec *r)
{
    uint8_t b[CHUNK];
    uint32_t u = unit(fs), h = rhdr(fs), done = 0, body = r->size - h - 2u * u;
    uint32_t to = fs->head, at = fs->head_off;
    tma_status st = rd(fs, from, off, b, h);
    if (st == TMA_OK) {
        st = prog(fs, to, at, b, h);
    }
    while (st == TMA_OK && done < body) {
        uint32_t n = body - done < CHUNK ? body - done : CHUNK;
        uint32_t d = h + 2u * u + done;
        st = rd(fs, from, off + d, b, n);
        if (st == TMA_OK) {
            st = prog(fs, to, at + d, b, n);
        }
        done += n;
    }
    if (st == TMA_OK) {
        st = prog_flag(fs, to, at + h);
    }
    if (st == TMA_OK) {
        fs->head_off += r->size;
    }
    return st;
}

/* Sum of the sizes of the live records of sector @p s (<0: read error).
 * Records whose data fails its CRC are counted too (they are not copied, so
 * the sum is an upper bound of what a reclaim copies). */
static tma_status live_bytes(struct iothub_flash_storage *fs, uint32_t s, uint32_t *out)
{
    uint32_t off = first_rec(fs);
    struct rec r;
    tma_status k;
    *out = 0;
    for (;;) {
        k = read_rec(fs, s, off, &r);
        if (k < 0) {
            return k;
        }
        if (k != REC_OK) {
            return TMA_OK;
        }
        if (r.committed && !r.deleted) {
            *out += r.size;
        }
        off += r.size;
    }
}

/* Move the live records of sector @p old into the free sector
 * @p spare, mark the copy complete, erase @p old. */
static tma_status reclaim(struct iothub_flash_storage *fs, uint32_t old, uint32_t old_sseq, uint32_t spare)
{
    uint32_t off = first_rec(fs);
    struct rec r;
    tma_status k = TMA_OK; /* the spare is stamped (make_room) */
    while (k == TMA_OK) {
        k = read_rec(fs, old, off, &r);
        if (k < 0) {
            return k;
        }
        if (k != REC_OK) {
            k = TMA_OK;
            break;
        }
        k = TMA_OK;
        if (r.committed && !r.deleted) {
            k = check_data(fs, old, off, &r);
            if (k == 1) {
                k = copy_rec(fs, old, off, &r);
            } else if (k == 0) {
                k = TMA_OK; /* damaged: not copied */
            }
        }
        off += r.size;
    }
    if (k == TMA_OK) {
        k = prog_flag(fs, spare, fs->hdr_len);
    }
    if (k == TMA_OK) {
        fs->obsolete = old_sseq;
        /* every sector stamped with this sequence stops being live (a
         * crafted image may carry it twice), not only the one erased */
        forget_all(fs);
        k = fs->fl.erase(fs->fl.ctx, old);
        if (k != TMA_OK) {
            /* a worn sector: the copy is complete, so retiring it is enough */
            return retire(fs, old) == TMA_OK ? TMA_OK : k;
        }
        fs->clean = old;
    }
    return k;
}

/* Make room for a record of @p size bytes at the head: open a free sector
 * while two are free; else reclaim, into the last free one, the sector with
 * the fewest live bytes (FIFO deletes leave dead records in the sectors
 * written first, and in the copies a reclaim moved forward). Bad sectors
 * (is_bad()) do not count as free; when a stamp fails on a sector that
 * stays free, it becomes bad and the choice is made again. Only when every
 * free sector is bad is one of them tried again (its error is returned). */
static tma_status make_room(struct iothub_flash_storage *fs, uint32_t size)
{
    uint32_t i, s, nfree, nbad, pick, spare, bpick, bspare, victim, victim_sseq, least, next_least, live, dead;
    uint32_t skip = NONE, target;
    int erased = 0;
    uint32_t start = fs->head == NONE ? 0u : fs->head + 1u;
    struct shdr h;
    tma_status k;
again:
    nfree = nbad = 0;
    pick = spare = bpick = bspare = victim = dead = NONE;
    victim_sseq = 0;
    least = next_least = UINT32_MAX;
    for (i = 0; i < fs->fl.sector_count; i++) {
        s = (start + i) % fs->fl.sector_count;
        k = data_sector(fs, s, &h);
        if (k < 0) {
            return k;
        }
        if (k != 1) {
            if (is_bad(fs, s, skip)) {
                nbad++;
                bspare = s;
                bpick = bpick == NONE ? s : bpick;
                continue;
            }
            nfree++;
            spare = s;
            if (pick == NONE) {
                pick = s;
            }
            continue;
        }
        if (is_bad(fs, s, skip)) {
            continue; /* retired: holds nothing, cannot be erased */
        }
        k = live_bytes(fs, s, &live);
        if (k < 0) {
            return k;
        }
        if (live < least || (live == least && h.sseq < victim_sseq)) {
            next_least = least;
            least = live;
            victim = s;
            victim_sseq = h.sseq;
        } else if (live < next_least) {
            next_least = live;
        }
        if (live == 0u && s != fs->head) {
            dead = s;
        }
    }
    /* No free sector (a kept partial copy, a foreign image): a reclaim has
     * nowhere to copy to, and FULL would last for ever, however many
     * records the outbox deletes. A sector other than the head with no live
     * record holds nothing to keep (the head carries the newest floor and
     * records, so seq_end stays): erase it and choose again (once: an erase
     * that reports success but leaves the sector as it was gives FULL, not
     * a loop). Only when the reclaim after it can take the record (the
     * fewest live bytes among the other sectors plus the record fit): a put
     * that answers FULL writes nothing, and on a crafted image the dead
     * sector may carry the top seq, which the reclaim's stamp then keeps as
     * its floor (the fuzz target found a FULL put that had erased it). */
    if (nfree == 0u && dead != NONE && !erased) {
        if (fs->top_sseq >= NONE - 1u) {
            return S_ERR(TMA_C_STATE); /* what the reclaim's stamp would answer */
        }
        if ((victim == dead ? next_least : least) + size > fs->fl.sector_size - first_rec(fs)) {
            return S_ERR(TMA_C_FULL);
        }
        forget(fs, dead);
        k = fs->fl.erase(fs->fl.ctx, dead);
        if (k != TMA_OK) {
            return k;
        }
        fs->clean = dead;
        erased = 1;
        goto again;
    }
    if (nfree == 0u && nbad > 0u) {
        /* every free sector is bad: try one again, as if it were good */
        nfree = nbad;
        pick = bpick;
        spare = bspare;
    }
    if (nfree < 2u && (nfree == 0u || victim == NONE || least + size > fs->fl.sector_size - first_rec(fs))) {
        return S_ERR(TMA_C_FULL);
    }
    target = nfree >= 2u ? pick : spare;
    k = stamp(fs, target, nfree >= 2u ? 0u : victim_sseq);
    if (k != TMA_OK) {
        tma_status f;
        if (k == S_ERR(TMA_C_STATE) || is_bad(fs, target, skip)) {
            return k;
        }
        /* still free (the erase failed, or the header did not program)?
         * then it is bad: choose again without it */
        f = data_sector(fs, target, &h);
        if (f != 0) {
            return f < 0 ? f : k;
        }
        if (target < IOTHUB_FLASH_BAD_SECTORS) {
            set_bad(fs, target, 1);
        } else if (skip == NONE) {
            skip = target;
        } else {
            return k;
        }
        goto again;
    }
    set_bad(fs, target, 0);
    return nfree >= 2u ? TMA_OK : reclaim(fs, victim, victim_sseq, spare);
}

/* 1 when the live record @p seq holds exactly the concatenated @p parts. */
static tma_status same_record(struct iothub_flash_storage *fs, uint32_t seq, const struct tma_span *parts,
                              size_t nparts, uint32_t total)
{
    uint8_t b[CHUNK];
    uint32_t s, off, at;
    struct rec r;
    size_t i, done;
    tma_status k = find(fs, seq, NONE, &s, &off, &r, 1);
    if (k != 1 || r.len != total) {
        return k < 0 ? k : 0;
    }
    at = off + rhdr(fs) + 2u * unit(fs);
    for (i = 0; i < nparts; i++) {
        for (done = 0; done < parts[i].len;) {
            size_t n = parts[i].len - done < CHUNK ? parts[i].len - done : CHUNK;
            k = rd(fs, s, at, b, n);
            if (k != TMA_OK) {
                return k;
            }
            if (memcmp(b, parts[i].ptr + done, n) != 0) {
                return 0;
            }
            at += (uint32_t)n;
            done += n;
        }
    }
    return 1;
}

tma_status iothub_flash_storage_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t nparts)
{
    struct iothub_flash_storage *fs = ctx;
    uint8_t b[CHUNK];
    uint32_t total = 0, crc, size, u, at, fill, guard;
    size_t i, j;
    tma_status st;
    /* seq NONE: seq_end() cannot count past it, so a second put of it would
     * not be refused as below seq_end() */
    if (fs == NULL || seq == NONE || (parts == NULL && nparts > 0u)) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    st = ensure(fs);
    if (st != TMA_OK) {
        return st;
    }
    for (i = 0; i < nparts; i++) {
        if ((parts[i].ptr == NULL && parts[i].len > 0u) ||
            parts[i].len > iothub_flash_storage_max_record(fs) - total) {
            return S_ERR(TMA_C_BAD_PARAM);
        }
        total += (uint32_t)parts[i].len;
    }
    if (seq < fs->seq_end) {
        /* Only the retry of a put that went through although the port
         * reported an error: the same record again is accepted as done. */
        st = same_record(fs, seq, parts, nparts, total);
        if (st < 0) {
            return failed(fs, st);
        }
        return st == 1 ? TMA_OK : S_ERR(TMA_C_BAD_PARAM);
    }
    u = unit(fs);
    size = rec_size(fs, total);
    for (guard = 0; fs->head == NONE || fs->head_off > fs->fl.sector_size ||
                    fs->fl.sector_size - fs->head_off < size;
         guard++) {
        st = guard < 2u ? make_room(fs, size) : S_ERR(TMA_C_INTERNAL);
        if (st != TMA_OK) {
            return TMA_STATUS_CODE(st) == TMA_C_FULL && TMA_STATUS_LAYER(st) == TMA_LAYER_STORE
                       ? st
                       : failed(fs, st);
        }
    }
    at = fs->head_off;
    /* header */
    put_le32(b, seq);
    put_le32(b + 4, total);
    crc = crc32_update(0, b, 8);
    for (i = 0; i < nparts; i++) {
        crc = crc32_update(crc, parts[i].ptr, parts[i].len);
    }
    put_le32(b + 8, crc);
    put_le32(b + 12, crc32_update(0, b, 12));
    memset(b + RHDR_BYTES, 0xFF, rhdr(fs) - RHDR_BYTES);
    st = prog(fs, fs->head, at, b, rhdr(fs));
    /* data, gathered into CHUNK-sized unit-aligned programs, padded with 0xFF */
    at += rhdr(fs) + 2u * u;
    fill = 0;
    for (i = 0; i < nparts && st == TMA_OK; i++) {
        for (j = 0; j < parts[i].len && st == TMA_OK;) {
            size_t n = parts[i].len - j < CHUNK - fill ? parts[i].len - j : CHUNK - fill;
            memcpy(b + fill, parts[i].ptr + j, n);
            fill += (uint32_t)n;
            j += n;
            if (fill == CHUNK) {
                st = prog(fs, fs->head, at, b, CHUNK);
                at += CHUNK;
                fill = 0;
            }
        }
    }
    if (st == TMA_OK && fill > 0u) {
        uint32_t padded = round_up(fill, u);
        memset(b + fill, 0xFF, padded - fill);
        st = prog(fs, fs->head, at, b, padded);
    }
    if (st == TMA_OK) {
        st = prog_flag(fs, fs->head, fs->head_off + rhdr(fs));
        if (st != TMA_OK) {
            /* the port reported an error for the commit: if it is in
             * flash all the same, the put is done */
            struct rec r;
            if (read_rec(fs, fs->head, fs->head_off, &r) == REC_OK && r.committed && r.seq == seq &&
                check_data(fs, fs->head, fs->head_off, &r) == 1) {
                st = TMA_OK;
            }
        }
    }
    if (st != TMA_OK) {
        return failed(fs, st);
    }
    /* the head's records before its cursor are unchanged; the new one (at
     * or after the cursor) lowers the bound of those from the cursor on */
    {
        struct iothub_flash_cursor *c = cursor(fs, fs->head);
        if (c != NULL && c->off > CUR_NOT_LIVE && seq < c->low) {
            c->low = seq;
        }
    }
    fs->head_off += size;
    bump_seq_end(fs, seq);
    return TMA_OK;
}

/* For get() and del(): 1 with the live record of @p seq at (*s, *off) in
 * *r, else the status to return (TMA_C_NOT_FOUND, a port error). */
static tma_status locate(struct iothub_flash_storage *fs, uint32_t seq, uint32_t *s, uint32_t *off,
                         struct rec *r)
{
    tma_status k = ensure(fs);
    if (k != TMA_OK) {
        return k;
    }
    k = find(fs, seq, NONE, s, off, r, 1);
    if (k < 0) {
        return failed(fs, k);
    }
    return k == 0 ? S_ERR(TMA_C_NOT_FOUND) : 1;
}

tma_status iothub_flash_storage_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct iothub_flash_storage *fs = ctx;
    uint32_t s, off;
    struct rec r;
    tma_status k;
    if (fs == NULL || out_len == NULL || (buf == NULL && cap > 0u)) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    *out_len = 0;
    k = locate(fs, seq, &s, &off, &r);
    if (k != 1) {
        return k;
    }
    *out_len = r.len;
    if (cap < r.len) {
        return S_ERR(TMA_C_TOO_SMALL);
    }
    k = r.len > 0u ? rd(fs, s, off + rhdr(fs) + 2u * unit(fs), buf, r.len) : TMA_OK;
    if (k != TMA_OK) {
        return failed(fs, k);
    }
    {
        uint8_t h[8];
        put_le32(h, r.seq);
        put_le32(h + 4, r.len);
        if (crc32_update(crc32_update(0, h, 8), buf, r.len) != r.dcrc) {
            return S_ERR(TMA_C_INTEGRITY);
        }
    }
    return TMA_OK;
}

tma_status iothub_flash_storage_del(void *ctx, uint32_t seq)
{
    struct iothub_flash_storage *fs = ctx;
    uint32_t s, off;
    struct rec r;
    tma_status k;
    if (fs == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    k = locate(fs, seq, &s, &off, &r);
    if (k != 1) {
        return k;
    }
    k = prog_flag(fs, s, off + rhdr(fs) + unit(fs));
    return k == TMA_OK ? TMA_OK : failed(fs, k);
}

tma_status iothub_flash_storage_next(void *ctx, uint32_t from, uint32_t *out_seq)
{
    struct iothub_flash_storage *fs = ctx;
    uint32_t i, first, best = 0;
    int have = 0;
    tma_status k;
    if (fs == NULL || out_seq == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    k = ensure(fs);
    if (k != TMA_OK) {
        return k;
    }
    /* The sector of the last answer first: the next answer is most often
     * there, and with it in hand the other sectors' cursors rule them out
     * without a read. The answer does not depend on the order. */
    first = fs->hint < fs->fl.sector_count ? fs->hint : 0u;
    for (i = 0; i < fs->fl.sector_count; i++) {
        uint32_t s = first < fs->fl.sector_count - i ? first + i : first - (fs->fl.sector_count - i);
        uint32_t off;
        int learned = 0;
        k = live_sector(fs, s);
        if (k == 1 && have && resumes(fs, s, from) && low_of(fs, s) >= best) {
            continue; /* nothing in [from, best) here */
        }
        off = k == 1 ? scan_start(fs, s, from) : 0u;
        while (k == 1) {
            struct rec r;
            tma_status kr = read_rec(fs, s, off, &r);
            if (kr < 0) {
                k = kr;
                break;
            }
            if (kr != REC_OK) {
                if (!learned) {
                    learn(fs, s, off, from, NONE);
                }
                break;
            }
            if (r.committed && !learned && r.seq >= from) {
                learn(fs, s, off, from, r.seq);
                learned = 1;
            }
            if (r.committed && !r.deleted && r.seq >= from) {
                if (have && r.seq >= best) {
                    if (fs->sorted) {
                        break; /* nothing smaller follows */
                    }
                } else {
                    kr = check_data(fs, s, off, &r);
                    if (kr < 0) {
                        k = kr;
                        break;
                    }
                    if (kr == 1) {
                        best = r.seq;
                        have = 1;
                        fs->hint = s;
                        fs->hint_off = off;
                        fs->hint_seq = r.seq;
                        fs->hint_size = r.size;
                        if (fs->sorted) {
                            break;
                        }
                    }
                    /* damaged: look further */
                }
            }
            off += r.size;
        }
        if (k < 0) {
            return failed(fs, k);
        }
    }
    if (!have) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    *out_seq = best;
    return TMA_OK;
}

uint32_t iothub_flash_storage_seq_end(void *ctx)
{
    struct iothub_flash_storage *fs = ctx;
    if (fs == NULL || ensure(fs) != TMA_OK) {
        return fs == NULL ? 0u : fs->seq_end;
    }
    return fs->seq_end;
}

/* With no live record, erase every sector, the head last: the head alone
 * holds seq_end (its floor is seq_end at its stamping, and every record
 * committed since is in it), so a cut before its erase leaves seq_end as it
 * was, and a cut during it leaves what the torn head still shows, at most
 * the old value. Recovery re-reads the blank log (seq_end 0).
 * A sector whose erase fails but that shows no sector header holds nothing
 * recovery reads: as good as erased (it becomes bad). One that still shows
 * its header (retired with its content) would keep its records' numbers, so
 * the rebase cannot complete: checked first, so that a rebase that cannot
 * complete erases nothing (the outbox asks again at every push while its log
 * is empty: each try used to erase the good sectors before failing). A
 * failed erase marks its sector bad, so after a restart one try at most
 * erases in vain. */
tma_status iothub_flash_storage_rebase(void *ctx)
{
    struct iothub_flash_storage *fs = ctx;
    uint32_t i, s;
    struct shdr h;
    tma_status k;
    if (fs == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    k = iothub_flash_storage_next(fs, 0u, &s);
    if (k != S_ERR(TMA_C_NOT_FOUND)) {
        return k == TMA_OK ? S_ERR(TMA_C_STATE) : k;
    }
    for (s = 0; s < fs->fl.sector_count; s++) {
        if (is_bad(fs, s, NONE)) {
            k = read_shdr(fs, s, &h);
            if (k != 0) {
                return k < 0 ? failed(fs, k) : S_ERR(TMA_C_IO);
            }
        }
    }
    fs->ok = 0;
    for (i = 1u; i <= fs->fl.sector_count; i++) {
        uint32_t s2 = (fs->head + i) % fs->fl.sector_count;
        k = fs->fl.erase(fs->fl.ctx, s2);
        if (k != TMA_OK) {
            set_bad(fs, s2, 1);
            if (read_shdr(fs, s2, &h) != 0) {
                return k;
            }
        }
    }
    return TMA_OK;
}
