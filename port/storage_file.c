/* File-backed outbox storage: append-only log with CRC-32 records and
 * rename-based compaction. See include/iothub/storage_file.h. */
#define _DEFAULT_SOURCE /* pwritev */
#define _POSIX_C_SOURCE 200809L
#include "iothub/storage_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../src/common/le32.h"

#define S_ERR(code) TMA_ERR(TMA_LAYER_STORE, (code))
#define REC_PUT 0x50u  /* 'P' */
#define REC_DEL 0x44u  /* 'D' */
#define REC_SEQ 0x53u  /* 'S': seq_end marker written by compaction */
#define HDR_LEN 9u     /* type, seq (LE32), len (LE32) */
#define HCRC_LEN 4u    /* v2: CRC-32 of the log's salt and the header */
#define HDR2_LEN (HDR_LEN + HCRC_LEN)
#define CRC_LEN 4u
#define REC2_OVERHEAD (HDR2_LEN + CRC_LEN)
#define MAX_RECORD (16u * 1024u * 1024u)
#define COMPACT_MIN_DEFAULT (256u * 1024u)
/* Every log starts with a file header: 7 identifying bytes and a format
 * version. Version 1 (read, then rewritten as version 2): the 8 bytes alone,
 * records type, seq, len, data, CRC-32. Version 2: the 8 bytes, an 8-byte
 * random salt and a CRC-32 over those 16; records type, seq, len, a CRC-32
 * over salt + those 9 bytes, data, CRC-32 over everything before it.
 * docs/design/outbox.md, "Linux file". */
#define MAGIC_LEN 8u
#define SALT_LEN 8u
#define FHDR2_LEN (MAGIC_LEN + SALT_LEN + CRC_LEN)
#define MAGIC_V1 {'T', 'M', 'A', 'O', 'U', 'T', 'B', 0x01}
#define MAGIC_V2 {'T', 'M', 'A', 'O', 'U', 'T', 'B', 0x02}

struct iothub_file_entry {
    uint32_t seq;
    uint32_t len;   /* data length */
    uint64_t off;   /* offset of the data in the log */
    uint8_t live;
};

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    uint32_t i, k, c;
    for (i = 0; i < 256; i++) {
        c = i;
        for (k = 0; k < 8; k++) {
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[i] = c;
    }
    crc_ready = 1;
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    size_t i;
    if (!crc_ready) {
        crc_init();
    }
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    }
    return ~crc;
}

static tma_status write_all(int fd, uint64_t off, const struct iovec *iov_in, int iovcnt)
{
    struct iovec iov[8];
    int i = 0;
    if (iovcnt > 8) {
        return S_ERR(TMA_C_INTERNAL);
    }
    memcpy(iov, iov_in, sizeof(iov[0]) * (size_t)iovcnt);
    while (i < iovcnt) {
        /* One positioned gather write per record: no seek, one syscall. */
        ssize_t w = pwritev(fd, iov + i, iovcnt - i, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return S_ERR(TMA_C_IO);
        }
        off += (uint64_t)w;
        while (i < iovcnt && (size_t)w >= iov[i].iov_len) {
            w -= (ssize_t)iov[i].iov_len;
            i++;
        }
        if (i < iovcnt) {
            iov[i].iov_base = (char *)iov[i].iov_base + w;
            iov[i].iov_len -= (size_t)w;
        }
    }
    return TMA_OK;
}

/* Read exactly @p n bytes at @p off (a short file is TMA_C_IO). */
static tma_status read_at(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return S_ERR(TMA_C_IO);
        }
        got += (size_t)r;
    }
    return TMA_OK;
}

/* The v2 header check: CRC-32 over the log's salt, then type, seq, len. A
 * message cannot carry a header that passes it without the salt. */
static uint32_t header_crc(const struct iothub_file_storage *fs, const uint8_t *hdr)
{
    return crc_update(crc_update(0, fs->salt, SALT_LEN), hdr, HDR_LEN);
}

/* Append one v2 record built from header fields and data parts, in one
 * gathered write (a crash keeps a prefix of it). */
static tma_status append_record(struct iothub_file_storage *fs, int fd, uint64_t *size, uint8_t type,
                                uint32_t seq, const struct tma_span *parts, size_t nparts,
                                uint64_t *out_data_off)
{
    uint8_t hdr[HDR2_LEN], crcb[CRC_LEN];
    struct iovec iov[8];
    size_t i, total = 0;
    uint32_t crc;
    tma_status st;
    if (nparts > 6) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    for (i = 0; i < nparts; i++) {
        total += parts[i].len;
    }
    if (total > MAX_RECORD) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    hdr[0] = type;
    put_le32(hdr + 1, seq);
    put_le32(hdr + 5, (uint32_t)total);
    put_le32(hdr + HDR_LEN, header_crc(fs, hdr));
    crc = crc_update(0, hdr, HDR2_LEN);
    iov[0].iov_base = hdr;
    iov[0].iov_len = HDR2_LEN;
    for (i = 0; i < nparts; i++) {
        crc = crc_update(crc, parts[i].ptr, parts[i].len);
        iov[i + 1].iov_base = (void *)(uintptr_t)parts[i].ptr;
        iov[i + 1].iov_len = parts[i].len;
    }
    put_le32(crcb, crc);
    iov[nparts + 1].iov_base = crcb;
    iov[nparts + 1].iov_len = CRC_LEN;
    st = write_all(fd, *size, iov, (int)nparts + 2);
    if (st == TMA_OK && fs->sync && fdatasync(fd) != 0) {
        st = S_ERR(TMA_C_IO);
    }
    if (st != TMA_OK) {
        /* Leave no partial record behind for this process either. */
        if (ftruncate(fd, (off_t)*size) != 0) {
            /* the torn tail is cut off at the next open */
        }
        return st;
    }
    if (out_data_off != NULL) {
        *out_data_off = *size + HDR2_LEN;
    }
    *size += REC2_OVERHEAD + total;
    return TMA_OK;
}

static tma_status idx_push(struct iothub_file_storage *fs, uint32_t seq, uint32_t len, uint64_t off)
{
    if (fs->n == fs->cap) {
        size_t ncap = fs->cap ? fs->cap * 2 : 64;
        struct iothub_file_entry *p = realloc(fs->idx, ncap * sizeof(*p));
        if (p == NULL) {
            return S_ERR(TMA_C_FULL);
        }
        fs->idx = p;
        fs->cap = ncap;
    }
    fs->idx[fs->n].seq = seq;
    fs->idx[fs->n].len = len;
    fs->idx[fs->n].off = off;
    fs->idx[fs->n].live = 1;
    fs->n++;
    fs->live++;
    fs->live_bytes += REC2_OVERHEAD + len; /* as compaction writes it */
    return TMA_OK;
}

/* Index of the first entry with seq >= s (n if none). */
static size_t lower_bound(const struct iothub_file_storage *fs, uint32_t s)
{
    size_t lo = fs->first, hi = fs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fs->idx[mid].seq < s) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static struct iothub_file_entry *find(struct iothub_file_storage *fs, uint32_t seq)
{
    size_t i = lower_bound(fs, seq);
    if (i < fs->n && fs->idx[i].seq == seq && fs->idx[i].live) {
        return &fs->idx[i];
    }
    return NULL;
}

static void mark_dead(struct iothub_file_storage *fs, struct iothub_file_entry *e)
{
    e->live = 0;
    fs->live--;
    fs->live_bytes -= REC2_OVERHEAD + e->len;
    while (fs->first < fs->n && !fs->idx[fs->first].live) {
        fs->first++;
    }
    /* Reclaim index space once the dead prefix is large. */
    if (fs->first > 1024 && fs->first * 2 > fs->n) {
        memmove(fs->idx, fs->idx + fs->first, (fs->n - fs->first) * sizeof(*fs->idx));
        fs->n -= fs->first;
        fs->first = 0;
    }
}

static tma_status fsync_dir(const char *path)
{
    char *dir = strdup(path);
    char *slash;
    int dfd;
    tma_status st = TMA_OK;
    if (dir == NULL) {
        return S_ERR(TMA_C_FULL);
    }
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* A file system that cannot sync a directory at all says EINVAL (or
     * ENOTSUP/ENOSYS, e.g. some FUSE ones): nothing more can be done there,
     * and since open() now syncs the directory that must not refuse the
     * log. EIO and the rest are failures. */
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != ENOSYS)) {
        st = S_ERR(TMA_C_IO);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    free(dir);
    return st;
}

static tma_status compact_to_new_log(struct iothub_file_storage *fs, uint32_t sub, bool *touched);

/* What recovery finds at one offset of the log. */
enum rec_kind {
    REC_VALID,    /* complete, every CRC matches */
    REC_TORN,     /* v2: a header prefix, or a valid header whose record runs past the end */
    REC_BAD_BODY, /* v2: valid header, complete, whole-record CRC fails: end is known */
    REC_BAD,      /* no valid header here (v1: anything but REC_VALID) */
    REC_OVER      /* the resynchronisation scan's CRC budget ran out */
};

/* What recovery in one open() may CRC, in bytes (the records it keeps cost
 * the file's length once; the rest is for the resynchronisation scans):
 * each candidate header the scan meets is checked over its whole record,
 * so a crafted file with a candidate every few bytes, each announcing
 * megabytes that lie inside the file, made open() quadratic (a 6 MB v1
 * file: over a minute; v2 the same with header CRCs computed under the
 * file's own salt). A real log meets a handful of candidates after damage
 * (v2: a header must pass its salted CRC first), far below this.
 * docs/decisions/storage-review-11.md (R1). */
#define SCAN_BUDGET_BASE (256u * 1024u * 1024u)
#define SCAN_BUDGET_PER_BYTE 16u

struct rec {
    uint8_t type;
    uint32_t seq;
    uint32_t dlen;
    uint64_t data_off;
    uint64_t end;
};

static bool known_type(uint8_t t)
{
    return t == REC_PUT || t == REC_DEL || t == REC_SEQ;
}

/* Read the record at buf[pos..len) of a log of format version @p ver. */
static enum rec_kind parse_at(const struct iothub_file_storage *fs, unsigned ver, const uint8_t *buf,
                              uint64_t pos, uint64_t len, struct rec *r, uint64_t *budget)
{
    uint64_t hlen = ver == 1 ? HDR_LEN : HDR2_LEN;
    if (pos + hlen > len) {
        return ver == 1 ? REC_BAD : REC_TORN;
    }
    r->type = buf[pos];
    r->seq = get_le32(buf + pos + 1);
    r->dlen = get_le32(buf + pos + 5);
    r->data_off = pos + hlen;
    r->end = pos + hlen + (uint64_t)r->dlen + CRC_LEN;
    if (!known_type(r->type) || r->dlen > MAX_RECORD) {
        return REC_BAD;
    }
    if (ver != 1 && header_crc(fs, buf + pos) != get_le32(buf + pos + HDR_LEN)) {
        return REC_BAD;
    }
    if (r->end > len) {
        return ver == 1 ? REC_BAD : REC_TORN;
    }
    if (budget != NULL) {
        if (hlen + r->dlen > *budget) {
            return REC_OVER;
        }
        *budget -= hlen + r->dlen;
    }
    if (crc_update(0, buf + pos, (size_t)(hlen + r->dlen)) != get_le32(buf + r->end - CRC_LEN)) {
        return ver == 1 ? REC_BAD : REC_BAD_BODY;
    }
    return REC_VALID;
}

/* Version 1 only: a write torn by a crash leaves a tail shorter than the
 * record its header announces (or shorter than a header). v1 cannot tell
 * such a header from a damaged one, so it is asked only after the
 * resynchronisation scan found nothing valid after @p pos. */
static bool v1_is_torn_tail(const uint8_t *buf, uint64_t pos, uint64_t len)
{
    uint32_t dlen;
    if (pos + HDR_LEN + CRC_LEN > len) {
        return true;
    }
    if (!known_type(buf[pos])) {
        return false;
    }
    dlen = get_le32(buf + pos + 5);
    return dlen <= MAX_RECORD && pos + HDR_LEN + (uint64_t)dlen + CRC_LEN > len;
}

/* 1 when the regular file @p name holds exactly @p len bytes @p buf. */
static bool same_content(const char *name, const uint8_t *buf, uint64_t len)
{
    uint8_t chunk[4096];
    uint64_t got = 0;
    struct stat sb;
    bool same = false;
    int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return false;
    }
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == len) {
        same = true;
        while (same && got < len) {
            size_t want = len - got < sizeof(chunk) ? (size_t)(len - got) : sizeof(chunk);
            ssize_t r = pread(fd, chunk, want, (off_t)got);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            same = r > 0 && memcmp(chunk, buf + got, (size_t)r) == 0;
            got += r > 0 ? (uint64_t)r : 0u;
        }
    }
    close(fd);
    return same;
}

/* Keep a byte-exact copy of a damaged log next to it (PATH.damaged, or
 * PATH.damaged.1 .. .9 if those exist, or one of them that already holds
 * exactly these bytes); never overwrites a file. */
static tma_status save_aside(struct iothub_file_storage *fs, const uint8_t *buf, uint64_t len)
{
    size_t plen = strlen(fs->path);
    char *name = malloc(plen + 16);
    int i, fd = -1;
    struct iovec iov;
    tma_status st;
    if (name == NULL) {
        return S_ERR(TMA_C_FULL);
    }
    for (i = 0; i < 10 && fd < 0; i++) {
        if (i == 0) {
            snprintf(name, plen + 16, "%s.damaged", fs->path);
        } else {
            snprintf(name, plen + 16, "%s.damaged.%d", fs->path, i);
        }
        fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST && same_content(name, buf, len)) {
            /* An earlier open kept this very file and then failed (its
             * rewrite found no space, say): that copy is the one. Without
             * this every retry added a copy of the whole log, and after ten
             * the log was refused for ever, even once the cause was gone. */
            fs->damaged_path = name;
            return TMA_OK;
        }
        if (fd < 0 && errno != EEXIST) {
            break;
        }
    }
    if (fd < 0) {
        free(name);
        return S_ERR(TMA_C_IO);
    }
    iov.iov_base = (void *)(uintptr_t)buf;
    iov.iov_len = (size_t)len;
    st = write_all(fd, 0, &iov, 1);
    if (st == TMA_OK && fsync(fd) != 0) {
        st = S_ERR(TMA_C_IO);
    }
    close(fd);
    if (st != TMA_OK) {
        (void)unlink(name);
        free(name);
        return st;
    }
    (void)fsync_dir(name);
    fs->damaged_path = name;
    return TMA_OK;
}

/* Apply one valid record to the index. Returns false if it cannot belong to
 * this log (a PUT out of sequence order): the caller treats it as damage. */
static bool apply_record(struct iothub_file_storage *fs, const struct rec *r, tma_status *st)
{
    struct iothub_file_entry *e;
    if (r->type == REC_PUT) {
        /* UINT32_MAX: never written (put refuses it), so damage; taken
         * in, it could never be sent nor acknowledged, and seq_end stuck
         * at UINT32_MAX would make the outbox refuse every message */
        if (r->seq == UINT32_MAX || (fs->n > 0 && r->seq <= fs->idx[fs->n - 1].seq)) {
            return false;
        }
        *st = idx_push(fs, r->seq, r->dlen, r->data_off);
        if (*st != TMA_OK) {
            return false;
        }
        if (r->seq >= fs->seq_end) {
            fs->seq_end = r->seq + 1;
        }
    } else if (r->type == REC_DEL) {
        e = find(fs, r->seq);
        if (e != NULL) {
            mark_dead(fs, e);
        }
    } else if (r->seq > fs->seq_end) { /* REC_SEQ */
        fs->seq_end = r->seq;
    }
    return true;
}

static tma_status read_whole(int fd, uint8_t **out, uint64_t *out_len)
{
    struct stat sb;
    uint8_t *buf;
    uint64_t len;
    *out = NULL;
    *out_len = 0;
    if (fstat(fd, &sb) != 0) {
        return S_ERR(TMA_C_IO);
    }
    if (!S_ISREG(sb.st_mode)) {
        return S_ERR(TMA_C_MALFORMED); /* a directory, device or FIFO is no outbox */
    }
    len = (uint64_t)sb.st_size;
    if (len == 0) {
        return TMA_OK;
    }
    if (len > (uint64_t)SIZE_MAX / 2) {
        return S_ERR(TMA_C_FULL);
    }
    buf = malloc((size_t)len);
    if (buf == NULL) {
        return S_ERR(TMA_C_FULL);
    }
    if (read_at(fd, buf, (size_t)len, 0) != TMA_OK) {
        free(buf);
        return S_ERR(TMA_C_IO);
    }
    *out = buf;
    *out_len = len;
    return TMA_OK;
}

/* A fresh salt for a new (or migrated) log, from the kernel's generator. */
static tma_status new_salt(struct iothub_file_storage *fs)
{
    size_t got = 0;
    while (got < SALT_LEN) {
        ssize_t r = getrandom(fs->salt + got, SALT_LEN - got, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return S_ERR(TMA_C_IO);
        }
        got += (size_t)r;
    }
    return TMA_OK;
}

/* The v2 file header of this log: magic, salt, CRC-32 over both. */
static void file_header(const struct iothub_file_storage *fs, uint8_t out[FHDR2_LEN])
{
    static const uint8_t magic[MAGIC_LEN] = MAGIC_V2;
    memcpy(out, magic, MAGIC_LEN);
    memcpy(out + MAGIC_LEN, fs->salt, SALT_LEN);
    put_le32(out + MAGIC_LEN + SALT_LEN, crc_update(0, out, MAGIC_LEN + SALT_LEN));
}

/* Start a new, empty v2 log in the open file. */
static tma_status write_magic(struct iothub_file_storage *fs)
{
    uint8_t fh[FHDR2_LEN];
    struct iovec iov;
    tma_status st = new_salt(fs);
    if (st != TMA_OK) {
        return st;
    }
    file_header(fs, fh);
    iov.iov_base = fh;
    iov.iov_len = FHDR2_LEN;
    if (ftruncate(fs->fd, 0) != 0) {
        return S_ERR(TMA_C_IO);
    }
    st = write_all(fs->fd, 0, &iov, 1);
    if (st == TMA_OK && fs->sync && fdatasync(fs->fd) != 0) {
        st = S_ERR(TMA_C_IO);
    }
    fs->size = FHDR2_LEN;
    return st;
}

/* A file no longer than a v2 file header that is what a power cut can leave
 * of the header write of a new log: a prefix of it (the salt and its CRC
 * are random, so anything may follow the 8 magic bytes), or, where the
 * file's size reached the disk before its bytes (ext4 data=writeback, a torn
 * sector), a prefix followed by zeros (found by iothub_crashfs: such a log
 * was refused as foreign for ever). No record can follow: with sync the
 * header is synced before open() returns. */
static bool is_torn_new_log(const uint8_t *buf, uint64_t len)
{
    static const uint8_t magic[MAGIC_LEN] = MAGIC_V2;
    uint64_t i = 0;
    if (len > FHDR2_LEN) {
        return false;
    }
    while (i < len && i < MAGIC_LEN && buf[i] == magic[i]) {
        i++;
    }
    if (i == MAGIC_LEN) {
        return true;
    }
    while (i < len && buf[i] == 0) {
        i++;
    }
    return i == len;
}

/* Longer than a file header, and nothing but a prefix of the magic and
 * zeros: what a power cut can leave of a new log written without sync on a
 * file system that made its size durable before its bytes (ext4
 * data=writeback: the header and the first puts all read back as zeros).
 * open() takes it for that only when "<path>.lock" was there before it
 * (left by the open that created the log), and keeps a copy aside. */
static bool is_zeroed_new_log(const uint8_t *buf, uint64_t len)
{
    static const uint8_t magic[MAGIC_LEN] = MAGIC_V2;
    uint64_t i = 0;
    if (len <= FHDR2_LEN) {
        return false;
    }
    while (i < MAGIC_LEN && buf[i] == magic[i]) {
        i++;
    }
    while (i < len && buf[i] == 0) {
        i++;
    }
    return i == len;
}

/* Which format the file is: 1 or 2, 0 if it is a torn new log, or the
 * reason to refuse it (the file is left untouched). */
static tma_status file_format(struct iothub_file_storage *fs, const uint8_t *buf, uint64_t len, unsigned *ver)
{
    static const uint8_t magic1[MAGIC_LEN] = MAGIC_V1;
    static const uint8_t magic2[MAGIC_LEN] = MAGIC_V2;
    *ver = 0;
    if (len >= MAGIC_LEN && memcmp(buf, magic1, MAGIC_LEN) == 0) {
        *ver = 1;
        return TMA_OK;
    }
    if (len >= FHDR2_LEN && memcmp(buf, magic2, MAGIC_LEN) == 0 &&
        crc_update(0, buf, MAGIC_LEN + SALT_LEN) == get_le32(buf + MAGIC_LEN + SALT_LEN)) {
        memcpy(fs->salt, buf + MAGIC_LEN, SALT_LEN);
        *ver = 2;
        return TMA_OK;
    }
    if (is_torn_new_log(buf, len)) {
        return TMA_OK;
    }
    if (len < MAGIC_LEN || memcmp(buf, magic2, MAGIC_LEN - 1) != 0) {
        return S_ERR(TMA_C_MALFORMED);
    }
    /* A v2 file header whose CRC fails in front of records is damage we
     * cannot get past (every record's header CRC depends on the salt):
     * refused untouched, for a person to look at. */
    return buf[MAGIC_LEN - 1] == magic2[MAGIC_LEN - 1] ? S_ERR(TMA_C_INTEGRITY)
                                                       : S_ERR(TMA_C_UNSUPPORTED); /* another version */
}

/* Read the log, rebuild the index. Version 2 rules: a valid header is
 * trusted (its CRC covers the salt, which a message cannot know): if its
 * record runs past the end it is the torn tail (cut, no scan into it); if
 * the record is complete but its CRC fails it is skipped as damage by the
 * length its header gives. Only where no valid header is found does
 * recovery scan forward for the next valid record. Version 1 keeps its old
 * rules (scan first, then the torn-tail test) and is rewritten as v2. */
static tma_status recover(struct iothub_file_storage *fs, bool lock_was_there)
{
    uint8_t *buf = NULL;
    uint64_t pos, len, good_end, torn_from, budget;
    unsigned ver;
    bool damaged = false;
    tma_status st;
    st = read_whole(fs->fd, &buf, &len);
    if (st != TMA_OK) {
        return st;
    }
    st = file_format(fs, buf, len, &ver);
    if (st != TMA_OK && lock_was_there && is_zeroed_new_log(buf, len)) {
        /* A new log zeroed by a power cut (see there): nothing in it can be
         * read, but it is counted and kept aside like damage. */
        fs->damaged_bytes = len;
        fs->damaged_regions = 1;
        st = save_aside(fs, buf, len);
        ver = 0;
    }
    if (st != TMA_OK || ver == 0) {
        free(buf);
        /* a torn new log starts again empty; open() makes its name durable */
        return st != TMA_OK ? st : write_magic(fs);
    }
    fs->format_found = (uint8_t)ver;
    pos = ver == 1 ? MAGIC_LEN : FHDR2_LEN;
    good_end = pos;
    torn_from = len;
    budget = SCAN_BUDGET_BASE + SCAN_BUDGET_PER_BYTE * len;
    while (pos < len) {
        struct rec r;
        enum rec_kind k = parse_at(fs, ver, buf, pos, len, &r, &budget);
        uint64_t from = pos, scan, next = 0;
        if (k == REC_OVER) {
            free(buf);
            return S_ERR(TMA_C_INTEGRITY); /* see the scan below */
        }
        if (k == REC_VALID) {
            if (apply_record(fs, &r, &st)) {
                good_end = pos = r.end;
                continue;
            }
            if (st != TMA_OK) {
                free(buf);
                return st;
            }
            k = ver == 1 ? REC_BAD : REC_BAD_BODY; /* a PUT out of order */
        }
        if (k == REC_TORN) {
            torn_from = pos; /* the write a crash cut short */
            break;
        }
        if (k == REC_BAD_BODY) {
            damaged = true;
            fs->damaged_regions++;
            /* Its header is ours, so its length is: skip exactly this
             * record. Scanning inside it would read a message's bytes as
             * records. */
            fs->damaged_bytes += r.end - pos;
            pos = r.end;
            continue;
        }
        /* No valid header here: find the next valid record, so one damaged
         * record does not take the records after it along. */
        for (scan = pos + 1; scan < len; scan++) {
            struct rec r2;
            enum rec_kind k2 = parse_at(fs, ver, buf, scan, len, &r2, &budget);
            if (k2 == REC_OVER) {
                /* Not a log a crash or a bad sector leaves: refused
                 * untouched, like a damaged file header, for a person to
                 * look at (dropping the rest would lose what may follow). */
                free(buf);
                return S_ERR(TMA_C_INTEGRITY);
            }
            if (k2 == REC_VALID) {
                next = scan;
                break;
            }
        }
        if (next == 0 && ver == 1 && v1_is_torn_tail(buf, from, len)) {
            torn_from = from;
            break;
        }
        damaged = true;
        fs->damaged_regions++;
        if (next == 0) {
            fs->damaged_bytes += len - from; /* nothing valid follows */
            break;
        }
        fs->damaged_bytes += next - from;
        pos = next;
    }
    if (torn_from < len) {
        fs->truncated_bytes = len - torn_from;
    }
    if (damaged) {
        st = save_aside(fs, buf, len);
    }
    free(buf);
    if (st != TMA_OK) {
        return st; /* without a copy aside, change nothing */
    }
    fs->size = good_end;
    if (damaged || ver == 1) {
        /* Rewrite the log from the records that survived, as v2 (the same
         * atomic path as compaction: a power cut leaves the old file or
         * the new one): the damage is gone from the live log, the copy
         * aside keeps the original; a v1 log is migrated. A v1 log gets a
         * fresh salt. On failure the open fails, the old log untouched. */
        bool touched = false;
        if (ver == 1) {
            st = new_salt(fs);
        }
        return st != TMA_OK ? st : compact_to_new_log(fs, 0u, &touched);
    }
    if (good_end < len) {
        if (ftruncate(fs->fd, (off_t)good_end) != 0 || fsync(fs->fd) != 0) {
            return S_ERR(TMA_C_IO);
        }
    }
    return TMA_OK;
}

tma_status iothub_file_storage_open(struct iothub_file_storage *fs, const char *path, bool sync)
{
    char *tmp;
    char *lock_made = NULL;
    size_t plen;
    tma_status st;
    if (fs == NULL || path == NULL || path[0] == '\0') {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    memset(fs, 0, sizeof(*fs));
    fs->fd = -1;
    fs->sync = sync;
    fs->compact_min = COMPACT_MIN_DEFAULT;
    fs->lock_fd = -1;
    fs->path = strdup(path);
    if (fs->path == NULL) {
        iothub_file_storage_close(fs);
        return S_ERR(TMA_C_FULL);
    }
    /* One writer per log: two processes appending to one log (two samples
     * given the same --outbox) would interleave records and each would
     * compact the other's away. The lock is on "<path>.lock", not on the
     * log, because compaction renames a new file over the log; it is taken
     * before the log is even read, and released by close() or the death of
     * the process. The lock file stays (removing it would race a newcomer),
     * unless this call made it and then refuses the log. */
    {
        size_t llen = strlen(path);
        char *lock = malloc(llen + 6);
        if (lock == NULL) {
            iothub_file_storage_close(fs);
            return S_ERR(TMA_C_FULL);
        }
        memcpy(lock, path, llen);
        memcpy(lock + llen, ".lock", 6);
        fs->lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fs->lock_fd >= 0) {
            lock_made = lock; /* ours: removed again if the log is refused */
        } else if (errno == EEXIST) {
            fs->lock_fd = open(lock, O_RDWR | O_CLOEXEC);
        }
        if (fs->lock_fd < 0 || flock(fs->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            st = fs->lock_fd >= 0 && errno == EWOULDBLOCK ? S_ERR(TMA_C_IN_USE) : S_ERR(TMA_C_IO);
            if (lock_made != NULL) {
                (void)unlink(lock_made);
            }
            free(lock);
            iothub_file_storage_close(fs);
            return st;
        }
        if (lock_made == NULL) {
            free(lock);
        }
    }
    fs->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    st = fs->fd >= 0 ? recover(fs, lock_made == NULL) : errno == EISDIR ? S_ERR(TMA_C_MALFORMED) : S_ERR(TMA_C_IO);
    /* With sync, a put promises its record survives a power cut, so the
     * log's name must be durable first: fsync() of the file does not make
     * its directory entry durable (fsync(2)). Covers a log this call
     * created, one an open without sync created, and one a compaction
     * renamed into place whose directory fsync failed. Found by
     * iothub_crashfs. */
    if (st == TMA_OK && sync) {
        st = fsync_dir(path);
    }
    if (st != TMA_OK) {
        /* A file that is not an outbox (or cannot be opened) keeps no
         * "<path>.lock" this call made next to it. */
        if (lock_made != NULL) {
            (void)unlink(lock_made);
            free(lock_made);
        }
        iothub_file_storage_close(fs);
        return st;
    }
    free(lock_made);
    /* Only once the log is known to be ours: a leftover of an interrupted
     * compaction (the log itself is intact). */
    plen = strlen(path);
    tmp = malloc(plen + 5);
    if (tmp == NULL) {
        iothub_file_storage_close(fs);
        return S_ERR(TMA_C_FULL);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    (void)unlink(tmp);
    free(tmp);
    return TMA_OK;
}

void iothub_file_storage_close(struct iothub_file_storage *fs)
{
    if (fs == NULL) {
        return;
    }
    /* Only a context open() set up owns descriptors (path set): a zeroed
     * one holds 0s that are not ours to close. */
    if (fs->path != NULL) {
        if (fs->fd >= 0) {
            close(fs->fd);
        }
        if (fs->lock_fd >= 0) {
            close(fs->lock_fd); /* releases the lock */
        }
    }
    fs->fd = -1;
    fs->lock_fd = -1;
    free(fs->idx);
    fs->idx = NULL;
    free(fs->path);
    fs->path = NULL;
    free(fs->damaged_path);
    fs->damaged_path = NULL;
    fs->n = fs->cap = fs->first = fs->live = 0;
}

/* Rewrite the live records into PATH.tmp, every number (records and the
 * seq marker) lowered by @p sub, and rename it over the log: a crash leaves
 * the old log or the new one, never a mix of numberings. On failure the old
 * log and the in-memory index are left as they were (@p *touched is set if
 * index offsets may already point into the new file). */
static tma_status compact_to_new_log(struct iothub_file_storage *fs, uint32_t sub, bool *touched)
{
    char *tmp;
    int fd;
    size_t i, plen;
    uint64_t size = 0;
    uint8_t *buf = NULL;
    size_t bufcap = 0;
    tma_status st = TMA_OK, dir_st;
    bool saved_sync;
    if (fs == NULL || fs->fd < 0) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    plen = strlen(fs->path);
    tmp = malloc(plen + 5);
    if (tmp == NULL) {
        return S_ERR(TMA_C_FULL);
    }
    memcpy(tmp, fs->path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(tmp);
        return S_ERR(TMA_C_IO);
    }
    saved_sync = fs->sync;
    fs->sync = false; /* one fsync at the end */
    {
        uint8_t fh[FHDR2_LEN];
        struct iovec iov;
        file_header(fs, fh);
        iov.iov_base = fh;
        iov.iov_len = FHDR2_LEN;
        st = write_all(fd, 0, &iov, 1);
        size = FHDR2_LEN;
    }
    if (st == TMA_OK) {
        st = append_record(fs, fd, &size, REC_SEQ, fs->seq_end - sub, NULL, 0, NULL);
    }
    *touched = true;
    for (i = fs->first; st == TMA_OK && i < fs->n; i++) {
        struct iothub_file_entry *e = &fs->idx[i];
        struct tma_span part;
        if (!e->live) {
            continue;
        }
        if (e->len > bufcap) {
            uint8_t *nb = realloc(buf, e->len);
            if (nb == NULL) {
                st = S_ERR(TMA_C_FULL);
                break;
            }
            buf = nb;
            bufcap = e->len;
        }
        st = read_at(fs->fd, buf, e->len, e->off);
        if (st != TMA_OK) {
            break;
        }
        part.ptr = buf;
        part.len = e->len;
        st = append_record(fs, fd, &size, REC_PUT, e->seq - sub, &part, 1, &e->off);
    }
    fs->sync = saved_sync;
    free(buf);
    if (st == TMA_OK && fsync(fd) != 0) {
        st = S_ERR(TMA_C_IO);
    }
    if (st == TMA_OK && rename(tmp, fs->path) != 0) {
        st = S_ERR(TMA_C_IO);
    }
    if (st != TMA_OK) {
        close(fd);
        (void)unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    dir_st = fsync_dir(fs->path);
    close(fs->fd);
    fs->fd = fd;
    fs->size = size;
    /* Drop dead entries from the index; the new numbers. */
    {
        size_t j = 0;
        for (i = fs->first; i < fs->n; i++) {
            if (fs->idx[i].live) {
                fs->idx[j] = fs->idx[i];
                fs->idx[j++].seq -= sub;
            }
        }
        fs->n = j;
        fs->first = 0;
    }
    fs->seq_end -= sub;
    fs->compactions++;
    /* The new log is in place, but with sync no put may return OK while a
     * power cut can still undo the rename: report the failed directory
     * fsync; iothub_file_storage_compact() then reopens, and open() syncs
     * the directory again (or fails). */
    return fs->sync ? dir_st : TMA_OK;
}

/* Compaction with every number lowered by @p sub (0: a plain one). */
static tma_status compact_lowered(struct iothub_file_storage *fs, uint32_t sub)
{
    bool touched = false;
    tma_status st = compact_to_new_log(fs, sub, &touched);
    if (st != TMA_OK && touched) {
        /* The offsets of entries already rewritten point into the new file;
         * reopen the old log to get a consistent index back. */
        char *path = strdup(fs->path);
        bool sync = fs->sync;
        tma_status st2;
        iothub_file_storage_close(fs);
        if (path == NULL) {
            return S_ERR(TMA_C_FULL);
        }
        st2 = iothub_file_storage_open(fs, path, sync);
        free(path);
        if (st2 != TMA_OK) {
            fs->failed = st2; /* closed: later calls say why, not BAD_PARAM */
            return st2;
        }
        return st;
    }
    return st;
}

tma_status iothub_file_storage_compact(struct iothub_file_storage *fs)
{
    return compact_lowered(fs, 0u);
}

/* Why a call cannot use the log: a compaction could not reopen it (its
 * status), or it is not open (a caller's mistake). */
static tma_status unusable(const struct iothub_file_storage *fs)
{
    return fs != NULL && fs->failed != TMA_OK ? fs->failed : S_ERR(TMA_C_BAD_PARAM);
}

static tma_status fs_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t nparts)
{
    struct iothub_file_storage *fs = ctx;
    uint64_t off = 0;
    size_t i, total = 0;
    tma_status st;
    if (fs == NULL || fs->fd < 0 || (parts == NULL && nparts > 0)) {
        return unusable(fs);
    }
    if (seq == UINT32_MAX) {
        return S_ERR(TMA_C_BAD_PARAM); /* seq_end could not count past it */
    }
    if (seq < fs->seq_end || (fs->n > 0 && seq <= fs->idx[fs->n - 1].seq)) {
        return S_ERR(TMA_C_STATE);
    }
    for (i = 0; i < nparts; i++) {
        total += parts[i].len;
    }
    st = append_record(fs, fs->fd, &fs->size, REC_PUT, seq, parts, nparts, &off);
    if (st != TMA_OK) {
        return st;
    }
    st = idx_push(fs, seq, (uint32_t)total, off);
    if (st != TMA_OK) {
        return st;
    }
    fs->seq_end = seq + 1;
    return TMA_OK;
}

static tma_status fs_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct iothub_file_storage *fs = ctx;
    struct iothub_file_entry *e;
    if (fs == NULL || fs->fd < 0 || out_len == NULL || (buf == NULL && cap > 0)) {
        return unusable(fs);
    }
    e = find(fs, seq);
    if (e == NULL) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    *out_len = e->len;
    if (e->len > cap) {
        return S_ERR(TMA_C_TOO_SMALL);
    }
    return read_at(fs->fd, buf, e->len, e->off);
}

static tma_status fs_del(void *ctx, uint32_t seq)
{
    struct iothub_file_storage *fs = ctx;
    struct iothub_file_entry *e;
    tma_status st;
    if (fs == NULL || fs->fd < 0) {
        return unusable(fs);
    }
    e = find(fs, seq);
    if (e == NULL) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    st = append_record(fs, fs->fd, &fs->size, REC_DEL, seq, NULL, 0, NULL);
    if (st != TMA_OK) {
        return st;
    }
    mark_dead(fs, e);
    if (fs->size >= fs->compact_min && fs->size > 2 * fs->live_bytes + 64) {
        /* A failed compaction leaves the old log in place; the delete above
         * is already durable, so it is not an error for the caller, unless
         * the log could not be reopened after it (then it is closed). */
        (void)iothub_file_storage_compact(fs);
    }
    return fs->failed;
}

static tma_status fs_next(void *ctx, uint32_t from, uint32_t *out_seq)
{
    struct iothub_file_storage *fs = ctx;
    size_t i;
    if (fs == NULL || out_seq == NULL || fs->failed != TMA_OK) {
        return unusable(fs);
    }
    for (i = lower_bound(fs, from); i < fs->n; i++) {
        if (fs->idx[i].live) {
            *out_seq = fs->idx[i].seq;
            return TMA_OK;
        }
    }
    return S_ERR(TMA_C_NOT_FOUND);
}

static uint32_t fs_seq_end(void *ctx)
{
    struct iothub_file_storage *fs = ctx;
    return fs == NULL ? 0 : fs->seq_end;
}

/* Renumber (struct iothub_storage, rebase): a compaction that writes every
 * live record with its number lowered by IOTHUB_OUTBOX_REBASE_AT and the
 * seq marker lowered by the same (with no live record: marker 0), so a
 * crash leaves the old log or the new one. Refused (TMA_C_STATE, nothing
 * written) while a live record is below IOTHUB_OUTBOX_REBASE_AT. A failed
 * compaction reopens the log: the old one, whose numbers the store keeps
 * (with no record: never below the old seq_end in memory, so a put goes on
 * with the old numbering), or, when only the directory sync after the
 * rename failed and the reopen synced it, the new one: renumbered, TMA_OK. */
static tma_status fs_rebase(void *ctx)
{
    struct iothub_file_storage *fs = ctx;
    uint32_t old, sub;
    tma_status st;
    if (fs == NULL || fs->fd < 0) {
        return unusable(fs);
    }
    old = fs->seq_end;
    sub = fs->live == 0 ? old : IOTHUB_OUTBOX_REBASE_AT;
    if (fs->live != 0 && fs->idx[fs->first].seq < sub) {
        return S_ERR(TMA_C_STATE);
    }
    st = compact_lowered(fs, sub);
    if (st != TMA_OK && fs->fd >= 0) {
        if (fs->live == 0 && fs->seq_end < old) {
            fs->seq_end = old;
        } else if (fs->live != 0 && fs->seq_end < sub) {
            st = TMA_OK;
        }
    }
    return st;
}

struct iothub_storage iothub_file_storage_iface(struct iothub_file_storage *fs)
{
    struct iothub_storage s;
    s.ctx = fs;
    s.put = fs_put;
    s.get = fs_get;
    s.del = fs_del;
    s.next = fs_next;
    s.seq_end = fs_seq_end;
    s.rebase = fs_rebase;
    return s;
}
