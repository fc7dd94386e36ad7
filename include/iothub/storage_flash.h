/**
 * @file storage_flash.h
 * @brief Outbox storage on raw NOR flash for microcontrollers (device core).
 *
 * Implements struct iothub_storage (iothub/storage.h) as a ring log over a
 * range of erase sectors that the port describes with struct iothub_flash
 * (ESP-IDF partition, STM32 / nRF52 internal flash, SPI NOR). The layout and
 * the recovery rules are in docs/design/outbox.md, "MCU flash log".
 *
 * Rules the log keeps so it runs on every common MCU flash:
 *  - every program is aligned to the program unit and a multiple of it;
 *  - each program unit is programmed at most once between two erases (no
 *    second program to clear more bits: ECC flash such as STM32L4/H7 and
 *    ESP32 with flash encryption forbid it);
 *  - a sector is erased before it is written, and only sectors the log owns
 *    are touched.
 * Power may fail at any point: put() returns TMA_OK only once its record
 * is committed; a torn put stays invisible; a deleted record may come back
 * after a cut during its delete (at-least-once); a record whose put returned
 * TMA_OK and that was not deleted is never lost.
 *
 * No heap, no OS calls. RAM: struct iothub_flash_storage (no per-record
 * index: a few words plus 12 bytes for each of the first
 * IOTHUB_FLASH_CURSORS sectors and a bit for each of the first
 * IOTHUB_FLASH_BAD_SECTORS, 276 bytes on Cortex-M4) plus about 400
 * bytes of stack (see bench/storage_flash_size.sh). next(), get() and del()
 * scan record headers; the context remembers per sector where the last scan
 * stopped, so the outbox's calls in ascending order (the count at boot,
 * sending, acknowledging) read each record header about once per pass.
 * Not thread-safe.
 */
#ifndef IOTHUB_STORAGE_FLASH_H
#define IOTHUB_STORAGE_FLASH_H

#include <stddef.h>
#include <stdint.h>

#include "iothub/storage.h"
#include "tma/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The flash the port gives the log: @c sector_count sectors of
 * @c sector_size bytes at addresses 0 .. sector_count * sector_size - 1
 * (relative to the start of the log's partition). Erased bytes read 0xFF.
 * Each function returns TMA_OK or a negative tma_status (the log passes it
 * on to its caller and re-reads the flash before the next operation).
 */
struct iothub_flash {
    void *ctx;
    /** Read @p len bytes at @p addr (any alignment). A port whose flash
     *  faults on reading a unit with a broken ECC (a program cut by power
     *  loss) should return those bytes as 0x00 instead of faulting. */
    tma_status (*read)(void *ctx, uint32_t addr, uint8_t *buf, size_t len);
    /** Program @p len bytes at @p addr; both multiples of program_unit; the
     *  log programs each unit at most once after an erase. */
    tma_status (*program)(void *ctx, uint32_t addr, const uint8_t *data, size_t len);
    /** Erase sector @p sector (0 .. sector_count - 1) to 0xFF. */
    tma_status (*erase)(void *ctx, uint32_t sector);
    uint32_t sector_size;  /**< multiple of program_unit, >= 128 and >= 8 units */
    uint32_t sector_count; /**< >= 2: one sector is always kept free for reclaim */
    uint32_t program_unit; /**< 1, 2, 4, 8, 16 or 32 bytes */
};

/** Sectors (the first ones of the log) whose scan position the context
 * remembers; the scans of any further sectors start at their first record.
 * 12 bytes of context each: a build may set it (>= 1) to its sector count,
 * lower to save RAM at the cost of reads, or higher for a larger log.
 * It sets the size of struct iothub_flash_storage, so it must be the same
 * for storage_flash.c and for every file that declares the context: set it
 * for the whole build (a global compile definition), never for the log's
 * library alone (a library built with more cursors than its caller's
 * context holds would write past that context). */
#ifndef IOTHUB_FLASH_CURSORS
#define IOTHUB_FLASH_CURSORS 16u
#endif
#if IOTHUB_FLASH_CURSORS < 1
#error "IOTHUB_FLASH_CURSORS must be at least 1"
#endif

/** Sectors (the first ones of the log) whose failed erase the context
 * remembers, one bit each (rounded up to 32: 8 bytes by default), so that
 * put() skips them while another free sector is left and never picks them
 * to reclaim (docs/design/outbox.md, "Bad sectors"). A failing sector beyond
 * them is skipped only for the rest of the put that met it, so puts may
 * fail as before the log knew bad sectors: set it to the sector count of a
 * larger log. Same rule as IOTHUB_FLASH_CURSORS: set it for the whole
 * build. */
#ifndef IOTHUB_FLASH_BAD_SECTORS
#define IOTHUB_FLASH_BAD_SECTORS 64u
#endif
#if IOTHUB_FLASH_BAD_SECTORS < 1
#error "IOTHUB_FLASH_BAD_SECTORS must be at least 1"
#endif

/** Private: where the last scan of a sector stopped (see storage_flash.c). */
struct iothub_flash_cursor {
    uint32_t off;   /* 0: nothing known, 1: not a live sector, else a record offset */
    uint32_t below; /* every committed record before off has a seq below this */
    uint32_t low;   /* every committed record from off on has a seq >= this */
};

/** Context of the flash log; all fields private. */
struct iothub_flash_storage {
    struct iothub_flash fl;
    uint32_t hdr_len;     /* sector header, padded to the unit */
    uint32_t head;        /* sector appended to, or UINT32_MAX for none */
    uint32_t head_off;    /* append offset in it (sector_size: closed) */
    uint32_t top_sseq;    /* highest sector sequence seen */
    uint32_t obsolete;    /* sector sequence being erased after its reclaim (0: none) */
    uint32_t clean;       /* sector erased by this session and unused since, or UINT32_MAX */
    uint32_t seq_end;
    uint8_t ok;           /* 0: state to be re-read from flash before use */
    uint8_t sorted;       /* 1: every sector's records are in seq order (scans stop early) */
    uint32_t hint;        /* sector of the last next() answer: scanned first */
    uint32_t hint_off;    /* the answer's record offset there (0: not known), */
    uint32_t hint_seq;    /* its seq */
    uint32_t hint_size;   /* and the bytes it occupies */
    struct iothub_flash_cursor cur[IOTHUB_FLASH_CURSORS]; /* valid only while ok and sorted */
    uint32_t bad[(IOTHUB_FLASH_BAD_SECTORS + 31u) / 32u]; /* sectors whose erase or stamp failed (RAM only) */
};

/**
 * @brief Open the log on @p flash, recover what it holds and fill
 * @p out_storage with the six storage calls bound to @p fs.
 *
 * Recovery reads every sector header and the records of the live sectors.
 * It may write: when power was cut while a sector was being reclaimed, the
 * half-written copy is erased (the original is still complete); a cut
 * during that erase is recovered the same way on the next open.
 * A blank (all 0xFF) or foreign flash is an empty log; sectors are erased
 * before first use.
 * @param fs context, owned by the caller for as long as the storage is used.
 * @param flash port functions and geometry (copied).
 * @param out_storage filled on TMA_OK.
 * @return TMA_OK; TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM) for NULL
 *         arguments, a missing function or a geometry the log cannot use
 *         (unit not 1/2/4/8/16/32, sector size not a multiple of the unit or
 *         below 128 bytes or 8 units, fewer than 2 sectors, more than 4 GB); an error
 *         of the port's read/erase.
 */
tma_status iothub_flash_storage_open(struct iothub_flash_storage *fs, const struct iothub_flash *flash,
                                     struct iothub_storage *out_storage);

/**
 * @brief Largest record (sum of the put() parts) that fits in one sector.
 * put() refuses larger records with TMA_ERR(TMA_LAYER_STORE,
 * TMA_C_BAD_PARAM), never with TMA_C_FULL: no amount of dropping would make
 * them fit. 0 for a NULL or unopened context.
 */
size_t iothub_flash_storage_max_record(const struct iothub_flash_storage *fs);

/*
 * The storage calls (also reachable through the struct iothub_storage that
 * open() fills; @p ctx is the struct iothub_flash_storage):
 *  put:  TMA_OK once committed; TMA_C_FULL when the record does not fit even
 *        after reclaiming a sector (delete something and retry); a sector
 *        whose erase (or header program) fails is remembered as bad and
 *        the next free one is tried, while one is left (a log whose every
 *        free sector failed answers as before: FULL, or the port's error);
 *        TMA_C_BAD_PARAM for seq below seq_end(), seq UINT32_MAX (seq_end()
 *        cannot count past it) or a record larger than
 *        iothub_flash_storage_max_record(); TMA_C_STATE when a new sector is
 *        needed but the sector sequence is exhausted (only a crafted image
 *        gets there: the log never stamps a header it would not read
 *        back); a port error. A put of a seq
 *        below seq_end() that repeats a live record byte for byte returns
 *        TMA_OK without writing (the retry of a put that was committed
 *        although the port reported an error).
 *  get:  TMA_OK; TMA_C_NOT_FOUND; TMA_C_TOO_SMALL with *out_len = size;
 *        TMA_C_INTEGRITY when the bytes read differ from the ones checked.
 *  del:  TMA_OK; TMA_C_NOT_FOUND; a port error.
 *  next: TMA_OK; TMA_C_NOT_FOUND.
 *  rebase: erases every sector (the head last; docs/design/outbox.md)
 *        when no live record is stored: TMA_OK, seq_end() 0; TMA_C_STATE
 *        if a live record is stored (nothing erased); a port error (the
 *        state is re-read: seq_end() between 0 and its old value).
 *  A record with seq UINT32_MAX found on flash (only a forged or damaged
 *  one: put refuses it) is read as uncommitted.
 * All codes in layer TMA_LAYER_STORE except the port's own.
 */
tma_status iothub_flash_storage_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t nparts);
tma_status iothub_flash_storage_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len);
tma_status iothub_flash_storage_del(void *ctx, uint32_t seq);
tma_status iothub_flash_storage_next(void *ctx, uint32_t from, uint32_t *out_seq);
uint32_t iothub_flash_storage_seq_end(void *ctx);
tma_status iothub_flash_storage_rebase(void *ctx);

#ifdef __cplusplus
}
#endif

#endif
