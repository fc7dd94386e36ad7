/* The flash-file port (port/flash_file.c): NOR semantics on a real file,
 * the lock, wrong sizes left untouched, the option parser, and the flash
 * log on it surviving SIGKILL of the writing process. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "iothub/flash_file.h"
#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
#include "tma_test.h"

#define S_ERR(code) TMA_ERR(TMA_LAYER_STORE, (code))

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tma_flash_file.XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(path, sizeof path, "%s/flash.bin", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct iothub_flash_geometry geo(uint32_t count, uint32_t size, uint32_t unit)
{
    struct iothub_flash_geometry g;
    g.sector_count = count;
    g.sector_size = size;
    g.program_unit = unit;
    return g;
}

/* The whole file, malloc'ed; *out_len its size. */
static uint8_t *slurp(const char *p, size_t *out_len)
{
    FILE *f = fopen(p, "rb");
    uint8_t *b;
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *out_len = (size_t)n;
    return b;
}

static int all_ff(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != 0xFF) {
            return 0;
        }
    }
    return 1;
}

static void test_flash_file_new_is_erased_and_persists(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(4, 256, 4);
    uint8_t buf[1024], data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t n;
    uint8_t *img;
    (void)state;
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    assert_int_equal(f.sector_count, 4);
    assert_int_equal(f.sector_size, 256);
    assert_int_equal(f.program_unit, 4);
    assert_int_equal(f.read(f.ctx, 0, buf, 1024), TMA_OK);
    assert_true(all_ff(buf, 1024));
    assert_int_equal(f.program(f.ctx, 260, data, 8), TMA_OK);
    iothub_flash_file_close(&ff);
    iothub_flash_file_close(&ff); /* twice is harmless */
    img = slurp(path, &n);
    assert_int_equal(n, 1024 + IOTHUB_FLASH_FILE_TRAILER);
    assert_true(all_ff(img, 260));
    assert_memory_equal(img + 260, data, 8);
    assert_true(all_ff(img + 268, 1024 - 268));
    /* the trailer: magic, version, geometry (LE32) */
    assert_memory_equal(img + 1024, "TMAFLSH\x01\x04\0\0\0\0\x01\0\0\x04\0\0\0", 20);
    free(img);
    /* reopened: the same bytes, nothing rewritten */
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    assert_int_equal(f.read(f.ctx, 261, buf, 3), TMA_OK); /* any alignment */
    assert_memory_equal(buf, data + 1, 3);
    iothub_flash_file_close(&ff);
    /* no temporary file left behind: the directory holds the flash only */
    {
        DIR *d = opendir(dir);
        struct dirent *e;
        int others = 0;
        assert_non_null(d);
        while ((e = readdir(d)) != NULL) {
            others += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                      strcmp(e->d_name, "flash.bin") != 0;
        }
        closedir(d);
        assert_int_equal(others, 0);
    }
}

/* Creating a new flash must not follow a link planted where its temporary
 * file goes (the old name was "<path>.new.<pid>", predictable: in a shared
 * directory another user could point it at any file the device's user may
 * write, which was then truncated, overwritten with 0xFF and opened as the
 * flash). The file planted on stays byte for byte; the flash is a new
 * regular file. */
static void test_flash_file_create_follows_no_planted_link(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(2, 128, 1);
    char victim[160], tmp[160];
    static const char precious[] = "not a flash: keep me";
    struct stat sb;
    size_t n;
    uint8_t *b;
    FILE *fp;
    (void)state;
    snprintf(victim, sizeof victim, "%s/victim", dir);
    fp = fopen(victim, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(precious, 1, sizeof precious, fp), sizeof precious);
    fclose(fp);
    snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid());
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    iothub_flash_file_close(&ff);
    b = slurp(victim, &n);
    assert_int_equal(n, sizeof precious);
    assert_memory_equal(b, precious, sizeof precious);
    free(b);
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_size, 2 * 128 + IOTHUB_FLASH_FILE_TRAILER);
}

static void test_flash_file_program_clears_bits_only(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(2, 128, 2);
    uint8_t a[2] = {0xF0, 0x3C}, b[2] = {0x0F, 0xFF}, got[2];
    (void)state;
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    assert_int_equal(f.program(f.ctx, 10, a, 2), TMA_OK);
    assert_int_equal(f.program(f.ctx, 10, b, 2), TMA_OK); /* lenient: AND */
    assert_int_equal(f.read(f.ctx, 10, got, 2), TMA_OK);
    assert_int_equal(got[0], 0x00);
    assert_int_equal(got[1], 0x3C);
    assert_int_equal(ff.programs, 2);
    iothub_flash_file_close(&ff);
}

static void test_flash_file_strict_refuses_second_program(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(2, 256, 16);
    uint8_t a[32], b[32], got[32];
    (void)state;
    memset(a, 0xA5, sizeof a);
    memset(b, 0x00, sizeof b);
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, IOTHUB_FLASH_FILE_STRICT | IOTHUB_FLASH_FILE_SYNC, &f),
                     TMA_OK);
    assert_int_equal(f.program(f.ctx, 16, a, 16), TMA_OK);
    /* [0,32) overlaps the programmed unit at 16: refused as a whole, the
     * erased unit at 0 is not written either */
    assert_int_equal(f.program(f.ctx, 0, b, 32), S_ERR(TMA_C_STATE));
    assert_int_equal(f.read(f.ctx, 0, got, 32), TMA_OK);
    assert_true(all_ff(got, 16));
    assert_memory_equal(got + 16, a, 16);
    /* after an erase the unit takes a program again */
    assert_int_equal(f.erase(f.ctx, 0), TMA_OK);
    assert_int_equal(f.program(f.ctx, 16, b, 16), TMA_OK);
    assert_int_equal(f.read(f.ctx, 16, got, 16), TMA_OK);
    assert_memory_equal(got, b, 16);
    assert_int_equal(ff.erases, 1);
    iothub_flash_file_close(&ff);
}

static void test_flash_file_alignment_and_bounds_refused(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(2, 128, 8);
    uint8_t z[16] = {0}, buf[300];
    size_t n;
    uint8_t *img;
    (void)state;
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    assert_int_equal(f.program(f.ctx, 4, z, 8), S_ERR(TMA_C_BAD_PARAM));   /* address */
    assert_int_equal(f.program(f.ctx, 8, z, 12), S_ERR(TMA_C_BAD_PARAM));  /* length */
    assert_int_equal(f.program(f.ctx, 248, z, 16), S_ERR(TMA_C_BAD_PARAM)); /* past the end */
    assert_int_equal(f.read(f.ctx, 200, buf, 57), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(f.read(f.ctx, 200, buf, 56), TMA_OK);
    assert_int_equal(f.erase(f.ctx, 2), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(f.program(f.ctx, 248, z, 8), TMA_OK); /* the last unit */
    iothub_flash_file_close(&ff);
    img = slurp(path, &n);
    assert_int_equal(n, 256 + IOTHUB_FLASH_FILE_TRAILER);
    assert_true(all_ff(img, 248));
    assert_memory_equal(img + 248, z, 8);
    free(img);
    /* a closed context refuses everything */
    assert_int_equal(f.read(f.ctx, 0, buf, 1), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(f.erase(f.ctx, 0), S_ERR(TMA_C_BAD_PARAM));
}

static void test_flash_file_erase_one_sector(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(3, 128, 1);
    uint8_t z[384], got[384];
    (void)state;
    memset(z, 0x11, sizeof z);
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    assert_int_equal(f.program(f.ctx, 0, z, 384), TMA_OK);
    assert_int_equal(f.erase(f.ctx, 1), TMA_OK);
    assert_int_equal(f.read(f.ctx, 0, got, 384), TMA_OK);
    assert_memory_equal(got, z, 128);
    assert_true(all_ff(got + 128, 128));
    assert_memory_equal(got + 256, z, 128);
    iothub_flash_file_close(&ff);
}

static void test_flash_file_wrong_size_left_untouched(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(4, 256, 4);
    FILE *w;
    uint8_t *img;
    size_t n, i;
    (void)state;
    w = fopen(path, "wb");
    assert_non_null(w);
    for (i = 0; i < 1000; i++) {
        fputc((int)(i * 7u), w);
    }
    fclose(w);
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, IOTHUB_FLASH_FILE_STRICT, &f), S_ERR(TMA_C_MALFORMED));
    assert_int_equal(ff.file_size, 1000);
    assert_int_equal(ff.found.sector_count, 0);
    iothub_flash_file_close(&ff);
    img = slurp(path, &n);
    assert_int_equal(n, 1000);
    for (i = 0; i < n; i++) {
        assert_int_equal(img[i], (uint8_t)(i * 7u));
    }
    free(img);
    /* an empty file is a wrong size too, not a new flash */
    w = fopen(path, "wb");
    assert_non_null(w);
    fclose(w);
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), S_ERR(TMA_C_MALFORMED));
    img = slurp(path, &n);
    assert_int_equal(n, 0);
    free(img);
    /* a directory is not a flash */
    assert_int_not_equal(iothub_flash_file_open(&ff, dir, &g, 0, &f), TMA_OK);
}

static void expect_refused_unchanged(const struct iothub_flash_geometry *g, const uint8_t *want, size_t want_len)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    uint8_t *img;
    size_t n;
    assert_int_equal(iothub_flash_file_open(&ff, path, g, IOTHUB_FLASH_FILE_STRICT, &f), S_ERR(TMA_C_MALFORMED));
    assert_int_equal(ff.file_size, want_len);
    img = slurp(path, &n);
    assert_int_equal(n, want_len);
    assert_memory_equal(img, want, n);
    free(img);
}

static void test_flash_file_geometry_kept_in_file(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(4, 256, 4), other = geo(2, 512, 4), unset = geo(0, 0, 0);
    uint8_t data[4] = {9, 8, 7, 6};
    uint8_t *img;
    size_t n;
    FILE *w;
    (void)state;
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    assert_int_equal(f.program(f.ctx, 512, data, 4), TMA_OK);
    iothub_flash_file_close(&ff);
    img = slurp(path, &n);
    /* reopened without a geometry: the file's own */
    assert_int_equal(iothub_flash_file_open(&ff, path, &unset, 0, &f), TMA_OK);
    assert_int_equal(f.sector_count, 4);
    assert_int_equal(f.sector_size, 256);
    assert_int_equal(f.program_unit, 4);
    iothub_flash_file_close(&ff);
    /* the same size with another geometry: refused, told which, untouched */
    assert_int_equal(iothub_flash_file_open(&ff, path, &other, 0, &f), S_ERR(TMA_C_MALFORMED));
    assert_int_equal(ff.found.sector_count, 4);
    assert_int_equal(ff.found.sector_size, 256);
    assert_int_equal(ff.found.program_unit, 4);
    other = geo(4, 256, 8); /* only the unit differs */
    expect_refused_unchanged(&other, img, n);
    /* a damaged trailer: not a flash file any more, with or without a geometry */
    img[n - 1] ^= 0x01; /* unit 4 -> 5 */
    w = fopen(path, "wb");
    assert_non_null(w);
    assert_int_equal(fwrite(img, 1, n, w), n);
    fclose(w);
    expect_refused_unchanged(&g, img, n);
    expect_refused_unchanged(&unset, img, n);
    img[n - 1] ^= 0x01;
    img[n - 20] = 'X'; /* magic */
    w = fopen(path, "wb");
    assert_non_null(w);
    assert_int_equal(fwrite(img, 1, n, w), n);
    fclose(w);
    expect_refused_unchanged(&g, img, n);
    img[n - 20] = 'T';
    /* a flash file cut short */
    w = fopen(path, "wb");
    assert_non_null(w);
    assert_int_equal(fwrite(img + 16, 1, n - 16, w), n - 16);
    fclose(w);
    expect_refused_unchanged(&unset, img + 16, n - 16);
    free(img);
    /* a new file without a geometry gets the defaults */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(iothub_flash_file_open(&ff, path, &unset, 0, &f), TMA_OK);
    assert_int_equal(f.sector_count, IOTHUB_FLASH_FILE_DEFAULT_SECTORS);
    assert_int_equal(f.sector_size, IOTHUB_FLASH_FILE_DEFAULT_SECTOR_SIZE);
    assert_int_equal(f.program_unit, IOTHUB_FLASH_FILE_DEFAULT_UNIT);
    assert_int_equal(ff.file_size, 16u * 4096u + IOTHUB_FLASH_FILE_TRAILER);
    iothub_flash_file_close(&ff);
}

static void test_flash_file_locked_while_open(void **state)
{
    struct iothub_flash_file a, b;
    struct iothub_flash fa, fb;
    struct iothub_flash_geometry g = geo(2, 128, 1);
    pid_t pid;
    int status;
    (void)state;
    assert_int_equal(iothub_flash_file_open(&a, path, &g, 0, &fa), TMA_OK);
    /* another open (file description) in this process ... */
    assert_int_equal(iothub_flash_file_open(&b, path, &g, 0, &fb), S_ERR(TMA_C_IN_USE));
    /* ... and in another process */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(iothub_flash_file_open(&b, path, &g, 0, &fb) == S_ERR(TMA_C_IN_USE) ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    iothub_flash_file_close(&a);
    assert_int_equal(iothub_flash_file_open(&b, path, &g, 0, &fb), TMA_OK);
    iothub_flash_file_close(&b);
    /* a process killed with the file open releases it */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (iothub_flash_file_open(&b, path, &g, 0, &fb) != TMA_OK) {
            _exit(1);
        }
        for (;;) {
            pause();
        }
    }
    {
        int i;
        tma_status st = TMA_OK;
        for (i = 0; i < 200; i++) { /* wait until the child holds the lock */
            st = iothub_flash_file_open(&a, path, &g, 0, &fa);
            if (st != TMA_OK) {
                break;
            }
            iothub_flash_file_close(&a);
            nanosleep(&(struct timespec){0, 5000000L}, NULL);
        }
        assert_int_equal(st, S_ERR(TMA_C_IN_USE));
    }
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(iothub_flash_file_open(&a, path, &g, 0, &fa), TMA_OK);
    iothub_flash_file_close(&a);
}

static void test_flash_file_bad_args(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(4, 256, 3);
    struct stat sb;
    (void)state;
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), S_ERR(TMA_C_BAD_PARAM));
    assert_int_not_equal(stat(path, &sb), 0); /* nothing created */
    g = geo(4, 256, 4);
    assert_int_equal(iothub_flash_file_open(NULL, path, &g, 0, &f), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_flash_file_open(&ff, NULL, &g, 0, &f), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_flash_file_open(&ff, "", &g, 0, &f), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_flash_file_open(&ff, path, NULL, 0, &f), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, NULL), S_ERR(TMA_C_BAD_PARAM));
    snprintf(path + strlen(path), 40, "-missing-dir/x");
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), S_ERR(TMA_C_IO));
    snprintf(path, sizeof path, "%s/flash.bin", dir);
}

/* The file cut short under an open log (another program that ignores the
 * lock): every call answers with its result, an I/O error, FULL or
 * NOT_FOUND; none crashes, hangs or reads past the end (ASan). */
static void test_flash_file_truncated_under_open_log(void **state)
{
    struct iothub_flash_file ff;
    struct iothub_flash f;
    struct iothub_flash_geometry g = geo(4, 256, 4);
    struct iothub_flash_storage fs;
    struct iothub_storage st;
    uint8_t p[50], buf[64];
    struct tma_span sp;
    uint32_t i, seq;
    size_t got;
    tma_status rc;
    struct stat sb;
    (void)state;
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), TMA_OK);
    assert_int_equal(iothub_flash_storage_open(&fs, &f, &st), TMA_OK);
    memset(p, 0x5A, sizeof p);
    sp.ptr = p;
    sp.len = sizeof p;
    for (i = 0; i < 3; i++) {
        assert_int_equal(st.put(st.ctx, i, &sp, 1), TMA_OK);
    }
    assert_int_equal(truncate(path, 300), 0);
    for (i = 3; i < 12; i++) {
        rc = st.put(st.ctx, i, &sp, 1);
        assert_true(rc == TMA_OK || rc == S_ERR(TMA_C_IO) || rc == S_ERR(TMA_C_FULL));
        rc = st.next(st.ctx, 0, &seq);
        assert_true(rc == TMA_OK || rc == S_ERR(TMA_C_IO) || rc == S_ERR(TMA_C_NOT_FOUND));
        rc = st.get(st.ctx, 0, buf, sizeof buf, &got);
        assert_true(rc == TMA_OK || rc == S_ERR(TMA_C_IO) || rc == S_ERR(TMA_C_NOT_FOUND));
        rc = st.del(st.ctx, 0);
        assert_true(rc == TMA_OK || rc == S_ERR(TMA_C_IO) || rc == S_ERR(TMA_C_NOT_FOUND));
    }
    iothub_flash_file_close(&ff);
    assert_int_equal(stat(path, &sb), 0);
    /* reopened: no longer a flash file (the trailer is gone), left as it is */
    assert_int_equal(iothub_flash_file_open(&ff, path, &g, 0, &f), S_ERR(TMA_C_MALFORMED));
}

static void test_flash_file_geometry(void **state)
{
    struct iothub_flash_geometry g;
    (void)state;
    g = geo(2, 128, 1);
    assert_int_equal(iothub_flash_file_check_geometry(&g), TMA_OK);
    g = geo(2, 256, 32);
    assert_int_equal(iothub_flash_file_check_geometry(&g), TMA_OK);
    g = geo(1, 4096, 16); /* one sector: no room to reclaim */
    assert_int_equal(iothub_flash_file_check_geometry(&g), S_ERR(TMA_C_BAD_PARAM));
    g = geo(2, 64, 1); /* below 128 bytes */
    assert_int_equal(iothub_flash_file_check_geometry(&g), S_ERR(TMA_C_BAD_PARAM));
    g = geo(2, 128, 32); /* below 8 units */
    assert_int_equal(iothub_flash_file_check_geometry(&g), S_ERR(TMA_C_BAD_PARAM));
    g = geo(2, 200, 16); /* not a multiple of the unit */
    assert_int_equal(iothub_flash_file_check_geometry(&g), S_ERR(TMA_C_BAD_PARAM));
    g = geo(2, 4096, 64);
    assert_int_equal(iothub_flash_file_check_geometry(&g), S_ERR(TMA_C_BAD_PARAM));
    g = geo(262145, 4096, 16); /* just over 1 GB */
    assert_int_equal(iothub_flash_file_check_geometry(&g), S_ERR(TMA_C_BAD_PARAM));
    g = geo(262144, 4096, 16);
    assert_int_equal(iothub_flash_file_check_geometry(&g), TMA_OK);
    assert_int_equal(iothub_flash_file_check_geometry(NULL), S_ERR(TMA_C_BAD_PARAM));
}

static void test_flash_file_parse_spec(void **state)
{
    static const char *const bad[] = {
        "", ":16:4096:16", "f:", "f:16", "f:16:4096", "f:16:4096:16:1", "f:16:4096:3", "f:x:4096:16",
        "f:16:4096:16x", "f: 16:4096:16", "f:+16:4096:16", "f:-16:4096:16", "f:016:4096:16",
        "f:1:4096:16", "f:16:100:4", "f:16::16", "f:99999999999:4096:16", "f:4294967296:4096:16",
        "f:16:4096:0", "a:b/c",
        /* over the 1 GB file limit, also where 32-bit products wrap */
        "f:262145:4096:16", "f:65536:65536:16", "f:4294967295:4294967264:32", "f:2:2147483648:32",
    };
    struct iothub_flash_geometry g;
    size_t len, i;
    (void)state;
    assert_int_equal(iothub_flash_file_parse_spec("out.flash", &len, &g), TMA_OK);
    assert_int_equal(len, 9);
    assert_int_equal(g.sector_count, 0); /* not given: the file's, or the defaults */
    assert_int_equal(g.sector_size, 0);
    assert_int_equal(g.program_unit, 0);
    assert_int_equal(iothub_flash_file_parse_spec("/tmp/x/o.bin:8:1024:4", &len, &g), TMA_OK);
    assert_int_equal(len, 12);
    assert_int_equal(g.sector_count, 8);
    assert_int_equal(g.sector_size, 1024);
    assert_int_equal(g.program_unit, 4);
    /* exactly 1 GB is the largest taken */
    assert_int_equal(iothub_flash_file_parse_spec("f:262144:4096:16", &len, &g), TMA_OK);
    assert_int_equal(g.sector_count, 262144);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        len = 77;
        g = geo(5, 5, 5);
        if (iothub_flash_file_parse_spec(bad[i], &len, &g) != S_ERR(TMA_C_BAD_PARAM)) {
            fail_msg("accepted '%s'", bad[i]);
        }
        assert_int_equal(len, 77); /* outputs untouched */
        assert_int_equal(g.sector_count, 5);
    }
    assert_int_equal(iothub_flash_file_parse_spec(NULL, &len, &g), S_ERR(TMA_C_BAD_PARAM));
}

/* The flash log on the file, written by a child that is SIGKILLed at a
 * random moment: every record whose put() the child reported as done
 * (through a pipe, after the put returned) is there after the kill, with
 * its bytes; the log wraps (records are acknowledged as they go). */
static void test_flash_file_log_survives_sigkill(void **state)
{
    struct iothub_flash_geometry g = geo(4, 512, 16); /* small: wraps every ~40 records */
    uint32_t next_msg = 0;
    int round;
    (void)state;
    srand(7);
    for (round = 0; round < 12; round++) {
        int fds[2];
        pid_t pid;
        uint32_t reported = next_msg, v, i;
        struct iothub_flash_file ff;
        struct iothub_flash f;
        struct iothub_flash_storage fs;
        struct iothub_storage st;
        struct iothub_outbox ob;
        uint8_t buf[256];
        struct iothub_outbox_msg m;
        int status;
        struct timespec ts;
        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* child: push messages "m<N>", ack all but the newest 5 */
            uint32_t n = next_msg;
            close(fds[0]);
            if (iothub_flash_file_open(&ff, path, &g, IOTHUB_FLASH_FILE_STRICT, &f) != TMA_OK ||
                iothub_flash_storage_open(&fs, &f, &st) != TMA_OK ||
                iothub_outbox_init(&ob, &st, 1000, IOTHUB_OUTBOX_REFUSE_NEW) != TMA_OK) {
                _exit(3);
            }
            for (;;) {
                char body[32];
                uint32_t seq;
                int len = snprintf(body, sizeof body, "m%u", (unsigned)n);
                if (iothub_outbox_push(&ob, "devices/d/messages/events/", (const uint8_t *)body, (size_t)len,
                                       &seq) != TMA_OK) {
                    _exit(4);
                }
                if (write(fds[1], &n, sizeof n) != (ssize_t)sizeof n) {
                    _exit(5);
                }
                n++;
                while (iothub_outbox_count(&ob) > 5) {
                    if (iothub_outbox_ack(&ob, ob.head) != TMA_OK) {
                        _exit(6);
                    }
                }
            }
        }
        close(fds[1]);
        ts.tv_sec = 0;
        ts.tv_nsec = 2000000L + (long)(rand() % 20) * 1000000L;
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* killed, not failed on its own */
        while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) {
            assert_int_equal(v, reported);
            reported = v + 1;
        }
        close(fds[0]);
        /* reopen: the newest min(5, reported) reported messages must be there,
         * in order; anything after them is the one put the kill cut short */
        assert_int_equal(iothub_flash_file_open(&ff, path, &g, IOTHUB_FLASH_FILE_STRICT, &f), TMA_OK);
        assert_int_equal(iothub_flash_storage_open(&fs, &f, &st), TMA_OK);
        assert_int_equal(iothub_outbox_init(&ob, &st, 1000, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
        {
            uint32_t want = reported >= 5 ? reported - 5 : 0, got = 0, first = UINT32_MAX;
            uint32_t last = 0;
            i = 0;
            while (iothub_outbox_peek(&ob, buf, sizeof buf, &m) == TMA_OK) {
                char body[32];
                unsigned u;
                assert_true(m.payload.len < sizeof body);
                memcpy(body, m.payload.ptr, m.payload.len);
                body[m.payload.len] = '\0';
                assert_int_equal(sscanf(body, "m%u", &u), 1);
                if (first == UINT32_MAX) {
                    first = u;
                } else {
                    assert_int_equal(u, last + 1);
                }
                last = u;
                got++;
                iothub_outbox_mark_sent(&ob, m.seq);
                i++;
            }
            /* nothing reported lost: every reported message not yet
             * acknowledged by the child is present */
            if (reported > want) {
                assert_true(first <= want);
                assert_true(last + 1 >= reported);
            }
            /* at most one unreported (cut) put, plus acked ones coming back */
            assert_true(last + 1 <= reported + 1);
            (void)got;
            next_msg = last + 1 > reported ? last + 1 : reported;
            if (got == 0) {
                next_msg = reported;
            }
        }
        iothub_flash_file_close(&ff);
    }
    print_message("%u messages pushed over 12 SIGKILLed runs\n", (unsigned)next_msg);
    /* the ring wrapped: far more records were written than 4 x 512 B hold */
    assert_true(next_msg > 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flash_file_new_is_erased_and_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_create_follows_no_planted_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_program_clears_bits_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_strict_refuses_second_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_alignment_and_bounds_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_erase_one_sector, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_wrong_size_left_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_geometry_kept_in_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_locked_while_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_bad_args, setup, teardown),
        cmocka_unit_test(test_flash_file_geometry),
        cmocka_unit_test(test_flash_file_parse_spec),
        cmocka_unit_test_setup_teardown(test_flash_file_truncated_under_open_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flash_file_log_survives_sigkill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
