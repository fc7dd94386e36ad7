/**
 * @file flash_file.h
 * @brief A file that behaves like NOR flash, for the outbox's flash log on
 * Linux (port/flash_file.c).
 *
 * Gives struct iothub_flash (iothub/storage_flash.h) over a regular file of
 * sector_count x sector_size bytes, so the log that runs on a
 * microcontroller's flash can be driven end to end by the Linux samples and
 * killed with SIGKILL at any point. NOR rules are enforced, not assumed:
 *  - a new file reads 0xFF everywhere (erased);
 *  - program() clears bits only (new byte = old AND data), and refuses an
 *    address or length that is not a multiple of the program unit;
 *  - with IOTHUB_FLASH_FILE_STRICT it also refuses to program a unit that
 *    is not erased (each unit once per erase, as ECC flash and ESP32 flash
 *    encryption demand): a log bug shows up as an error, not as silently
 *    merged bits;
 *  - erase() writes 0xFF over one sector.
 * The file is the raw flash image (sector 0 first) followed by a 20-byte
 * trailer: "TMAFLSH" and a format version, then the sector count, sector
 * size and program unit (little-endian 32-bit). The trailer lets a flash be
 * reopened without repeating its geometry and keeps a flash from being
 * reopened with another geometry of the same size, which the log would take
 * for a foreign flash and erase. `head -c <sectors x size>` gives the image.
 * Every operation is one pwrite(), so a process killed at any point leaves
 * each operation done or not done (not torn inside a unit); a power cut is
 * not modelled here (storage_flash's own tests do that).
 *
 * One process at a time: the file is locked with flock() while open, and a
 * second open gets TMA_C_IN_USE. The lock goes away with the process, also
 * on SIGKILL.
 *
 * Host code (C11, POSIX), not device core.
 */
#ifndef IOTHUB_FLASH_FILE_H
#define IOTHUB_FLASH_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "iothub/storage_flash.h"
#include "tma/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** fdatasync() after every program and erase (survives a power cut of the host). */
#define IOTHUB_FLASH_FILE_SYNC 0x1u
/** Refuse to program a unit that is not all 0xFF (TMA_C_STATE). */
#define IOTHUB_FLASH_FILE_STRICT 0x2u

/** Defaults of iothub_flash_file_parse_spec(): 16 sectors of 4 KB, 16-byte
 *  unit (an ESP32 with flash encryption). */
#define IOTHUB_FLASH_FILE_DEFAULT_SECTORS 16u
#define IOTHUB_FLASH_FILE_DEFAULT_SECTOR_SIZE 4096u
#define IOTHUB_FLASH_FILE_DEFAULT_UNIT 16u

/** Largest flash accepted (sector_count x sector_size). */
#define IOTHUB_FLASH_FILE_MAX_BYTES (1024u * 1024u * 1024u)
/** Bytes after the flash image: magic, version, geometry. */
#define IOTHUB_FLASH_FILE_TRAILER 20u

/** Flash geometry; all three 0 means "not given" (iothub_flash_file_open()
 *  then takes it from the file, or uses the defaults for a new file). */
struct iothub_flash_geometry {
    uint32_t sector_count;
    uint32_t sector_size;
    uint32_t program_unit;
};

/** Open flash file; fields private except the counters. */
struct iothub_flash_file {
    int fd;
    int is_open;           /* 0: closed (a zeroed context is closed) */
    struct iothub_flash_geometry geo;
    unsigned flags;
    uint64_t file_size;    /**< size of the file found (also after a failed open) */
    struct iothub_flash_geometry found; /**< geometry in the file's trailer (0s: none); after
                                             TMA_C_MALFORMED it says which of the two cases */
    uint32_t programs;     /**< program() calls that succeeded */
    uint32_t erases;       /**< erase() calls that succeeded */
};

/**
 * @brief Check a geometry against what the flash log accepts (unit 1, 2, 4,
 * 8, 16 or 32; sector size a multiple of the unit, >= 128 and >= 8 units;
 * at least 2 sectors; at most IOTHUB_FLASH_FILE_MAX_BYTES in all).
 * @return TMA_OK or TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM).
 */
tma_status iothub_flash_file_check_geometry(const struct iothub_flash_geometry *geo);

/**
 * @brief Split "FILE" or "FILE:SECTORS:SECTOR_SIZE:UNIT" (decimal numbers).
 * FILE ends at the first ':' (a path with ':' cannot be given). Without the
 * numbers @p out_geo is all 0 ("not given").
 * @param spec the option value.
 * @param out_path_len length of FILE in @p spec (not terminated there).
 * @param out_geo the geometry, checked with iothub_flash_file_check_geometry(),
 *        or all 0.
 * @return TMA_OK; TMA_ERR(TMA_LAYER_STORE, TMA_C_BAD_PARAM) for an empty
 *         FILE, not exactly three numbers after it, a number that is not
 *         plain decimal or out of range, or a geometry the log cannot use.
 */
tma_status iothub_flash_file_parse_spec(const char *spec, size_t *out_path_len,
                                        struct iothub_flash_geometry *out_geo);

/**
 * @brief Open (or create, all 0xFF) the flash file @p path and fill
 * @p out_flash with the port functions bound to @p ff.
 *
 * @p geo all 0: an existing flash is opened with the geometry it was made
 * with, a new one gets the defaults (16 x 4096, unit 16). A geometry given
 * must match the one of an existing flash.
 *
 * A new file is written under a temporary name, synced and then linked
 * into place, so a crash during creation never leaves a half-erased flash
 * at @p path. An existing file is only opened: nothing is written to it
 * before the log does.
 * @param ff context, owned by the caller until iothub_flash_file_close().
 * @param flags IOTHUB_FLASH_FILE_SYNC and/or IOTHUB_FLASH_FILE_STRICT.
 * @return TMA_OK; in layer TMA_LAYER_STORE: TMA_C_BAD_PARAM (NULL
 *         argument, bad geometry); TMA_C_MALFORMED, the file left untouched,
 *         ff->file_size its size, when it exists but is not a flash file
 *         (not a regular file, no valid trailer, a size that does not fit
 *         the trailer's geometry; ff->found all 0) or is a flash of another
 *         geometry than @p geo (ff->found holds it);
 *         TMA_C_IN_USE (another process has it open); TMA_C_IO (system
 *         error, errno kept).
 */
tma_status iothub_flash_file_open(struct iothub_flash_file *ff, const char *path,
                                  const struct iothub_flash_geometry *geo, unsigned flags,
                                  struct iothub_flash *out_flash);

/** @brief Close (releases the lock). Safe on a zeroed or closed context. */
void iothub_flash_file_close(struct iothub_flash_file *ff);

#ifdef __cplusplus
}
#endif

#endif
