/* A regular file presented as NOR flash (include/iothub/flash_file.h). */
#define _DEFAULT_SOURCE /* flock */
#define _POSIX_C_SOURCE 200809L
#include "iothub/flash_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/common/le32.h"

#define S_ERR(code) TMA_ERR(TMA_LAYER_STORE, (code))
#define CHUNK 4096u

tma_status iothub_flash_file_check_geometry(const struct iothub_flash_geometry *geo)
{
    uint32_t u;
    if (geo == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    u = geo->program_unit;
    if (u != 1u && u != 2u && u != 4u && u != 8u && u != 16u && u != 32u) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    if (geo->sector_size < 128u || geo->sector_size < 8u * u || geo->sector_size % u != 0u ||
        geo->sector_count < 2u) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    if ((uint64_t)geo->sector_count * geo->sector_size > IOTHUB_FLASH_FILE_MAX_BYTES) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    return TMA_OK;
}

/* A plain decimal number (no sign, no spaces, no leading zero) ending at
 * `stop` or the end of the string. */
static const char *parse_dec(const char *s, char stop, uint32_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) {
        return NULL;
    }
    while (*p >= '0' && *p <= '9') {
        v = v * 10u + (uint64_t)(*p - '0');
        if (v > UINT32_MAX) {
            return NULL;
        }
        p++;
    }
    if (*p != stop) {
        return NULL;
    }
    *out = (uint32_t)v;
    return p;
}

tma_status iothub_flash_file_parse_spec(const char *spec, size_t *out_path_len,
                                        struct iothub_flash_geometry *out_geo)
{
    struct iothub_flash_geometry g;
    const char *colon, *p;
    if (spec == NULL || out_path_len == NULL || out_geo == NULL) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    memset(&g, 0, sizeof(g));
    colon = strchr(spec, ':');
    if (colon == spec || spec[0] == '\0') {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    if (colon != NULL) {
        p = parse_dec(colon + 1, ':', &g.sector_count);
        p = p != NULL ? parse_dec(p + 1, ':', &g.sector_size) : NULL;
        p = p != NULL ? parse_dec(p + 1, '\0', &g.program_unit) : NULL;
        if (p == NULL || iothub_flash_file_check_geometry(&g) != TMA_OK) {
            return S_ERR(TMA_C_BAD_PARAM);
        }
    }
    *out_path_len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
    *out_geo = g;
    return TMA_OK;
}

static tma_status pread_all(int fd, uint64_t off, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t r = pread(fd, buf, len, (off_t)off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return S_ERR(TMA_C_IO); /* r == 0: the file shrank under us */
        }
        buf += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return TMA_OK;
}

static tma_status pwrite_all(int fd, uint64_t off, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, buf, len, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return S_ERR(TMA_C_IO);
        }
        buf += w;
        off += (uint64_t)w;
        len -= (size_t)w;
    }
    return TMA_OK;
}

static uint64_t flash_bytes(const struct iothub_flash_file *ff)
{
    return (uint64_t)ff->geo.sector_count * ff->geo.sector_size;
}

static tma_status ff_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct iothub_flash_file *ff = ctx;
    if (ff == NULL || !ff->is_open || (buf == NULL && len > 0) || (uint64_t)addr + len > flash_bytes(ff)) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    return pread_all(ff->fd, addr, buf, len);
}

static tma_status ff_sync(const struct iothub_flash_file *ff)
{
    if ((ff->flags & IOTHUB_FLASH_FILE_SYNC) != 0u && fdatasync(ff->fd) != 0) {
        return S_ERR(TMA_C_IO);
    }
    return TMA_OK;
}

static tma_status ff_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    struct iothub_flash_file *ff = ctx;
    uint8_t old[CHUNK];
    size_t done = 0;
    tma_status st;
    if (ff == NULL || !ff->is_open || (data == NULL && len > 0) || (uint64_t)addr + len > flash_bytes(ff) ||
        addr % ff->geo.program_unit != 0u || len % ff->geo.program_unit != 0u) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    /* Check every unit first, then write: a refused program changes nothing. */
    while (done < len) {
        size_t n = len - done < CHUNK ? len - done : CHUNK, i;
        st = pread_all(ff->fd, (uint64_t)addr + done, old, n);
        if (st != TMA_OK) {
            return st;
        }
        if ((ff->flags & IOTHUB_FLASH_FILE_STRICT) != 0u) {
            for (i = 0; i < n; i++) {
                if (old[i] != 0xFFu) {
                    return S_ERR(TMA_C_STATE); /* a unit programmed twice between erases */
                }
            }
        }
        done += n;
    }
    done = 0;
    while (done < len) {
        size_t n = len - done < CHUNK ? len - done : CHUNK, i;
        st = pread_all(ff->fd, (uint64_t)addr + done, old, n);
        if (st != TMA_OK) {
            return st;
        }
        for (i = 0; i < n; i++) {
            old[i] &= data[done + i]; /* NOR: programming only clears bits */
        }
        st = pwrite_all(ff->fd, (uint64_t)addr + done, old, n);
        if (st != TMA_OK) {
            return st;
        }
        done += n;
    }
    st = ff_sync(ff);
    if (st == TMA_OK) {
        ff->programs++;
    }
    return st;
}

static tma_status ff_erase(void *ctx, uint32_t sector)
{
    struct iothub_flash_file *ff = ctx;
    uint8_t ones[CHUNK];
    uint32_t done = 0;
    tma_status st;
    if (ff == NULL || !ff->is_open || sector >= ff->geo.sector_count) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    memset(ones, 0xFF, sizeof(ones));
    while (done < ff->geo.sector_size) {
        uint32_t n = ff->geo.sector_size - done < CHUNK ? ff->geo.sector_size - done : CHUNK;
        st = pwrite_all(ff->fd, (uint64_t)sector * ff->geo.sector_size + done, ones, n);
        if (st != TMA_OK) {
            return st;
        }
        done += n;
    }
    st = ff_sync(ff);
    if (st == TMA_OK) {
        ff->erases++;
    }
    return st;
}

static const uint8_t trailer_magic[8] = {'T', 'M', 'A', 'F', 'L', 'S', 'H', 0x01};

static int geo_unset(const struct iothub_flash_geometry *g)
{
    return g->sector_count == 0u && g->sector_size == 0u && g->program_unit == 0u;
}

static int geo_equal(const struct iothub_flash_geometry *a, const struct iothub_flash_geometry *b)
{
    return a->sector_count == b->sector_count && a->sector_size == b->sector_size &&
           a->program_unit == b->program_unit;
}

/* The trailer of an open file of `size` bytes: 1 and *out set when it is a
 * flash file (magic, a usable geometry, the size that geometry needs). */
static int read_trailer(int fd, uint64_t size, struct iothub_flash_geometry *out)
{
    uint8_t t[IOTHUB_FLASH_FILE_TRAILER];
    struct iothub_flash_geometry g;
    if (size < IOTHUB_FLASH_FILE_TRAILER ||
        pread_all(fd, size - IOTHUB_FLASH_FILE_TRAILER, t, sizeof(t)) != TMA_OK ||
        memcmp(t, trailer_magic, sizeof(trailer_magic)) != 0) {
        return 0;
    }
    g.sector_count = get_le32(t + 8);
    g.sector_size = get_le32(t + 12);
    g.program_unit = get_le32(t + 16);
    if (iothub_flash_file_check_geometry(&g) != TMA_OK ||
        (uint64_t)g.sector_count * g.sector_size + IOTHUB_FLASH_FILE_TRAILER != size) {
        return 0;
    }
    *out = g;
    return 1;
}

/* Write an erased flash under a temporary name and link it to `path`
 * (link() never replaces: if another process created `path` meanwhile, its
 * file wins and is opened instead). */
static tma_status create_erased(const char *path, const struct iothub_flash_geometry *geo)
{
    uint64_t size = (uint64_t)geo->sector_count * geo->sector_size;
    uint8_t t[IOTHUB_FLASH_FILE_TRAILER];
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    uint8_t ones[CHUNK];
    uint64_t off = 0;
    tma_status st = TMA_OK;
    int fd;
    if (tmp == NULL) {
        return S_ERR(TMA_C_IO);
    }
    /* A fresh name, created exclusively (mkstemp: O_EXCL, mode 0600): a
     * predictable name would let whoever can write the directory plant a
     * link there to a file of ours that the flash image then overwrites. */
    snprintf(tmp, n + 32, "%s.new.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        if (fd >= 0) {
            (void)close(fd);
            (void)unlink(tmp);
        }
        free(tmp);
        return S_ERR(TMA_C_IO);
    }
    memset(ones, 0xFF, sizeof(ones));
    while (st == TMA_OK && off < size) {
        size_t k = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        st = pwrite_all(fd, off, ones, k);
        off += k;
    }
    memcpy(t, trailer_magic, sizeof(trailer_magic));
    put_le32(t + 8, geo->sector_count);
    put_le32(t + 12, geo->sector_size);
    put_le32(t + 16, geo->program_unit);
    if (st == TMA_OK) {
        st = pwrite_all(fd, size, t, sizeof(t));
    }
    if (st == TMA_OK && fsync(fd) != 0) {
        st = S_ERR(TMA_C_IO);
    }
    if (close(fd) != 0 && st == TMA_OK) {
        st = S_ERR(TMA_C_IO);
    }
    if (st == TMA_OK && link(tmp, path) != 0 && errno != EEXIST) {
        st = S_ERR(TMA_C_IO);
    }
    {
        int saved = errno;
        (void)unlink(tmp);
        errno = saved;
    }
    free(tmp);
    return st;
}

tma_status iothub_flash_file_open(struct iothub_flash_file *ff, const char *path,
                                  const struct iothub_flash_geometry *geo, unsigned flags,
                                  struct iothub_flash *out_flash)
{
    struct iothub_flash_geometry want;
    struct stat sb;
    int fd, tries;
    tma_status st;
    if (ff == NULL || path == NULL || path[0] == '\0' || out_flash == NULL || geo == NULL ||
        (!geo_unset(geo) && iothub_flash_file_check_geometry(geo) != TMA_OK)) {
        return S_ERR(TMA_C_BAD_PARAM);
    }
    memset(ff, 0, sizeof(*ff));
    ff->fd = -1;
    ff->flags = flags;
    want = *geo;
    if (geo_unset(&want)) {
        want.sector_count = IOTHUB_FLASH_FILE_DEFAULT_SECTORS;
        want.sector_size = IOTHUB_FLASH_FILE_DEFAULT_SECTOR_SIZE;
        want.program_unit = IOTHUB_FLASH_FILE_DEFAULT_UNIT;
    }
    for (tries = 0;; tries++) {
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT || tries == 2) {
            break;
        }
        st = create_erased(path, &want);
        if (st != TMA_OK) {
            return st;
        }
    }
    if (fd < 0) {
        return S_ERR(TMA_C_IO);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close(fd);
        return busy ? S_ERR(TMA_C_IN_USE) : S_ERR(TMA_C_IO);
    }
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return S_ERR(TMA_C_IO);
    }
    ff->file_size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0u;
    if (!S_ISREG(sb.st_mode) || !read_trailer(fd, ff->file_size, &ff->found) ||
        (!geo_unset(geo) && !geo_equal(geo, &ff->found))) {
        close(fd);
        return S_ERR(TMA_C_MALFORMED);
    }
    ff->geo = ff->found;
    ff->fd = fd;
    ff->is_open = 1;
    memset(out_flash, 0, sizeof(*out_flash));
    out_flash->ctx = ff;
    out_flash->read = ff_read;
    out_flash->program = ff_program;
    out_flash->erase = ff_erase;
    out_flash->sector_size = ff->geo.sector_size;
    out_flash->sector_count = ff->geo.sector_count;
    out_flash->program_unit = ff->geo.program_unit;
    return TMA_OK;
}

void iothub_flash_file_close(struct iothub_flash_file *ff)
{
    if (ff != NULL && ff->is_open) {
        (void)close(ff->fd); /* drops the flock */
        ff->is_open = 0;
        ff->fd = -1;
    }
}
