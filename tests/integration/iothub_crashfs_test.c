/* Power cuts against the Linux file outbox (port/storage_file.c), in the
 * record-and-replay style of ALICE (Pillai et al., OSDI 2014).
 *
 * 1. Record: a scripted outbox workload runs on a real directory with
 *    sync=true. Every file-system call storage_file.c makes is caught with
 *    the linker's --wrap (open, pwritev, ftruncate, fsync, fdatasync, rename,
 *    unlink, close; see tests/iothub_crashfs.cmake) and logged with its file,
 *    offset and bytes, next to marks for when each put/del began and returned.
 * 2. Model: a power cut before call k leaves, per file, its content as of its
 *    last fsync/fdatasync plus an in-order prefix of the later writes and
 *    truncates (the last one of the prefix possibly torn: a prefix of its
 *    bytes); and the directory as of its last fsync plus an in-order prefix
 *    of the later creates/renames/unlinks (a file fsync does not make its
 *    directory entry durable: fsync(2)).
 * 3. Check: each such state is written into a fresh directory and opened
 *    with the real code, which must recover every message whose put returned
 *    OK before the cut and whose delete had not, in order, with exact bytes,
 *    nothing that was never put, a seq_end above every acknowledged put, and
 *    a working put afterwards that survives one more reopen.
 * Neither the recording nor the check passes fsync calls to the disk
 * (durability is modelled, not exercised), so 10^4 states run in seconds. */
#define _DEFAULT_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "iothub/storage_file.h"
#include "tma_testutil.h"

#define LOG_NAME "outbox.log"
#define MAX_OPS 8192
#define MAX_INO 64
#define MAX_NAMES 16
#define NAME_LEN 48
#define MAX_FD 1024
#define MAX_SEQ 512
#define STATES_PER_CUT 160 /* above this, a cut's states are sampled */
#define FD_DIR (-2)

/* ------------------------------------------------------------------ */
/* The recording                                                       */

enum op_kind { OP_CREATE, OP_RENAME, OP_UNLINK, OP_WRITE, OP_TRUNC, OP_FSYNC, OP_DIRSYNC, OP_MARK };
/* M_DAMAGE: the test damaged the record on purpose; it may be missing. */
enum mark_kind { M_PUT_BEGIN, M_PUT_OK, M_DEL_BEGIN, M_DEL_OK, M_DAMAGE };

struct op {
    enum op_kind kind;
    int ino;               /* file ops; CREATE/RENAME: the inode named */
    char name[NAME_LEN];   /* CREATE, UNLINK, RENAME (from) */
    char name2[NAME_LEN];  /* RENAME (to) */
    uint64_t off;          /* WRITE offset, TRUNC length */
    const uint8_t *data;   /* WRITE bytes (owned by the arena) */
    size_t len;
    enum mark_kind mark;
    uint32_t seq;
};

struct dent {
    char name[NAME_LEN];
    int ino;
};

static struct op ops[MAX_OPS];
static size_t n_ops;
static int n_ino;
static int rec_on;     /* record calls on files under rec_dir */
static int fake_sync;  /* fsync/fdatasync succeed without touching the disk */
static char rec_dir[512];
static int fd_ino[MAX_FD]; /* -1 untracked, FD_DIR, or inode */
static struct dent vol_dir[MAX_NAMES]; /* the directory as the process sees it */
static size_t n_vol;
/* Fault: the first directory fsync after rename number dirsync_fault_rename
 * (1-based) fails with EIO (dirsync_fault: 0 off, 1 waiting for that
 * rename, 2 armed, 3 fired; 4: every directory fsync fails). */
static int dirsync_fault;
static unsigned dirsync_fault_rename, renames_seen;
static int dirsync_fault_errno = EIO;

int __real_open(const char *path, int flags, ...);
ssize_t __real_pwritev(int fd, const struct iovec *iov, int cnt, off_t off);
int __real_ftruncate(int fd, off_t len);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_rename(const char *from, const char *to);
int __real_unlink(const char *path);
int __real_close(int fd);
int __wrap_open(const char *path, int flags, ...);
ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int cnt, off_t off);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_rename(const char *from, const char *to);
int __wrap_unlink(const char *path);
int __wrap_close(int fd);

static struct op *new_op(enum op_kind kind)
{
    struct op *o;
    if (n_ops == MAX_OPS) {
        fprintf(stderr, "crashfs: recording is full\n");
        abort();
    }
    o = &ops[n_ops++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->ino = -1;
    return o;
}

static void reset_recording(void)
{
    size_t i;
    for (i = 0; i < n_ops; i++) {
        free((void *)(uintptr_t)ops[i].data);
    }
    n_ops = 0;
    n_ino = 0;
    n_vol = 0;
    for (i = 0; i < MAX_FD; i++) {
        fd_ino[i] = -1;
    }
}

/* 1 = the directory itself, 2 = a file in it (*out_name), 0 = elsewhere. */
static int classify(const char *path, const char **out_name)
{
    size_t n = strlen(rec_dir);
    if (strncmp(path, rec_dir, n) != 0) {
        return 0;
    }
    if (path[n] == '\0') {
        return 1;
    }
    if (path[n] != '/' || strchr(path + n + 1, '/') != NULL || strlen(path + n + 1) >= NAME_LEN) {
        return 0;
    }
    *out_name = path + n + 1;
    return 2;
}

static struct dent *vol_find(const char *name)
{
    size_t i;
    for (i = 0; i < n_vol; i++) {
        if (strcmp(vol_dir[i].name, name) == 0) {
            return &vol_dir[i];
        }
    }
    return NULL;
}

static void vol_remove(const char *name)
{
    struct dent *d = vol_find(name);
    if (d != NULL) {
        *d = vol_dir[--n_vol];
    }
}

static void vol_add(const char *name, int ino)
{
    if (n_vol == MAX_NAMES) {
        abort();
    }
    snprintf(vol_dir[n_vol].name, NAME_LEN, "%s", name);
    vol_dir[n_vol].ino = ino;
    n_vol++;
}

int __wrap_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    const char *name = NULL;
    int fd, kind;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    fd = __real_open(path, flags, mode);
    if (!rec_on || fd < 0 || fd >= MAX_FD) {
        return fd;
    }
    kind = classify(path, &name);
    fd_ino[fd] = -1;
    if (kind == 1) {
        fd_ino[fd] = FD_DIR;
    } else if (kind == 2) {
        struct dent *d = vol_find(name);
        if (d == NULL) {
            struct op *o = new_op(OP_CREATE);
            if (n_ino == MAX_INO) {
                abort();
            }
            o->ino = n_ino++;
            snprintf(o->name, NAME_LEN, "%s", name);
            vol_add(name, o->ino);
            fd_ino[fd] = o->ino;
        } else {
            fd_ino[fd] = d->ino;
            if (flags & O_TRUNC) {
                struct op *o = new_op(OP_TRUNC);
                o->ino = d->ino;
                o->off = 0;
            }
        }
    }
    return fd;
}

ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    ssize_t w = __real_pwritev(fd, iov, cnt, off);
    if (rec_on && w > 0 && fd >= 0 && fd < MAX_FD && fd_ino[fd] >= 0) {
        struct op *o = new_op(OP_WRITE);
        uint8_t *p = malloc((size_t)w);
        size_t got = 0;
        int i;
        if (p == NULL) {
            abort();
        }
        for (i = 0; i < cnt && got < (size_t)w; i++) {
            size_t take = iov[i].iov_len < (size_t)w - got ? iov[i].iov_len : (size_t)w - got;
            if (take > 0) {
                memcpy(p + got, iov[i].iov_base, take);
            }
            got += take;
        }
        o->ino = fd_ino[fd];
        o->off = (uint64_t)off;
        o->data = p;
        o->len = (size_t)w;
    }
    return w;
}

int __wrap_ftruncate(int fd, off_t len)
{
    int r = __real_ftruncate(fd, len);
    if (rec_on && r == 0 && fd >= 0 && fd < MAX_FD && fd_ino[fd] >= 0) {
        struct op *o = new_op(OP_TRUNC);
        o->ino = fd_ino[fd];
        o->off = (uint64_t)len;
    }
    return r;
}

static int sync_common(int fd, int data_only)
{
    int r;
    if (rec_on && (dirsync_fault == 2 || dirsync_fault == 4) && fd >= 0 && fd < MAX_FD &&
        fd_ino[fd] == FD_DIR) {
        dirsync_fault = dirsync_fault == 4 ? 4 : 3; /* 4: every one fails */
        errno = dirsync_fault_errno;
        return -1; /* not recorded: nothing was made durable */
    }
    r = fake_sync ? 0 : data_only ? __real_fdatasync(fd) : __real_fsync(fd);
    if (rec_on && r == 0 && fd >= 0 && fd < MAX_FD) {
        if (fd_ino[fd] == FD_DIR) {
            (void)new_op(OP_DIRSYNC);
        } else if (fd_ino[fd] >= 0) {
            new_op(OP_FSYNC)->ino = fd_ino[fd];
        }
    }
    return r;
}

int __wrap_fsync(int fd)
{
    return sync_common(fd, 0);
}

/* fdatasync also makes a changed file size durable (fdatasync(2)), which is
 * all an append needs: the model treats it as fsync of the file. */
int __wrap_fdatasync(int fd)
{
    return sync_common(fd, 1);
}

int __wrap_rename(const char *from, const char *to)
{
    const char *a = NULL, *b = NULL;
    int r = __real_rename(from, to);
    if (rec_on && r == 0 && classify(from, &a) == 2 && classify(to, &b) == 2) {
        struct dent *d = vol_find(a);
        struct op *o = new_op(OP_RENAME);
        if (d == NULL) {
            abort();
        }
        o->ino = d->ino;
        snprintf(o->name, NAME_LEN, "%s", a);
        snprintf(o->name2, NAME_LEN, "%s", b);
        vol_remove(a);
        vol_remove(b);
        vol_add(b, o->ino);
        if (dirsync_fault == 1 && dirsync_fault_rename > 0 && ++renames_seen == dirsync_fault_rename) {
            dirsync_fault = 2;
        }
    }
    return r;
}

int __wrap_unlink(const char *path)
{
    const char *a = NULL;
    int r = __real_unlink(path);
    if (rec_on && r == 0 && classify(path, &a) == 2) {
        struct op *o = new_op(OP_UNLINK);
        snprintf(o->name, NAME_LEN, "%s", a);
        vol_remove(a);
    }
    return r;
}

int __wrap_close(int fd)
{
    if (fd >= 0 && fd < MAX_FD) {
        fd_ino[fd] = -1;
    }
    return __real_close(fd);
}

static void mark(enum mark_kind m, uint32_t seq)
{
    if (rec_on) {
        struct op *o = new_op(OP_MARK);
        o->mark = m;
        o->seq = seq;
    }
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static size_t payload_len(uint32_t seq)
{
    static const size_t sizes[] = {0, 1, 9, 40, 130, 300, 777, 1500, 4097, 60, 13, 2048};
    /* 5 is prime to 12: every size once in any 12 consecutive seqs */
    return sizes[(seq * 5u + seq / 12u) % (sizeof(sizes) / sizeof(sizes[0]))];
}

/* Little-endian store, for the record images below. */
static void le32_to(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The salt of the log being recorded (format v2: in every record header's
 * CRC), taken from the context after each open_log(). The images below use
 * it: the strongest attacker, one who knows the salt. */
static uint8_t log_salt[8];

/* Whether the attacker of embed_record() knows the salt. Set for the plain
 * prefix model (a torn put can then only end in a torn tail, which v2 never
 * scans). Cleared for the recordings checked with zero tails: a write whose
 * head reached the disk as zeros loses its header, recovery must scan, and
 * only the salt keeps the scan from taking a message's bytes for records
 * (docs/design/outbox.md: the one residual case needs the salt, which lives
 * only in the 0600 log). The attacker then guesses it as zeros. */
static bool attacker_knows_salt = true;

/* A v1 record (type, seq, len, data, CRC-32): @p r gets 13 + dlen bytes. */
static size_t v1_record(uint8_t *r, uint8_t type, uint32_t seq, const uint8_t *data, uint32_t dlen)
{
    r[0] = type;
    le32_to(r + 1, seq);
    le32_to(r + 5, dlen);
    if (dlen > 0) {
        memcpy(r + 9, data, dlen);
    }
    le32_to(r + 9 + dlen, tma_test_crc32(0, r, 9 + (size_t)dlen));
    return 13u + dlen;
}

/* The header CRC of a v2 record: CRC-32 over the salt, type, seq, len. */
static uint32_t v2_header_crc(const uint8_t *salt, const uint8_t *hdr)
{
    uint8_t b[17];
    memcpy(b, salt, 8);
    memcpy(b + 8, hdr, 9);
    return tma_test_crc32(0, b, sizeof(b));
}

/* A v2 record (type, seq, len, header CRC, data, CRC-32): 17 + dlen bytes
 * (only the first @p have bytes of data are given: a torn record). */
static size_t v2_record(uint8_t *r, const uint8_t *salt, uint8_t type, uint32_t seq, const uint8_t *data,
                        uint32_t dlen)
{
    r[0] = type;
    le32_to(r + 1, seq);
    le32_to(r + 5, dlen);
    le32_to(r + 9, v2_header_crc(salt, r));
    if (dlen > 0) {
        memcpy(r + 13, data, dlen);
    }
    le32_to(r + 13 + dlen, tma_test_crc32(0, r, 13 + (size_t)dlen));
    return 17u + dlen;
}

/* Hostile payloads (issue 6; docs/design/outbox.md, "Linux file"): every
 * 4097-byte message carries, near its end, the images of valid log records
 * in both formats: a PUT of seq 400 that was never put, and a DEL of the
 * message before it; the v2 images carry the log's real salt. A torn put of
 * such a message must not bring them to life (format v1 did: a phantom
 * message 400, or an acknowledged message lost). The default run has all
 * four; IOTHUB_CRASHFS_RECORD_IN_PAYLOAD=put, =del or =none narrows it. */
static void embed_record(uint32_t seq, uint8_t *end)
{
    const char *mode = getenv("IOTHUB_CRASHFS_RECORD_IN_PAYLOAD");
    bool put = mode == NULL || strcmp(mode, "none") != 0;
    bool del = put;
    static const uint8_t guess[8];
    const uint8_t *salt = attacker_knows_salt ? log_salt : guess;
    if (mode != NULL && strcmp(mode, "put") == 0) {
        del = false;
    } else if (mode != NULL && strcmp(mode, "del") == 0) {
        put = false;
    }
    if (put) {
        (void)v2_record(end - 140, salt, 'P', 400, (const uint8_t *)"EVIL", 4);
        (void)v1_record(end - 80, 'P', 400, (const uint8_t *)"EVIL", 4);
    }
    if (del) {
        (void)v2_record(end - 110, salt, 'D', seq - 1, NULL, 0);
        (void)v1_record(end - 50, 'D', seq - 1, NULL, 0);
    }
}

static void payload(uint32_t seq, uint8_t *out)
{
    size_t i, n = payload_len(seq);
    for (i = 0; i < n; i++) {
        out[i] = (uint8_t)(seq * 31u + i * 7u + (i >> 8) + (i < 4 ? (seq >> (8 * i)) : 0));
    }
    if (n == 4097) {
        embed_record(seq, out + n);
    }
}

static tma_status put_msg(struct iothub_storage *s, uint32_t seq)
{
    static uint8_t buf[8192];
    struct tma_span parts[2];
    size_t n = payload_len(seq), half = n / 3;
    payload(seq, buf);
    parts[0].ptr = buf;
    parts[0].len = half;
    parts[1].ptr = buf + half;
    parts[1].len = n - half;
    return s->put(s->ctx, seq, parts, 2);
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */

static void rm_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        (void)unlink(p);
    }
    closedir(d);
}

/* The check phase writes 10^4 small directories' worth of files and syncs
 * nothing: on tmpfs (/dev/shm) where there is one, so a busy disk does not
 * slow it; the recording and everything else in TMPDIR or /tmp. */
static void make_dir(char *out, size_t n, const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (strcmp(tag, "check") == 0 && access("/dev/shm", W_OK | X_OK) == 0) {
        snprintf(out, n, "/dev/shm/iothub_crashfs_%s_XXXXXX", tag);
        if (mkdtemp(out) != NULL) {
            return;
        }
    }
    snprintf(out, n, "%s/iothub_crashfs_%s_XXXXXX", base != NULL && base[0] != '\0' ? base : "/tmp", tag);
    if (mkdtemp(out) == NULL) {
        fail_msg("mkdtemp: %s", strerror(errno));
    }
}

/* ------------------------------------------------------------------ */
/* Disk states after a cut                                             */

struct fbuf {
    uint8_t *p;
    size_t len, cap;
};

static void fbuf_size(struct fbuf *f, size_t len)
{
    if (len > f->cap) {
        size_t c = f->cap ? f->cap : 256;
        while (c < len) {
            c *= 2;
        }
        f->p = realloc(f->p, c);
        if (f->p == NULL) {
            abort();
        }
        memset(f->p + f->cap, 0, c - f->cap);
        f->cap = c;
    }
    if (len > f->len) {
        memset(f->p + f->len, 0, len - f->len); /* a hole or an extension reads as zeros */
    }
    f->len = len;
}

/* Apply a file op; @p bytes < o->len writes only that prefix (a torn write). */
static void apply_file(struct fbuf *f, const struct op *o, size_t bytes)
{
    if (o->kind == OP_WRITE) {
        size_t end = (size_t)o->off + bytes;
        if (end > f->len) {
            fbuf_size(f, end);
        }
        memcpy(f->p + o->off, o->data, bytes);
    } else if (o->kind == OP_TRUNC) {
        fbuf_size(f, (size_t)o->off);
    }
}

static int is_dir_op(const struct op *o)
{
    return o->kind == OP_CREATE || o->kind == OP_RENAME || o->kind == OP_UNLINK;
}

static void dir_remove(struct dent *dir, size_t *n, const char *name)
{
    size_t i;
    for (i = 0; i < *n; i++) {
        if (strcmp(dir[i].name, name) == 0) {
            dir[i] = dir[--*n];
            return;
        }
    }
}

/* A rename names its inode under the new name even where the create of the
 * old name did not reach the disk (a durable rename implies the inode). */
static void dir_apply(struct dent *dir, size_t *n, const struct op *o)
{
    const char *name = o->name;
    if (o->kind == OP_UNLINK) {
        dir_remove(dir, n, o->name);
        return;
    }
    if (o->kind == OP_RENAME) {
        dir_remove(dir, n, o->name);
        name = o->name2;
    }
    dir_remove(dir, n, name);
    if (*n < MAX_NAMES) {
        snprintf(dir[*n].name, NAME_LEN, "%s", name);
        dir[*n].ino = o->ino;
        (*n)++;
    }
}

/* One inode's choices at a cut: apply pending[0..q) whole, then (torn > 0)
 * the first `torn` bytes of pending[q]. */
struct choice {
    size_t q;
    size_t torn;
    int zero; /* the write reached its full length, but 1: bytes from `torn`
               * on read as zeros; 2: bytes before `torn` read as zeros */
};

/* Also model writes whose length reached the disk before (all) their bytes
 * did: a zero tail (ext4 data=writeback, a torn sector) or, for a write
 * across a 4 KiB page boundary, a zero head (its pages persisted out of
 * order). */
static int model_zero_tails;

struct cut {
    size_t k;                     /* calls [0, k) happened */
    struct dent durable[MAX_NAMES];
    size_t n_durable;
    size_t pend_dir[MAX_OPS / 8]; /* dir ops after the last directory fsync */
    size_t n_pend_dir;
    int ino_live[MAX_INO];        /* named in some directory outcome */
    struct fbuf base[MAX_INO];    /* content as of the inode's last fsync */
    size_t *pend[MAX_INO];        /* its file ops after that */
    size_t n_pend[MAX_INO];
    struct choice *opts[MAX_INO];
    size_t n_opts[MAX_INO];
};

static struct cut cut;

static void cut_free(void)
{
    int i;
    for (i = 0; i < MAX_INO; i++) {
        free(cut.base[i].p);
        free(cut.pend[i]);
        free(cut.opts[i]);
    }
    memset(&cut, 0, sizeof(cut));
}

static void add_opt(int ino, size_t q, size_t torn, int zero)
{
    size_t j;
    for (j = 0; j < cut.n_opts[ino]; j++) {
        if (cut.opts[ino][j].q == q && cut.opts[ino][j].torn == torn && cut.opts[ino][j].zero == zero) {
            return;
        }
    }
    cut.opts[ino][cut.n_opts[ino]].q = q;
    cut.opts[ino][cut.n_opts[ino]].torn = torn;
    cut.opts[ino][cut.n_opts[ino]].zero = zero;
    cut.n_opts[ino]++;
}

static void cut_build(size_t k)
{
    size_t i, last_dirsync = 0, p;
    size_t last_fsync[MAX_INO];
    int have_dirsync = 0, ino;
    cut_free();
    cut.k = k;
    for (ino = 0; ino < MAX_INO; ino++) {
        last_fsync[ino] = SIZE_MAX;
    }
    for (i = 0; i < k; i++) {
        if (ops[i].kind == OP_DIRSYNC) {
            last_dirsync = i;
            have_dirsync = 1;
        } else if (ops[i].kind == OP_FSYNC) {
            last_fsync[ops[i].ino] = i;
        }
    }
    for (i = 0; i < k; i++) {
        if (!is_dir_op(&ops[i])) {
            continue;
        }
        if (have_dirsync && i < last_dirsync) {
            dir_apply(cut.durable, &cut.n_durable, &ops[i]);
        } else {
            cut.pend_dir[cut.n_pend_dir++] = i;
        }
    }
    /* Inodes some directory outcome names. */
    for (p = 0; p < cut.n_durable; p++) {
        cut.ino_live[cut.durable[p].ino] = 1;
    }
    for (p = 0; p < cut.n_pend_dir; p++) {
        if (ops[cut.pend_dir[p]].kind != OP_UNLINK) {
            cut.ino_live[ops[cut.pend_dir[p]].ino] = 1;
        }
    }
    for (ino = 0; ino < n_ino; ino++) {
        size_t q, cnt = 0;
        if (!cut.ino_live[ino]) {
            continue;
        }
        for (i = 0; i < k; i++) {
            if ((ops[i].kind == OP_WRITE || ops[i].kind == OP_TRUNC) && ops[i].ino == ino) {
                if (last_fsync[ino] != SIZE_MAX && i < last_fsync[ino]) {
                    apply_file(&cut.base[ino], &ops[i], ops[i].len);
                } else {
                    cnt++;
                }
            }
        }
        cut.pend[ino] = calloc(cnt + 1, sizeof(size_t));
        cut.opts[ino] = calloc(cnt * 10 + 2, sizeof(struct choice)); /* (cnt + 1) + cnt * (5 + 3) */
        if (cut.pend[ino] == NULL || cut.opts[ino] == NULL) {
            abort();
        }
        for (i = 0; i < k; i++) {
            if ((ops[i].kind == OP_WRITE || ops[i].kind == OP_TRUNC) && ops[i].ino == ino &&
                (last_fsync[ino] == SIZE_MAX || i > last_fsync[ino])) {
                cut.pend[ino][cut.n_pend[ino]++] = i;
            }
        }
        for (q = 0; q <= cnt; q++) {
            add_opt(ino, q, 0, 0);
        }
        for (q = 0; q < cnt; q++) {
            const struct op *o = &ops[cut.pend[ino][q]];
            size_t t[5], j;
            if (o->kind != OP_WRITE || o->len == 0) {
                continue;
            }
            /* one byte, a record header (9), half, all but the CRC, all but one */
            t[0] = 1;
            t[1] = 9;
            t[2] = o->len / 2;
            t[3] = o->len - 4;
            t[4] = o->len - 1;
            for (j = 0; j < 5; j++) {
                if (t[j] > 0 && t[j] < o->len) {
                    add_opt(ino, q, t[j], 0);
                }
            }
            if (model_zero_tails) {
                add_opt(ino, q, 0, 1);
                add_opt(ino, q, o->len / 2, 1);
                /* pages land out of order: only a write across a 4 KiB page
                 * boundary can lose its head and keep its tail */
                if ((o->off >> 12) != ((o->off + o->len - 1) >> 12)) {
                    add_opt(ino, q, (size_t)((((o->off >> 12) + 1) << 12) - o->off), 2);
                }
            }
        }
    }
}

/* The directory outcomes of a cut: each pending entry change independently
 * reached the disk or not (applied in call order), 2^n outcomes; with more
 * than DIR_SUBSET_MAX pending changes, in-order prefixes only (n+1). */
#define DIR_SUBSET_MAX 10

static size_t dir_outcomes(void)
{
    return cut.n_pend_dir <= DIR_SUBSET_MAX ? (size_t)1 << cut.n_pend_dir : cut.n_pend_dir + 1;
}

static int dir_applies(size_t choice, size_t i)
{
    return cut.n_pend_dir <= DIR_SUBSET_MAX ? (int)((choice >> i) & 1u) : i < choice;
}

/* Combination number c of the cut (mixed radix: directory outcome, then one
 * choice per live inode) into *p_dir and sel[]. */
static void decode(uint64_t c, size_t *p_dir, size_t *sel)
{
    int ino;
    *p_dir = (size_t)(c % dir_outcomes());
    c /= dir_outcomes();
    for (ino = 0; ino < n_ino; ino++) {
        sel[ino] = 0;
        if (cut.ino_live[ino]) {
            sel[ino] = (size_t)(c % cut.n_opts[ino]);
            c /= cut.n_opts[ino];
        }
    }
}

static double combos(void)
{
    double t = (double)dir_outcomes();
    int ino;
    for (ino = 0; ino < n_ino; ino++) {
        if (cut.ino_live[ino]) {
            t *= (double)cut.n_opts[ino];
        }
    }
    return t;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t got = 0;
    if (fd < 0) {
        return -1;
    }
    while (got < n) {
        ssize_t w = write(fd, p + got, n - got);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        got += (size_t)w;
    }
    return close(fd);
}

/* Write the state (p_dir, sel) into the empty directory @p dir. */
static void materialise(const char *dir, size_t p_dir, const size_t *sel)
{
    struct dent d[MAX_NAMES];
    size_t n = cut.n_durable, i;
    memcpy(d, cut.durable, sizeof(d));
    for (i = 0; i < cut.n_pend_dir; i++) {
        if (dir_applies(p_dir, i)) {
            dir_apply(d, &n, &ops[cut.pend_dir[i]]);
        }
    }
    for (i = 0; i < n; i++) {
        int ino = d[i].ino;
        struct fbuf f = {NULL, 0, 0};
        const struct choice *c = &cut.opts[ino][sel[ino]];
        char path[1024];
        size_t j;
        fbuf_size(&f, cut.base[ino].len);
        if (cut.base[ino].len > 0) {
            memcpy(f.p, cut.base[ino].p, cut.base[ino].len);
        }
        for (j = 0; j < c->q; j++) {
            apply_file(&f, &ops[cut.pend[ino][j]], ops[cut.pend[ino][j]].len);
        }
        if (c->zero) {
            const struct op *o = &ops[cut.pend[ino][c->q]];
            apply_file(&f, o, o->len);
            if (c->zero == 1) {
                memset(f.p + o->off + c->torn, 0, o->len - c->torn);
            } else {
                memset(f.p + o->off, 0, c->torn);
            }
        } else if (c->torn > 0) {
            apply_file(&f, &ops[cut.pend[ino][c->q]], c->torn);
        }
        if (snprintf(path, sizeof(path), "%s/%s", dir, d[i].name) >= (int)sizeof(path)) {
            fail_msg("path too long: %s/%s", dir, d[i].name);
        }
        if (write_file(path, f.p, f.len) != 0) {
            fail_msg("cannot write %s", path);
        }
        free(f.p);
    }
}

/* ------------------------------------------------------------------ */
/* The contract                                                        */

struct expect {
    uint8_t put[MAX_SEQ]; /* 0 never, 1 begun, 2 returned OK */
    uint8_t del[MAX_SEQ];
    uint32_t max_acked; /* 1 + highest seq whose put returned OK (0: none) */
};

static void expect_at(size_t k, struct expect *e)
{
    size_t i;
    memset(e, 0, sizeof(*e));
    for (i = 0; i < k; i++) {
        const struct op *o = &ops[i];
        if (o->kind != OP_MARK || o->seq >= MAX_SEQ) {
            continue;
        }
        if (o->mark == M_PUT_BEGIN) {
            e->put[o->seq] = 1;
        } else if (o->mark == M_PUT_OK) {
            e->put[o->seq] = 2;
            if (o->seq + 1 > e->max_acked) {
                e->max_acked = o->seq + 1;
            }
        } else if (o->mark == M_DEL_BEGIN) {
            e->del[o->seq] = 1;
        } else if (o->mark == M_DEL_OK) {
            e->del[o->seq] = 2;
        } else if (e->del[o->seq] == 0) {
            e->del[o->seq] = 1; /* damaged: allowed to be missing, never to be wrong */
        }
    }
}

struct stats {
    unsigned long states, cuts, sampled_cuts, failures, resurrected, torn_cut, damaged;
    double space; /* states the model allows at the cuts, checked or not */
    unsigned long opened_empty;
};

/* Read every record in order; checks bytes and provenance. Returns a
 * message on the first violation (static buffer), NULL if fine. */
static const char *read_all(struct iothub_storage *s, const struct expect *e, uint32_t *got, size_t *n_got)
{
    static char msg[256];
    static uint8_t buf[8192], want[8192];
    uint32_t from = 0, seq;
    *n_got = 0;
    while (s->next(s->ctx, from, &seq) == TMA_OK) {
        size_t len = 0;
        tma_status st;
        if (*n_got > 0 && seq <= got[*n_got - 1]) {
            snprintf(msg, sizeof(msg), "seq %u after %u: out of order", seq, got[*n_got - 1]);
            return msg;
        }
        if (seq >= MAX_SEQ || e->put[seq] == 0) {
            snprintf(msg, sizeof(msg), "seq %u was never put", seq);
            return msg;
        }
        st = s->get(s->ctx, seq, buf, sizeof(buf), &len);
        if (st != TMA_OK) {
            snprintf(msg, sizeof(msg), "get(%u) = %d", seq, (int)st);
            return msg;
        }
        payload(seq, want);
        if (len != payload_len(seq) || memcmp(buf, want, len) != 0) {
            snprintf(msg, sizeof(msg), "seq %u: %zu bytes, not the %zu put", seq, len, payload_len(seq));
            return msg;
        }
        got[(*n_got)++] = seq;
        if (*n_got == MAX_SEQ || seq == UINT32_MAX) {
            break;
        }
        from = seq + 1;
    }
    return NULL;
}

/* The workload's sync flag: with it, an acknowledged put must survive;
 * without it only consistency is promised after a power cut (records in
 * order, exact bytes, nothing invented, a working log). */
static bool workload_sync = true;

static const char *check_state(const char *dir, const struct expect *e, struct stats *stats)
{
    static char msg[320];
    static uint32_t got[MAX_SEQ], again[MAX_SEQ];
    struct iothub_file_storage fs;
    struct iothub_storage s;
    char path[1024];
    const char *why;
    size_t n_got = 0, n_again = 0, i, j;
    uint32_t se, seq;
    tma_status st;
    snprintf(path, sizeof(path), "%s/%s", dir, LOG_NAME);
    st = iothub_file_storage_open(&fs, path, workload_sync);
    if (st != TMA_OK) {
        snprintf(msg, sizeof(msg), "open refused the log: status %d", (int)st);
        return msg;
    }
    if (fs.truncated_bytes > 0) {
        stats->torn_cut++;
    }
    if (fs.damaged_bytes > 0) {
        stats->damaged++;
    }
    s = iothub_file_storage_iface(&fs);
    why = read_all(&s, e, got, &n_got);
    if (why != NULL) {
        iothub_file_storage_close(&fs);
        return why;
    }
    if (n_got == 0) {
        stats->opened_empty++;
    }
    for (seq = 0; seq < MAX_SEQ; seq++) {
        int found = 0;
        for (i = 0; i < n_got; i++) {
            found |= got[i] == seq;
        }
        /* A delete that had begun may have taken effect before the cut. */
        if (workload_sync && e->put[seq] == 2 && e->del[seq] == 0 && !found) {
            iothub_file_storage_close(&fs);
            snprintf(msg, sizeof(msg), "LOST: seq %u (put returned OK, not deleted) is not recovered (%zu recovered)",
                     seq, n_got);
            return msg;
        }
        if (found && e->del[seq] == 2) {
            stats->resurrected++;
        }
    }
    se = s.seq_end(s.ctx);
    if ((n_got > 0 && se <= got[n_got - 1]) || (workload_sync && se < e->max_acked)) {
        iothub_file_storage_close(&fs);
        snprintf(msg, sizeof(msg), "seq_end %u is not above every recovered/acknowledged seq (max acked+1 %u)", se,
                 e->max_acked);
        return msg;
    }
    if (se >= MAX_SEQ - 1) {
        iothub_file_storage_close(&fs);
        return "seq_end out of the test's range";
    }
    st = put_msg(&s, se);
    iothub_file_storage_close(&fs);
    if (st != TMA_OK) {
        snprintf(msg, sizeof(msg), "put(%u) after recovery = %d", se, (int)st);
        return msg;
    }
    /* What recovery left plus the new record, once more from the disk. */
    st = iothub_file_storage_open(&fs, path, workload_sync);
    if (st != TMA_OK) {
        snprintf(msg, sizeof(msg), "second open after recovery = %d", (int)st);
        return msg;
    }
    {
        struct expect e2 = *e;
        e2.put[se] = 2;
        s = iothub_file_storage_iface(&fs);
        why = read_all(&s, &e2, again, &n_again);
    }
    iothub_file_storage_close(&fs);
    if (why != NULL) {
        return why;
    }
    if (n_again != n_got + 1 || again[n_got] != se) {
        snprintf(msg, sizeof(msg), "after put(%u) and reopen: %zu records, expected %zu", se, n_again, n_got + 1);
        return msg;
    }
    for (j = 0; j < n_got; j++) {
        if (again[j] != got[j]) {
            return "records changed between two recoveries";
        }
    }
    return NULL;
}

static void describe(size_t k, size_t p_dir, const size_t *sel, const char *why)
{
    size_t i, from = k > 12 ? k - 12 : 0;
    int ino;
    static const char *kn[] = {"create", "rename", "unlink", "write", "trunc", "fsync", "dirsync", "mark"};
    static const char *mn[] = {"put-begin", "put-ok", "del-begin", "del-ok", "damage"};
    fprintf(stderr, "crashfs: FAIL at cut %zu (calls [0,%zu) done): %s\n", k, k, why);
    fprintf(stderr, "  directory: of %zu entry changes after the last directory fsync, applied:", cut.n_pend_dir);
    for (i = 0; i < cut.n_pend_dir; i++) {
        if (dir_applies(p_dir, i)) {
            fprintf(stderr, " %zu", cut.pend_dir[i]);
        }
    }
    fprintf(stderr, "\n");
    for (ino = 0; ino < n_ino; ino++) {
        if (cut.ino_live[ino]) {
            const struct choice *c = &cut.opts[ino][sel[ino]];
            fprintf(stderr, "  inode %d: fsynced %zu bytes, %zu of %zu later writes/truncates applied", ino,
                    cut.base[ino].len, c->q, cut.n_pend[ino]);
            if (c->zero) {
                fprintf(stderr, ", then the next at full length with zeros %s byte %zu",
                        c->zero == 1 ? "from" : "before", c->torn);
            } else if (c->torn > 0) {
                fprintf(stderr, ", then the first %zu bytes of the next", c->torn);
            }
            fprintf(stderr, "\n");
        }
    }
    fprintf(stderr, "  calls before the cut:\n");
    for (i = from; i < k; i++) {
        const struct op *o = &ops[i];
        if (o->kind == OP_MARK) {
            fprintf(stderr, "   %4zu %s %u\n", i, mn[o->mark], o->seq);
        } else {
            fprintf(stderr, "   %4zu %s ino=%d %s%s%s off=%llu len=%zu\n", i, kn[o->kind], o->ino, o->name,
                    o->kind == OP_RENAME ? " -> " : "", o->name2, (unsigned long long)o->off, o->len);
        }
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    return tma_test_xorshift64(&rng_state);
}

/* Every cut of the recording; all states of a cut, or STATES_PER_CUT of
 * them drawn with a fixed seed when there are more. */
static char check_dir[600];
static char hdr_dir[600];

static void check_recording(size_t per_cut, struct stats *stats)
{
    char *dir = check_dir;
    size_t k, sel[MAX_INO];
    make_dir(check_dir, sizeof(check_dir), "check");
    fake_sync = 1;
    for (k = 0; k <= n_ops; k++) {
        double total;
        uint64_t c, n;
        if (k < n_ops && ops[k].kind == OP_MARK) {
            continue; /* the cut just before the next call sees every mark before it */
        }
        cut_build(k);
        total = combos();
        stats->cuts++;
        stats->space += total;
        stats->sampled_cuts += total > (double)per_cut;
        n = total <= (double)per_cut ? (uint64_t)total : per_cut;
        for (c = 0; c < n; c++) {
            struct expect e;
            size_t p_dir;
            const char *why;
            uint64_t code = total <= (double)per_cut ? c : rng() % (uint64_t)(total < 1e18 ? total : 1e18);
            decode(code, &p_dir, sel);
            rm_files(dir);
            materialise(dir, p_dir, sel);
            expect_at(k, &e);
            why = check_state(dir, &e, stats);
            stats->states++;
            if (why != NULL) {
                if (stats->failures < 3) {
                    describe(k, p_dir, sel, why);
                }
                stats->failures++;
            }
        }
    }
    cut_free();
    rm_files(dir);
    rmdir(dir);
    check_dir[0] = '\0';
    fake_sync = 0;
}

/* The recorder saw every call: the model's view of the directory equals the
 * real one, byte for byte. */
static void assert_model_matches_disk(void)
{
    struct dent d[MAX_NAMES];
    size_t n = 0, i;
    memset(d, 0, sizeof(d));
    for (i = 0; i < n_ops; i++) {
        if (is_dir_op(&ops[i])) {
            dir_apply(d, &n, &ops[i]);
        }
    }
    assert_int_equal(n, n_vol);
    for (i = 0; i < n; i++) {
        struct fbuf f = {NULL, 0, 0};
        size_t j, len = 0;
        char path[1024];
        uint8_t *real;
        FILE *fp;
        for (j = 0; j < n_ops; j++) {
            if ((ops[j].kind == OP_WRITE || ops[j].kind == OP_TRUNC) && ops[j].ino == d[i].ino) {
                apply_file(&f, &ops[j], ops[j].len);
            }
        }
        if (snprintf(path, sizeof(path), "%s/%s", rec_dir, d[i].name) >= (int)sizeof(path)) {
            fail_msg("path too long: %s/%s", rec_dir, d[i].name);
        }
        fp = fopen(path, "rb");
        assert_non_null(fp);
        real = malloc(f.len + 1);
        assert_non_null(real);
        len = fread(real, 1, f.len + 1, fp);
        fclose(fp);
        if (len != f.len || (len > 0 && memcmp(real, f.p, len) != 0)) {
            fail_msg("recorder missed a call: %s is %zu bytes on disk, %zu in the model", d[i].name, len, f.len);
        }
        free(real);
        free(f.p);
    }
}

/* ------------------------------------------------------------------ */
/* Workloads                                                           */

static void open_log(struct iothub_file_storage *fs)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
    assert_int_equal(iothub_file_storage_open(fs, path, workload_sync), TMA_OK);
    fs->compact_min = 600; /* compaction after a few kilobytes, not 256 KB */
    memcpy(log_salt, fs->salt, sizeof(log_salt));
}

static void do_put(struct iothub_storage *s, uint32_t seq)
{
    mark(M_PUT_BEGIN, seq);
    assert_int_equal(put_msg(s, seq), TMA_OK);
    mark(M_PUT_OK, seq);
}

static void do_del(struct iothub_storage *s, uint32_t seq)
{
    mark(M_DEL_BEGIN, seq);
    assert_int_equal(s->del(s->ctx, seq), TMA_OK);
    mark(M_DEL_OK, seq);
}

/* FIFO: delete the oldest stored record (the damaged one is gone). */
static int del_oldest(struct iothub_storage *s, uint32_t *oldest)
{
    uint32_t seq;
    if (s->next(s->ctx, *oldest, &seq) != TMA_OK) {
        return 0;
    }
    do_del(s, seq);
    *oldest = seq + 1;
    return 1;
}

/* Compact; only the injected directory fsync fault may make it fail. */
static void do_compact(struct iothub_file_storage *fs)
{
    int before = dirsync_fault;
    tma_status st = iothub_file_storage_compact(fs);
    if (st != TMA_OK && !(before == 2 && dirsync_fault == 3) && !(before == 1 && dirsync_fault == 3)) {
        fail_msg("compact = %d", (int)st);
    }
}

static size_t count_ops(enum op_kind kind)
{
    size_t i, n = 0;
    for (i = 0; i < n_ops; i++) {
        n += ops[i].kind == kind;
    }
    return n;
}

static void print_stats(const char *name, const struct stats *st, double secs)
{
    printf("crashfs %s: %zu calls recorded (%zu writes, %zu fsync, %zu dir fsync, %zu renames), %lu cuts "
           "(%lu sampled, the rest exhaustive), %lu of %.0f modelled states checked in %.1f s: %lu failures; "
           "%lu states came up with a torn tail cut, %lu with damage skipped, %lu empty; acknowledged deletes "
           "that came back: %lu\n",
           name, n_ops, count_ops(OP_WRITE), count_ops(OP_FSYNC), count_ops(OP_DIRSYNC), count_ops(OP_RENAME),
           st->cuts, st->sampled_cuts, st->states, st->space, secs, st->failures, st->torn_cut, st->damaged,
           st->opened_empty, st->resurrected);
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The recording needs the calls, not durability: its fsyncs are logged but
 * not passed to the disk (hundreds of them took seconds each on a busy one). */
static void begin_recording(void)
{
    reset_recording();
    make_dir(rec_dir, sizeof(rec_dir), "rec");
    fake_sync = 1;
    rec_on = 1;
}

static void end_recording(void)
{
    rec_on = 0;
    fake_sync = 0;
    assert_model_matches_disk();
}

static void drop_recording(void)
{
    rm_files(rec_dir);
    rmdir(rec_dir);
    rec_dir[0] = '\0';
    reset_recording();
}

/* After every test, passed or failed: no directory left behind. */
static int cleanup(void **state)
{
    (void)state;
    rec_on = 0;
    fake_sync = 0;
    dirsync_fault = 0;
    dirsync_fault_errno = EIO;
    model_zero_tails = 0;
    workload_sync = true;
    attacker_knows_salt = true;
    if (rec_dir[0] != '\0') {
        drop_recording();
    }
    if (hdr_dir[0] != '\0') {
        rm_files(hdr_dir);
        rmdir(hdr_dir);
        hdr_dir[0] = '\0';
    }
    if (check_dir[0] != '\0') {
        rm_files(check_dir);
        rmdir(check_dir);
        check_dir[0] = '\0';
    }
    cut_free();
    return 0;
}

/* Regressions (found by this harness): a new log's directory entry must be
 * durable before the first put returns OK (was: lost with the whole log);
 * and a new log whose header reached the disk as zeros must open as an empty
 * log (was: refused as a foreign file for ever). The smallest workload: open
 * a fresh log, two puts; every state of every cut, both write models. */
static void test_crashfs_new_log_first_put(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage s;
    struct stats st, stz;
    (void)state;
    memset(&st, 0, sizeof(st));
    memset(&stz, 0, sizeof(stz));
    begin_recording();
    open_log(&fs);
    s = iothub_file_storage_iface(&fs);
    do_put(&s, 0);
    do_put(&s, 1);
    iothub_file_storage_close(&fs);
    end_recording();
    check_recording(SIZE_MAX, &st);
    print_stats("new log, two puts (every state)", &st, 0);
    model_zero_tails = 1;
    check_recording(SIZE_MAX, &stz);
    model_zero_tails = 0;
    print_stats("new log, two puts, zero tails too (every state)", &stz, 0);
    drop_recording();
    assert_int_equal(st.failures, 0);
    assert_int_equal(stz.failures, 0);
    assert_true(st.states > 20);
    assert_true(stz.states > st.states);
}

/* Short files: what a power cut leaves of a new log's header write (format
 * v2: 20 bytes; a prefix of it, a prefix followed by zeros, or the magic
 * followed by part of the random salt and its CRC) is a new log, and so is
 * an empty v1 log (migrated); anything else is left alone with a clear
 * status. */
static void test_crashfs_torn_header_files(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        tma_status want;
    } cases[] = {
        {"", 0, TMA_OK},
        {"TMA", 3, TMA_OK},
        {"\0\0\0\0\0\0\0\0", 8, TMA_OK},
        {"TMAO\0\0\0\0", 8, TMA_OK},
        {"TMAOUTB\0", 8, TMA_OK},
        {"TMAOUTB\x01", 8, TMA_OK},                 /* an empty v1 log */
        {"TMAOUTB\x02", 8, TMA_OK},                 /* torn after the magic */
        {"TMAOUTB\x02\x11\x22\x33", 11, TMA_OK},    /* torn in the salt */
        {"TMAOUTB\x02\x11\x22\x33\0\0\0\0\0\0\0\0\0", 20, TMA_OK}, /* zeros: CRC fails */
        {"TMAO\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20, TMA_OK},
        {"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20, TMA_OK},
        {"TMAOUTB\x03", 8, TMA_ERR(TMA_LAYER_STORE, TMA_C_UNSUPPORTED)},
        {"TM\0A", 4, TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED)},
        {"hello\0\0\0", 8, TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED)},
        {"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 21, TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED)},
        /* a v2 file header whose CRC fails, with a record after it */
        {"TMAOUTB\x02\x11\x22\x33\0\0\0\0\0\0\0\0\0P", 21, TMA_ERR(TMA_LAYER_STORE, TMA_C_INTEGRITY)},
    };
    char *dir = hdr_dir, path[700];
    size_t i;
    (void)state;
    make_dir(hdr_dir, sizeof(hdr_dir), "hdr");
    snprintf(path, sizeof(path), "%s/%s", dir, LOG_NAME);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct iothub_file_storage fs;
        struct iothub_storage s;
        uint8_t back[32];
        tma_status st;
        FILE *fp;
        size_t n;
        rm_files(dir);
        assert_int_equal(write_file(path, (const uint8_t *)cases[i].bytes, cases[i].len), 0);
        st = iothub_file_storage_open(&fs, path, true);
        if (st != cases[i].want) {
            fail_msg("case %zu: open = %d, want %d", i, (int)st, (int)cases[i].want);
        }
        if (st == TMA_OK) {
            s = iothub_file_storage_iface(&fs);
            assert_int_equal(s.seq_end(s.ctx), 0);
            assert_int_equal(put_msg(&s, 0), TMA_OK);
            iothub_file_storage_close(&fs);
            continue;
        }
        fp = fopen(path, "rb"); /* refused: untouched */
        assert_non_null(fp);
        n = fread(back, 1, sizeof(back), fp);
        fclose(fp);
        assert_int_equal(n, cases[i].len);
        assert_memory_equal(back, cases[i].bytes, n);
    }
    rm_files(dir);
    rmdir(dir);
    hdr_dir[0] = '\0';
}

/* Write bytes into the (closed) log and fsync them: the recorder sees it,
 * so the model knows the damage as durable content. */
static void inject(uint64_t off, const uint8_t *p, size_t n)
{
    char path[1024];
    struct iovec iov;
    int fd;
    snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
    fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    iov.iov_base = (void *)(uintptr_t)p;
    iov.iov_len = n;
    assert_int_equal(pwritev(fd, &iov, 1, (off_t)off), (ssize_t)n);
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

/* Whether the recorded log is format v1 (the old code). */
static bool log_is_v1(void)
{
    char path[1024];
    uint8_t h[8];
    FILE *fp;
    size_t n;
    snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    n = fread(h, 1, sizeof(h), fp);
    fclose(fp);
    return n == 8 && h[7] == 1;
}

/* The log's size, and the offset of the data of seq's PUT record (0: none). */
static uint64_t log_scan(uint32_t seq, uint64_t *out_size)
{
    char path[1024];
    uint8_t *buf;
    uint64_t pos, found = 0;
    size_t hl; /* record header: 9 bytes in format v1, 13 in v2 */
    size_t len;
    FILE *fp;
    snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    buf = malloc(1u << 20);
    assert_non_null(buf);
    len = fread(buf, 1, 1u << 20, fp);
    fclose(fp);
    /* Format-aware, so the harness also runs against the v1 code (to show
     * what the record images did to it). */
    hl = len >= 8 && buf[7] == 1 ? 9 : 13;
    pos = hl == 9 ? 8 : 20;
    while (pos + hl + 4 <= len) {
        uint32_t rseq = (uint32_t)buf[pos + 1] | (uint32_t)buf[pos + 2] << 8 | (uint32_t)buf[pos + 3] << 16 |
                        (uint32_t)buf[pos + 4] << 24;
        uint32_t dlen = (uint32_t)buf[pos + 5] | (uint32_t)buf[pos + 6] << 8 | (uint32_t)buf[pos + 7] << 16 |
                        (uint32_t)buf[pos + 8] << 24;
        if (buf[pos] == 'P' && rseq == seq) {
            found = pos + hl;
        }
        pos += hl + 4u + dlen;
    }
    free(buf);
    *out_size = len;
    return found;
}

/* The scripted workload: puts of 0..4097 bytes (two gathered parts), FIFO
 * deletes, automatic and explicit compactions, reopens; a torn record left
 * at the end of the log (as by a crash) and a damaged record in the middle
 * (a bad sector), each followed by a reopen, so cuts also fall inside
 * recovery's truncation and its rewrite of a damaged log; at the end
 * everything deleted, compacted, reopened and one more put (numbering
 * must continue). */
static void record_workload(void)
{
    struct iothub_file_storage fs;
    struct iothub_storage s;
    uint32_t next_seq = 0, oldest = 0;
    uint64_t size, off;
    unsigned r;
    begin_recording();
    open_log(&fs);
    s = iothub_file_storage_iface(&fs);
    for (r = 0; r < 10; r++) {
        unsigned i, puts = 3 + r % 3, dels = 2 + r % 2;
        for (i = 0; i < puts; i++) {
            do_put(&s, next_seq++);
        }
        for (i = 0; i < dels; i++) {
            del_oldest(&s, &oldest);
        }
        if (r % 4 == 2) {
            do_compact(&fs);
        }
        if (r % 3 == 1) {
            iothub_file_storage_close(&fs);
            open_log(&fs);
            s = iothub_file_storage_iface(&fs);
        }
        if (r == 4) {
            /* A put record cut short by a crash: header for 100 bytes, 16 written. */
            uint8_t rec[17 + 100], data[100];
            iothub_file_storage_close(&fs);
            (void)log_scan(0, &size);
            memset(data, 0x5A, sizeof(data));
            if (log_is_v1()) {
                (void)v1_record(rec, 'P', next_seq, data, sizeof(data));
            } else {
                (void)v2_record(rec, log_salt, 'P', next_seq, data, sizeof(data));
            }
            inject(size, rec, 29);
            open_log(&fs);
            assert_true(fs.truncated_bytes == 29);
            s = iothub_file_storage_iface(&fs);
        }
        if (r == 7) {
            /* One byte of a live record in the middle goes bad. */
            static const uint8_t bad = 0xA5;
            uint32_t victim = oldest + 1;
            iothub_file_storage_close(&fs);
            while (payload_len(victim) == 0) {
                victim++;
            }
            assert_true(victim + 1 < next_seq);
            off = log_scan(victim, &size);
            assert_true(off > 0);
            mark(M_DAMAGE, victim);
            inject(off, &bad, 1);
            open_log(&fs);
            assert_true(fs.damaged_bytes > 0);
            s = iothub_file_storage_iface(&fs);
        }
    }
    while (del_oldest(&s, &oldest)) {
    }
    do_compact(&fs);
    iothub_file_storage_close(&fs);
    open_log(&fs);
    s = iothub_file_storage_iface(&fs);
    do_put(&s, next_seq++);
    do_put(&s, next_seq++);
    do_del(&s, next_seq - 2);
    iothub_file_storage_close(&fs);
    end_recording();
    /* The script must really have compacted (automatically too). */
    assert_true(count_ops(OP_RENAME) >= 5);
}

static void test_crashfs_workload(void **state)
{
    struct stats st;
    double t0;
    (void)state;
    memset(&st, 0, sizeof(st));
    record_workload();
    t0 = now_s();
    check_recording(STATES_PER_CUT, &st);
    print_stats("workload", &st, now_s() - t0);
    drop_recording();
    assert_int_equal(st.failures, 0);
}

/* The workload where the directory fsync after a compaction's rename fails
 * (EIO): no put may return OK while that rename can still be undone by a
 * power cut. The first compaction (an automatic one) is followed by a
 * reopen, the second (explicit) by puts: both. */
static void test_crashfs_dir_fsync_error(void **state)
{
    unsigned which;
    (void)state;
    for (which = 1; which <= 2; which++) {
        /* sampled: each pass alone is exhaustive at about 4,400 states */
        struct stats st;
        char name[80];
        double t0;
        memset(&st, 0, sizeof(st));
        dirsync_fault = 1;
        dirsync_fault_rename = which;
        renames_seen = 0;
        record_workload();
        assert_int_equal(dirsync_fault, 3); /* the fault was hit */
        dirsync_fault = 0;
        t0 = now_s();
        check_recording(STATES_PER_CUT / 4, &st);
        snprintf(name, sizeof(name), "workload, directory fsync after rename %u fails", which);
        print_stats(name, &st, now_s() - t0);
        drop_recording();
        assert_int_equal(st.failures, 0);
    }
}

/* A directory fsync that fails when open() creates a log: EIO refuses the
 * open with TMA_C_IO (no put could keep its promise); EINVAL (a file system
 * that cannot sync directories) is not held against the log. */
static void test_crashfs_open_dir_fsync_error(void **state)
{
    struct iothub_file_storage fs;
    char path[1024];
    (void)state;
    begin_recording();
    snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
    dirsync_fault = 2; /* the next directory fsync */
    dirsync_fault_errno = EIO;
    assert_int_equal(iothub_file_storage_open(&fs, path, true), TMA_ERR(TMA_LAYER_STORE, TMA_C_IO));
    assert_int_equal(dirsync_fault, 3);
    assert_int_equal(iothub_file_storage_open(&fs, path, true), TMA_OK); /* the fault is gone */
    iothub_file_storage_close(&fs);
    dirsync_fault = 2;
    dirsync_fault_errno = EINVAL;
    assert_int_equal(iothub_file_storage_open(&fs, path, true), TMA_OK);
    assert_int_equal(dirsync_fault, 3);
    iothub_file_storage_close(&fs);
    dirsync_fault = 0;
    dirsync_fault_errno = EIO;
    end_recording();
    drop_recording();
}

/* Every directory fsync fails (a directory that stays unsyncable): the
 * delete that triggers an automatic compaction cannot make the rename durable
 * and the reopen cannot either, so the log is closed. That delete and every
 * later call must say so with the I/O error (before: the delete returned OK
 * and later calls TMA_C_BAD_PARAM, which the outbox took for a bug of its
 * own), and a new open once the directory syncs again finds every message
 * that was not deleted. */
static void test_crashfs_dir_fsync_always_fails(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage io;
    char path[1024];
    uint8_t buf[600];
    size_t len = 0;
    uint32_t seq, next, last_ok_del = 0;
    tma_status st = TMA_OK;
    const tma_status io_err = TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    (void)state;
    begin_recording();
    snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
    assert_int_equal(iothub_file_storage_open(&fs, path, true), TMA_OK);
    fs.compact_min = 4096;
    io = iothub_file_storage_iface(&fs);
    memset(buf, 0x5a, sizeof(buf));
    for (seq = 1; seq <= 40; seq++) {
        struct tma_span part = {buf, sizeof(buf)};
        assert_int_equal(io.put(io.ctx, seq, &part, 1), TMA_OK);
    }
    dirsync_fault = 4;
    for (seq = 1; seq <= 39 && st == TMA_OK; seq++) {
        st = io.del(io.ctx, seq);
        if (st == TMA_OK) {
            last_ok_del = seq;
        }
    }
    assert_int_equal(st, io_err); /* the delete whose compaction could not finish */
    assert_true(last_ok_del >= 1 && last_ok_del < 39);
    {
        struct tma_span part = {buf, sizeof(buf)};
        assert_int_equal(io.put(io.ctx, 41, &part, 1), io_err);
    }
    assert_int_equal(io.get(io.ctx, 40, buf, sizeof(buf), &len), io_err);
    assert_int_equal(io.del(io.ctx, 40), io_err);
    assert_int_equal(io.next(io.ctx, 0, &next), io_err);
    iothub_file_storage_close(&fs);
    dirsync_fault = 0;
    assert_int_equal(iothub_file_storage_open(&fs, path, true), TMA_OK);
    io = iothub_file_storage_iface(&fs);
    assert_int_equal(io.next(io.ctx, 0, &next), TMA_OK);
    assert_true(next <= last_ok_del + 2); /* the failed delete may or may not have stuck */
    assert_int_equal(io.get(io.ctx, 40, buf, sizeof(buf), &len), TMA_OK);
    assert_int_equal(len, sizeof(buf));
    iothub_file_storage_close(&fs);
    end_recording();
    drop_recording();
}

/* The workload without sync (fsync only in compaction and recovery): a power
 * cut may lose acknowledged puts (documented), but every state must still
 * open, in order, with exact bytes and a working put. Both write models. */
static void test_crashfs_workload_nosync(void **state)
{
    struct stats st, stz;
    double t0;
    (void)state;
    memset(&st, 0, sizeof(st));
    memset(&stz, 0, sizeof(stz));
    workload_sync = false;
    record_workload();
    t0 = now_s();
    check_recording(STATES_PER_CUT / 2, &st);
    print_stats("workload without sync", &st, now_s() - t0);
    drop_recording();
    attacker_knows_salt = false;
    record_workload();
    model_zero_tails = 1;
    t0 = now_s();
    check_recording(STATES_PER_CUT / 2, &stz);
    model_zero_tails = 0;
    print_stats("workload without sync, zero tails too", &stz, now_s() - t0);
    drop_recording();
    attacker_knows_salt = true;
    workload_sync = true;
    assert_int_equal(st.failures, 0);
    assert_int_equal(stz.failures, 0);
}

/* The same workload where a write may also reach its full length with a
 * zero tail (its size made durable before its data). */
static void test_crashfs_workload_zero_tails(void **state)
{
    struct stats st;
    double t0;
    (void)state;
    memset(&st, 0, sizeof(st));
    attacker_knows_salt = false;
    record_workload();
    model_zero_tails = 1;
    t0 = now_s();
    check_recording(STATES_PER_CUT, &st);
    model_zero_tails = 0;
    print_stats("workload, zero tails too", &st, now_s() - t0);
    drop_recording();
    attacker_knows_salt = true;
    assert_int_equal(st.failures, 0);
}

/* Append @p n bytes at the end of the log being recorded (creating it and
 * making its name durable if @p create) and fsync: what the v1 code did for
 * a put (through the recorder, so the model knows every byte). */
static void v1_write(const uint8_t *p, size_t n, bool create)
{
    char path[1024];
    struct iovec iov;
    struct stat sb;
    int fd;
    snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
    fd = open(path, create ? O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC : O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    iov.iov_base = (void *)(uintptr_t)p;
    iov.iov_len = n;
    assert_int_equal(pwritev(fd, &iov, 1, sb.st_size), (ssize_t)n);
    assert_int_equal(fdatasync(fd), 0);
    close(fd);
    if (create) {
        fd = open(rec_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fsync(fd), 0);
        close(fd);
    }
}

/* Migration of a v1 log is crash-safe: a log the v1 code wrote (a header,
 * four puts, a delete, each fdatasync'ed as that code did) is opened by the
 * v2 code, which rewrites it as v2 (".tmp", fsync, rename, directory fsync)
 * before puts of its own (one of them a 4097-byte message with record
 * images). A power cut anywhere, also inside the migration, must leave the
 * v1 log or the v2 one with every acknowledged message: never neither. */
/* @p dir_fault: the directory fsync after the migration's rename fails
 * (EIO): that open fails with TMA_C_IO, the next one finds the v2 log. */
static void record_migration(int dir_fault)
{
    static uint8_t rec[8192], data[8192];
    struct iothub_file_storage fs;
    struct iothub_storage s;
    uint32_t seq, oldest = 0;
    begin_recording();
    v1_write((const uint8_t *)"TMAOUTB\x01", 8, true);
    for (seq = 0; seq < 4; seq++) {
        assert_true(payload_len(seq) != 4097); /* the v1 rules cannot protect one */
        payload(seq, data);
        mark(M_PUT_BEGIN, seq);
        v1_write(rec, v1_record(rec, 'P', seq, data, (uint32_t)payload_len(seq)), false);
        mark(M_PUT_OK, seq);
    }
    mark(M_DEL_BEGIN, 0);
    v1_write(rec, v1_record(rec, 'D', 0, NULL, 0), false);
    mark(M_DEL_OK, 0);
    oldest = 1;
    if (dir_fault) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", rec_dir, LOG_NAME);
        dirsync_fault = 1;
        dirsync_fault_rename = 1;
        renames_seen = 0;
        assert_int_equal(iothub_file_storage_open(&fs, path, workload_sync),
                         TMA_ERR(TMA_LAYER_STORE, TMA_C_IO));
        assert_int_equal(dirsync_fault, 3);
        dirsync_fault = 0;
    }
    open_log(&fs);
    assert_int_equal(fs.format_found, dir_fault ? 2 : 1);
    s = iothub_file_storage_iface(&fs);
    assert_int_equal(s.seq_end(s.ctx), 4);
    for (seq = 4; seq < 7; seq++) {
        do_put(&s, seq);
    }
    assert_int_equal(payload_len(4), 4097);
    del_oldest(&s, &oldest);
    iothub_file_storage_close(&fs);
    open_log(&fs);
    assert_int_equal(fs.format_found, 2);
    s = iothub_file_storage_iface(&fs);
    do_put(&s, 7);
    iothub_file_storage_close(&fs);
    end_recording();
    assert_true(count_ops(OP_RENAME) >= 1);
}

static void test_crashfs_v1_migration(void **state)
{
    struct stats st, stz;
    (void)state;
    memset(&st, 0, sizeof(st));
    memset(&stz, 0, sizeof(stz));
    record_migration(0);
    check_recording(SIZE_MAX, &st);
    print_stats("v1 log migrated, then puts (every state)", &st, 0);
    drop_recording();
    attacker_knows_salt = false; /* see there */
    record_migration(0);
    model_zero_tails = 1;
    check_recording(SIZE_MAX, &stz);
    model_zero_tails = 0;
    print_stats("the same, zero tails too (every state)", &stz, 0);
    drop_recording();
    attacker_knows_salt = true;
    assert_int_equal(st.failures, 0);
    assert_int_equal(stz.failures, 0);
    assert_true(st.states > 100);
}

/* The migration's directory fsync fails (EIO): that open fails, no state
 * of a power cut loses or resurrects a record, and the next open finds the
 * v2 log (storage-review-11.md R3). */
static void test_crashfs_v1_migration_dir_fsync_error(void **state)
{
    struct stats st;
    (void)state;
    memset(&st, 0, sizeof(st));
    record_migration(1);
    check_recording(SIZE_MAX, &st);
    print_stats("v1 log migrated, directory fsync after the rename fails (every state)", &st, 0);
    drop_recording();
    assert_int_equal(st.failures, 0);
    assert_true(st.states > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_crashfs_new_log_first_put, cleanup),
        cmocka_unit_test_teardown(test_crashfs_torn_header_files, cleanup),
        cmocka_unit_test_teardown(test_crashfs_workload, cleanup),
        cmocka_unit_test_teardown(test_crashfs_workload_zero_tails, cleanup),
        cmocka_unit_test_teardown(test_crashfs_workload_nosync, cleanup),
        cmocka_unit_test_teardown(test_crashfs_dir_fsync_error, cleanup),
        cmocka_unit_test_teardown(test_crashfs_open_dir_fsync_error, cleanup),
        cmocka_unit_test_teardown(test_crashfs_dir_fsync_always_fails, cleanup),
        cmocka_unit_test_teardown(test_crashfs_v1_migration, cleanup),
        cmocka_unit_test_teardown(test_crashfs_v1_migration_dir_fsync_error, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
