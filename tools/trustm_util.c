/* trustm CLI: options, files, hex, PEM, object helpers. */
#include "trustm.h"

#include "tma/host_args.h"
#include "tma/host_file.h"
#include "tma/tls.h"
#include "trustm/metadata.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The global options (trustm.h); here, with the helpers that read them, so
 * the argument fuzz target that links this file has them too. */
struct globals g;

int fail(const char *fmt, ...)
{
    va_list ap;
    fputs("trustm: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int fail_st(tma_status st, const char *fmt, ...)
{
    va_list ap;
    fputs("trustm: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", tma_status_str(st));
    return 1;
}

int parse_opts(int argc, char **argv, const struct opt *opts, const char **pos, int max_pos,
               int *npos, bool *help)
{
    int i;
    *npos = 0;
    *help = false;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const struct opt *o;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return 0;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (*npos >= max_pos) {
                if (tma_host_may_be_secret(a)) { /* a binding secret for data write --hex, a key */
                    return fail("%s: an unexpected argument, not shown: it may be a secret (see --help)", argv[0]);
                }
                return fail("%s: unexpected argument '%s' (see --help)", argv[0], a);
            }
            pos[(*npos)++] = a;
            continue;
        }
        for (o = opts; o->name != NULL; o++) {
            if (!strcmp(o->name, a)) {
                break;
            }
        }
        if (o->name == NULL) {
            /* '--hex=SECRET': named without the value */
            const char *eq = strchr(a, '=');
            if (eq != NULL) {
                return fail("%s: unknown option '%.*s=...' (give the value as the next argument; see --help)",
                            argv[0], (int)(eq - a), a);
            }
            return fail("%s: unknown option '%s' (see --help)", argv[0], a);
        }
        if (o->has_arg) {
            if (i + 1 >= argc) {
                return fail("%s: %s needs a value", argv[0], a);
            }
            *o->val = argv[++i];
        } else {
            *o->flag = true;
        }
    }
    return 0;
}

int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;
    if (s == NULL || *s == '\0' || *s == '-') {
        return -1;
    }
    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int parse_oid(const char *s, uint16_t *out)
{
    unsigned long v;
    if (s == NULL || strncmp(s, "0x", 2) != 0 || strlen(s) != 6 ||
        parse_uint(s, 0xE000, 0xFFFF, &v) != 0) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

long parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int v;
        if (*s == ' ' || *s == ':' || *s == '\n') {
            continue;
        }
        if (*s >= '0' && *s <= '9') v = *s - '0';
        else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'F') v = *s - 'A' + 10;
        else return -1;
        if (hi < 0) {
            hi = v;
        } else {
            if (n >= cap) {
                return -1;
            }
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi < 0 ? (long)n : -1;
}

void print_hex(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
    printf("\n");
}

/* Frees a buffer that held what read_file() read, wiped first: files may be
 * secrets (binding, CA key). */
static void read_buf_free(uint8_t *buf, size_t cap)
{
    mbedtls_platform_zeroize(buf, cap);
    free(buf);
}

int read_file(const char *path, uint8_t **out, size_t *out_len, size_t max)
{
    int fd = STDIN_FILENO;
    uint8_t *buf;
    size_t n = 0, cap = 4096;
    if (strcmp(path, "-") != 0) {
        /* Opened without waiting: a FIFO nobody writes reads as empty
         * instead of blocking; a pipe being written (<(...)) is read. */
        struct stat sb;
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return fail("cannot open '%s': %s", path, strerror(errno));
        if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            close(fd);
            return fail("'%s' is a directory", path);
        }
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    /* read(2) into the one buffer: no stdio buffer keeps an unwiped copy,
     * and a growing buffer is copied and wiped, never realloc()ed (which
     * may leave the old block as it was). */
    buf = malloc(cap + 1);
    if (buf == NULL) {
        if (fd != STDIN_FILENO) close(fd);
        return fail("out of memory");
    }
    for (;;) {
        ssize_t r;
        if (n == cap) {
            uint8_t *nb;
            if (cap >= max) {
                read_buf_free(buf, cap + 1);
                if (fd != STDIN_FILENO) close(fd);
                return fail("'%s' is too large (more than %zu bytes)", path, max);
            }
            nb = malloc(2 * cap + 1);
            if (nb == NULL) {
                read_buf_free(buf, cap + 1);
                if (fd != STDIN_FILENO) close(fd);
                return fail("out of memory");
            }
            memcpy(nb, buf, n);
            read_buf_free(buf, cap + 1);
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            read_buf_free(buf, cap + 1);
            if (fd != STDIN_FILENO) close(fd);
            return fail("cannot read '%s': %s", path, strerror(e));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (fd != STDIN_FILENO) close(fd);
    if (n > max) {
        read_buf_free(buf, cap + 1);
        return fail("'%s' is too large (more than %zu bytes)", path, max);
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return 0;
}

int write_file(const char *path, const uint8_t *p, size_t n, int mode)
{
    struct outfile f;
    if (outfile_open(&f, path, mode, false) != 0) return 1;
    return outfile_commit(&f, p, n);
}

/* A path that exists and is not a regular file (a device such as /dev/null,
 * a FIFO, a symbolic link such as /dev/stdout) is written through, never
 * replaced: tmp + rename would put a regular file in its place (as root, in
 * /dev). Only a regular file, or a new name, gets the atomic replacement. */
int outfile_open(struct outfile *f, const char *path, int mode, bool excl)
{
    struct stat sb;
    f->fd = -1;
    f->excl = excl;
    f->direct = false;
    f->path = path;
    f->tmp[0] = '\0';
    if (*path == '\0') return fail("an output file name must not be empty");
    /* Where '-' means standard output, out_prepare() handled it; here it
     * would only make a file named '-'. */
    if (strcmp(path, "-") == 0) return fail("'-' (standard output) is not possible here; give a file name");
    /* The host copy of the binding secret has no other copy (the chip's is
     * locked): no output replaces it. */
    if (g.binding != NULL && same_path(path, g.binding)) {
        return fail("'%s' is the binding file (--binding); it would be overwritten (give another name)", path);
    }
    if (lstat(path, &sb) == 0) {
        struct stat tb;
        bool dir = S_ISDIR(sb.st_mode) || (S_ISLNK(sb.st_mode) && stat(path, &tb) == 0 && S_ISDIR(tb.st_mode));
        if (dir) return fail("'%s' is a directory", path);
        if (excl) return fail("'%s' exists; refusing to overwrite it (remove it or give another name)", path);
        if (!S_ISREG(sb.st_mode)) {
            /* No O_TRUNC here: a regular file behind a link keeps its
             * content until the commit. */
            f->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode); /* O_CREAT: a dangling link's target */
            if (f->fd < 0) return fail("cannot write '%s': %s", path, strerror(errno));
            /* A secret (a mode only the owner may read: the binding) never
             * goes into an existing regular file behind a link that others
             * can read: its mode is not ours to change, and it would keep
             * the secret readable (checked on the opened file, nothing is
             * written yet). */
            if ((mode & 077) == 0 && fstat(f->fd, &tb) == 0 && S_ISREG(tb.st_mode) && (tb.st_mode & 077) != 0) {
                close(f->fd);
                f->fd = -1;
                return fail("'%s' leads to a file others can read (mode %03o); a secret is not written there "
                            "(chmod 600 it, or give another name)", path, (unsigned)(tb.st_mode & 0777));
            }
            f->direct = true;
            return 0;
        }
    }
    if (snprintf(f->tmp, sizeof(f->tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(f->tmp)) {
        f->tmp[0] = '\0';
        return fail("path too long: %s", path);
    }
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (f->fd < 0) {
        f->tmp[0] = '\0';
        return fail("cannot create '%s': %s", path, strerror(errno));
    }
    return 0;
}

int outfile_commit(struct outfile *f, const uint8_t *p, size_t n)
{
    int e = 0;
    size_t total = n;
    struct stat sb;
    if (f->fd < 0) return fail("cannot write '%s'", f->path);
    while (n > 0 && e == 0) {
        ssize_t w = write(f->fd, p, n);
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
        } else {
            p += w;
            n -= (size_t)w;
        }
    }
    if (f->direct) {
        /* Written through: a regular file behind a link is cut to the new
         * length and synced; a device or FIFO only takes the bytes. */
        if (e == 0 && fstat(f->fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
            (ftruncate(f->fd, (off_t)total) != 0 || fsync(f->fd) != 0)) {
            e = errno;
        }
        if (close(f->fd) != 0 && e == 0) e = errno;
        f->fd = -1;
        if (e != 0) return fail("cannot write '%s': %s", f->path, strerror(e));
        return 0;
    }
    if (e == 0 && fsync(f->fd) != 0) e = errno;
    if (close(f->fd) != 0 && e == 0) e = errno;
    f->fd = -1;
    /* A secret never replaces a file: link(2) fails with EEXIST. */
    if (e == 0 && (f->excl ? link(f->tmp, f->path) : rename(f->tmp, f->path)) != 0) e = errno;
    unlink(f->tmp);
    f->tmp[0] = '\0';
    if (e != 0) {
        if (e == EEXIST) return fail("'%s' exists; refusing to overwrite it", f->path);
        return fail("cannot write '%s': %s", f->path, strerror(e));
    }
    return 0;
}

void outfile_abort(struct outfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
        if (!f->direct && f->tmp[0] != '\0') unlink(f->tmp);
    }
}

int subject_problem(const char *subject, char *why, size_t cap)
{
    mbedtls_asn1_named_data *names = NULL, *n;
    int rc = 0;
    if (mbedtls_x509_string_to_names(&names, subject) != 0) {
        snprintf(why, cap, "bad subject (e.g. 'CN=dev-001,O=Example')");
        rc = 1;
    }
    for (n = names; n != NULL && rc == 0; n = n->next) {
        if (n->val.len == 0) {
            snprintf(why, cap, "the subject has an empty attribute value");
            rc = 1;
        } else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && n->val.len > 64) {
            snprintf(why, cap, "the CN is limited to 64 characters (RFC 5280 ub-common-name)");
            rc = 1;
        }
    }
    mbedtls_asn1_free_named_data_list(&names);
    return rc;
}

int check_subject(const char *subject)
{
    char why[128];
    if (subject_problem(subject, why, sizeof(why)) != 0) return fail("subject '%.80s': %s", subject, why);
    return 0;
}

bool der_ecdsa_sig_ok(const uint8_t *sig, size_t n)
{
    unsigned char *p = (unsigned char *)(uintptr_t)sig, *end = p + n;
    size_t len = 0;
    int i;
    if (n == 0 || mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0 ||
        (size_t)(end - p) != len) {
        return false;
    }
    for (i = 0; i < 2; i++) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_INTEGER) != 0 || len == 0 || len > 67 ||
            (p[0] & 0x80) != 0) {
            return false;
        }
        p += len;
    }
    return p == end;
}

bool same_path(const char *a, const char *b)
{
    /* "-" is standard input/output, never a file */
    return a != NULL && b != NULL && strcmp(a, "-") != 0 && strcmp(b, "-") != 0 && tma_host_same_file(a, b);
}

int out_clash(const char *cmd, const char *const *outs, const char *const *out_names, int n_out,
              const char *const *ins, const char *const *in_names, int n_in)
{
    int i, j;
    for (i = 0; i < n_out; i++) {
        if (outs[i] == NULL) continue;
        for (j = 0; j < n_in; j++) {
            if (ins[j] != NULL && same_path(outs[i], ins[j])) {
                return fail("%s: %s '%s' is the %s file; it would be overwritten (give another name)", cmd,
                            out_names[i], outs[i], in_names[j]);
            }
        }
        for (j = i + 1; j < n_out; j++) {
            if (outs[j] != NULL && same_path(outs[i], outs[j])) {
                return fail("%s: %s and %s name the same file '%s'", cmd, out_names[i], out_names[j], outs[i]);
            }
        }
    }
    return 0;
}

int out_prepare(struct outfile *f, const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        f->path = NULL;
        f->fd = -1;
        f->direct = false;
        f->tmp[0] = '\0';
        return 0;
    }
    return outfile_open(f, path, 0644, false);
}

int out_finish(struct outfile *f, const uint8_t *p, size_t n)
{
    if (f->path == NULL) return write_out(NULL, p, n);
    return outfile_commit(f, p, n);
}

int write_out(const char *path, const uint8_t *p, size_t n)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0) {
            return fail("cannot write to standard output");
        }
        return 0;
    }
    return write_file(path, p, n, 0644);
}

int write_or_hex(const char *path, const uint8_t *p, size_t n)
{
    if (path == NULL) {
        print_hex(p, n);
        return 0;
    }
    return write_out(path, p, n);
}

int pem_write(const char *label, const uint8_t *der, size_t n, char *out, size_t cap)
{
    char head[64], foot[64];
    size_t olen = 0;
    snprintf(head, sizeof(head), "-----BEGIN %s-----\n", label);
    snprintf(foot, sizeof(foot), "-----END %s-----\n", label);
    if (mbedtls_pem_write_buffer(head, foot, der, n, (unsigned char *)out, cap, &olen) != 0) {
        return -1;
    }
    return 0;
}

int load_certs_file(const char *path, uint8_t **store, struct tma_span *out, int max)
{
    uint8_t *buf;
    size_t len;
    mbedtls_x509_crt chain;
    const mbedtls_x509_crt *c;
    struct tma_span in;
    size_t count = 0, total = 0, off = 0;
    tma_status st;
    int n = 0;

    if (read_file(path, &buf, &len, 1u << 20) != 0) {
        return -1;
    }
    mbedtls_x509_crt_init(&chain);
    in.ptr = buf;
    in.len = len;
    st = len == 0 ? TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED) : tma_tls_parse_certs(&chain, in, &count);
    free(buf);
    if (st != TMA_OK || count == 0) {
        mbedtls_x509_crt_free(&chain);
        fail("'%s' holds no valid certificate (PEM or DER expected)", path);
        return -1;
    }
    for (c = &chain; c != NULL && c->raw.p != NULL; c = c->next) {
        total += c->raw.len;
    }
    *store = malloc(total);
    if (*store == NULL) {
        mbedtls_x509_crt_free(&chain);
        fail("out of memory");
        return -1;
    }
    for (c = &chain; c != NULL && c->raw.p != NULL; c = c->next) {
        if (n >= max) {
            mbedtls_x509_crt_free(&chain);
            free(*store);
            *store = NULL; /* (personalize frees it on its way out) */
            fail("'%s' holds %zu certificates; at most %d fit", path, count, max);
            return -1;
        }
        memcpy(*store + off, c->raw.p, c->raw.len);
        out[n].ptr = *store + off;
        out[n].len = c->raw.len;
        off += c->raw.len;
        n++;
    }
    mbedtls_x509_crt_free(&chain);
    return n;
}

bool tool_oid_is_cert(uint16_t oid) { return oid >= 0xE0E0 && oid <= 0xE0E3; }
bool tool_oid_is_ta(uint16_t oid) { return oid == 0xE0E8 || oid == 0xE0E9 || oid == 0xE0EF; }
bool tool_oid_is_ecc_key(uint16_t oid) { return oid >= 0xE0F0 && oid <= 0xE0F3; }
/* "0xE0F1[,0xE0F2...]": 1..cap distinct key objects with a key-usage
 * condition (ECC 0xE0F0..0xE0F3, RSA 0xE0FC/0xE0FD). */
int parse_key_list(const char *s, uint16_t *out, size_t cap, size_t *out_n)
{
    char item[16];
    size_t n = 0, i;
    const char *p = s, *e;
    if (s == NULL || *s == '\0') return -1;
    for (;;) {
        uint16_t oid;
        e = strchr(p, ',');
        if (e == NULL) e = p + strlen(p);
        if ((size_t)(e - p) >= sizeof(item) || n == cap) return -1;
        memcpy(item, p, (size_t)(e - p));
        item[e - p] = '\0';
        if (parse_oid(item, &oid) != 0 ||
            !(tool_oid_is_ecc_key(oid) || oid == 0xE0FC || oid == 0xE0FD)) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            if (out[i] == oid) return -1;
        }
        out[n++] = oid;
        if (*e == '\0') break;
        p = e + 1;
    }
    *out_n = n;
    return 0;
}

bool tool_oid_is_key(uint16_t oid)
{
    return tool_oid_is_ecc_key(oid) || oid == 0xE0FC || oid == 0xE0FD || oid == 0xE200 ||
           (oid >= 0xE100 && oid <= 0xE103);
}

int obj_sizes(struct dev *d, uint16_t oid, size_t *max_size, size_t *used)
{
    uint8_t md[64];
    size_t n = 0;
    struct trustm_md m;
    tma_status st = trustm_read_metadata(&d->chip, d->protect, oid, md, sizeof(md), &n);
    if (st != TMA_OK) {
        return fail_st(st, "cannot read the metadata of 0x%04X", oid);
    }
    st = trustm_md_decode(md, n, &m);
    if (st != TMA_OK) {
        return fail_st(st, "metadata of 0x%04X does not decode", oid);
    }
    if (!(m.present & TRUSTM_MDF_MAX_SIZE)) {
        return fail("0x%04X has no size (not a data object)", oid);
    }
    *max_size = m.max_size;
    if (used != NULL) {
        *used = (m.present & TRUSTM_MDF_USED_SIZE) ? m.used_size : m.max_size;
    }
    return 0;
}

int obj_read(struct dev *d, uint16_t oid, uint8_t *buf, size_t cap, size_t *out_len)
{
    tma_status st = trustm_read_data(&d->chip, d->protect, oid, 0, buf, cap, out_len);
    if (st == TMA_CHIP_ERROR(0x08)) {
        *out_len = 0; /* empty object */
        return 0;
    }
    if (st != TMA_OK) {
        return fail_st(st, "cannot read 0x%04X", oid);
    }
    return 0;
}

/* Whether oid reads exactly data (an empty object reads as 0 bytes). */
static bool obj_holds(struct dev *d, uint16_t oid, const uint8_t *data, size_t len)
{
    uint8_t *back = malloc(len + 1);
    size_t n = 0;
    tma_status st;
    bool same;
    if (back == NULL) return false;
    st = trustm_read_data(&d->chip, d->protect, oid, 0, back, len + 1, &n);
    if (st == TMA_CHIP_ERROR(0x08)) {
        n = 0; /* empty */
        st = TMA_OK;
    }
    same = st == TMA_OK && n == len && memcmp(back, data, len) == 0;
    free(back);
    return same;
}

int obj_replace(struct dev *d, uint16_t oid, const uint8_t *data, size_t len,
                const uint8_t *old, size_t old_len)
{
    uint8_t *back;
    size_t n = 0;
    tma_status st = trustm_write_data(&d->chip, d->protect, oid, TRUSTM_WRITE_ERASE, 0, data, len);
    if (st != TMA_OK) {
        if (old != NULL) {
            /* A multi-APDU write may have landed its first chunk: put the old
             * content back (an object that was empty is emptied again). */
            tma_status rb = old_len > 0
                                ? trustm_write_data(&d->chip, d->protect, oid, TRUSTM_WRITE_ERASE,
                                                    0, old, old_len)
                                : trustm_erase_data(&d->chip, d->protect, oid);
            /* Not silently: the object may now hold part of the new content.
             * A refusal of the first APDU (a locked object) wrote nothing, but
             * the status does not tell the first APDU from a later one: the
             * object read back tells. */
            if (rb != TMA_OK && obj_holds(d, oid, old, old_len)) {
                return fail_st(st, "cannot write 0x%04X; it reads back as before (nothing of the new "
                                   "content is in it)",
                               oid);
            }
            if (rb != TMA_OK) {
                return fail_st(st, "cannot write 0x%04X, and its previous content could not be put back "
                                   "(it may hold part of the new one; check it with 'trustm data read --oid "
                                   "0x%04X')",
                               oid, oid);
            }
        }
        return fail_st(st, "cannot write 0x%04X", oid);
    }
    back = malloc(len + 1);
    if (back == NULL) {
        return fail("out of memory");
    }
    st = trustm_read_data(&d->chip, d->protect, oid, 0, back, len + 1, &n);
    if (st == TMA_CHIP_ERROR(0x07)) {
        free(back); /* not readable (e.g. binding secret): trust the write */
        return 0;
    }
    if (st != TMA_OK || n != len || memcmp(back, data, len) != 0) {
        free(back);
        return fail("0x%04X does not read back what was written", oid);
    }
    free(back);
    return 0;
}
