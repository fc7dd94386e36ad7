/**
 * @file storage_file.h
 * @brief File-backed outbox storage for Linux/POSIX (port/storage_file.c).
 *
 * One append-only log file: a header ("TMAOUTB", format version 2, a
 * random per-log salt, a CRC-32), then PUT and DEL records, each with a
 * CRC-32 over its header (seeded with the salt) and one over the whole
 * record. A write torn by a crash is detected on open and cut off, so a
 * record is either complete or absent; a record whose header checks is
 * never searched for records inside it, so a message carrying the image of
 * a record cannot forge one at a power cut. A format 1 log (8-byte header,
 * no header CRC) is read by its old rules and rewritten as version 2 on
 * open (atomically, like compaction); member @c format_found says which. A file that does not start with the header is refused and left
 * untouched, except a file of at most 20 bytes that a power cut can leave of
 * a new log's header write (a prefix of it, or a prefix followed by zeros
 * where its size reached the disk before its bytes); it opens as an empty
 * log; so does a longer file of only a magic prefix and zeros (a new log
 * written without sync whose size reached the disk before its bytes) when
 * "<path>.lock" was there before the open, its bytes kept aside as damage.
 * A version 2 header whose CRC fails is refused untouched
 * (TMA_C_INTEGRITY). Damage that is not a torn tail (a record whose CRC fails with
 * valid records after it, or a full-length bad record at the end) is
 * skipped: recovery resynchronises on the next valid record, counts the
 * lost bytes, keeps a byte-exact copy of the damaged file as
 * "<path>.damaged" (".damaged.1" .. ".9" if taken) and rewrites the log from
 * the surviving records. With @c sync each put/del is fsync()ed before it
 * returns (survives power loss), and open() also fsyncs the directory, so a
 * new log's name is durable before the first put returns; without it the data is in the kernel page
 * cache when the call returns, which survives the process being killed
 * (SIGKILL) but not a power cut. When deleted records dominate, the log is
 * compacted into "<path>.tmp", fsync()ed and renamed over the log (atomic),
 * so a crash during compaction leaves the old or the new log, never a mix;
 * a failed directory fsync after that rename is reported (the log is
 * reopened) instead of letting later puts return OK on a rename a power cut
 * could undo; if the reopen fails too, the log is closed and the delete that
 * started the compaction and every later call return that status (member
 * @c failed) until the log is opened again. Power cuts at every file-system call are checked by the test
 * iothub_crashfs (docs/design/outbox.md, "Power cuts on Linux"), with
 * messages that carry record images.
 *
 * rebase() (struct iothub_storage) is a compaction (same salt) that writes
 * every live record and the seq marker with the number lowered by
 * IOTHUB_OUTBOX_REBASE_AT (no live record: marker 0): a crash leaves the
 * old log or the new one, never a mix; TMA_C_STATE, nothing written, while
 * a live record is below IOTHUB_OUTBOX_REBASE_AT. A put of seq UINT32_MAX is
 * refused (TMA_C_BAD_PARAM) and a PUT record of that seq found at open is
 * damage (skipped, kept aside).
 *
 * One process at a time: open() takes an exclusive lock on "<path>.lock"
 * (created next to the log and left there) and refuses a log another
 * process (or another open context) holds with TMA_C_IN_USE.
 * Not device core: allocates an in-memory index with malloc.
 */
#ifndef IOTHUB_STORAGE_FILE_H
#define IOTHUB_STORAGE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothub/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

struct iothub_file_entry;

struct iothub_file_storage {
    int fd;
    int lock_fd;                   /* holds the flock on "<path>.lock" */
    char *path;
    bool sync;
    struct iothub_file_entry *idx; /* by seq, ascending */
    size_t n;                      /* entries in idx */
    size_t cap;
    size_t first;                  /* entries before this one are all deleted */
    size_t live;
    uint64_t size;                 /* valid log bytes */
    uint64_t live_bytes;
    uint32_t seq_end;
    uint64_t compact_min;          /* do not compact logs smaller than this */
    uint32_t compactions;
    uint64_t truncated_bytes;      /* torn tail cut off at open */
    uint64_t damaged_bytes;        /* bytes skipped as damage at open */
    uint32_t damaged_regions;      /* damaged stretches skipped at open */
    char *damaged_path;            /* copy of the damaged log, NULL if none */
    tma_status failed;             /* a compaction could not reopen the log: it
                                    * is closed, and every call returns this */
    uint8_t salt[8];               /* v2: random per log, kept by compaction; in
                                    * every record header's CRC (not a key) */
    uint8_t format_found;          /* format version open() found: 2, or 1 for a
                                    * log it rewrote as 2 (0: new log) */
};

/**
 * @brief Open (or create) the log at @p path and recover its records.
 * @return TMA_OK (check damaged_bytes / truncated_bytes and report them);
 *         TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED) if the file is not an
 *         outbox (left untouched); TMA_C_UNSUPPORTED for an outbox of another
 *         format version; TMA_C_INTEGRITY for a version 2 log whose file
 *         header fails its CRC, or a crafted log whose recovery would CRC
 *         more than 256 MiB + 16 x its size (both left untouched;
 *         docs/decisions/storage-review-11.md R1); TMA_C_IN_USE if another process (or context)
 *         has it open; TMA_C_IO with errno kept on a system error;
 *         TMA_C_BAD_PARAM.
 */
tma_status iothub_file_storage_open(struct iothub_file_storage *fs, const char *path, bool sync);

/** @brief Close and free. Safe on a zeroed or already closed context. */
void iothub_file_storage_close(struct iothub_file_storage *fs);

/** @brief The storage interface bound to @p fs. */
struct iothub_storage iothub_file_storage_iface(struct iothub_file_storage *fs);

/** @brief Compact now (normally automatic). */
tma_status iothub_file_storage_compact(struct iothub_file_storage *fs);

#ifdef __cplusplus
}
#endif

#endif
