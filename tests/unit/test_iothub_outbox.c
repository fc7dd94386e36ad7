/* Outbox over the file storage: ordering, policies, recovery, crash
 * consistency (truncation at every byte of every write), SIGKILL, foreign
 * files refused untouched, damaged records skipped and kept aside. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iothub/outbox.h"
#include "iothub/storage_file.h"
#include "tma_testutil.h"

#define S_ERR(c) TMA_ERR(TMA_LAYER_STORE, (c))

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/iothub_outbox_XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void push_str(struct iothub_outbox *ob, const char *payload, uint32_t *seq)
{
    assert_int_equal(iothub_outbox_push(ob, "devices/d/messages/events/", (const uint8_t *)payload,
                                        strlen(payload), seq),
                     TMA_OK);
}

/* Read every stored payload in order into out (joined with ','). */
static void dump(struct iothub_outbox *ob, char *out, size_t n)
{
    uint8_t buf[4096];
    struct iothub_outbox_msg m;
    size_t used = 0;
    out[0] = '\0';
    iothub_outbox_rewind(ob);
    while (iothub_outbox_peek(ob, buf, sizeof(buf), &m) == TMA_OK) {
        used += (size_t)snprintf(out + used, n - used, "%s%.*s", used ? "," : "",
                                 (int)m.payload.len, (const char *)m.payload.ptr);
        assert_true(used < n);
        iothub_outbox_mark_sent(ob, m.seq);
    }
    iothub_outbox_rewind(ob);
}

static void test_outbox_order_ack_and_recovery(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    uint32_t s[5];
    char p[300], got[512];
    uint8_t buf[256];
    struct iothub_outbox_msg m;
    int i;
    (void)state;
    path_of(p, sizeof(p), "a.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    for (i = 0; i < 5; i++) {
        char pl[8];
        snprintf(pl, sizeof(pl), "m%d", i);
        push_str(&ob, pl, &s[i]);
        assert_int_equal(s[i], (uint32_t)i);
    }
    /* peek hands messages out in order; mark_sent advances */
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof(buf), &m), TMA_OK);
    assert_int_equal(m.seq, 0);
    assert_int_equal(m.topic.len, strlen("devices/d/messages/events/"));
    iothub_outbox_mark_sent(&ob, 0);
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof(buf), &m), TMA_OK);
    assert_int_equal(m.seq, 1);
    /* out-of-order ack, then in-order ack */
    assert_int_equal(iothub_outbox_ack(&ob, 2), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, 0), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, 0), S_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_outbox_count(&ob), 3);
    dump(&ob, got, sizeof(got));
    assert_string_equal(got, "m1,m3,m4");
    iothub_file_storage_close(&fs);

    /* Restart: the same three come back, numbering continues. */
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    assert_int_equal(iothub_outbox_stats(&ob).recovered, 3);
    dump(&ob, got, sizeof(got));
    assert_string_equal(got, "m1,m3,m4");
    push_str(&ob, "m5", &s[0]);
    assert_int_equal(s[0], 5);
    /* Ack everything; after a restart numbering still continues. */
    assert_int_equal(iothub_outbox_ack(&ob, 1), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, 3), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, 4), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, 5), TMA_OK);
    assert_int_equal(iothub_file_storage_compact(&fs), TMA_OK);
    iothub_file_storage_close(&fs);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    assert_int_equal(iothub_outbox_count(&ob), 0);
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof(buf), &m), S_ERR(TMA_C_NOT_FOUND));
    push_str(&ob, "m6", &s[0]);
    assert_int_equal(s[0], 6);
    iothub_file_storage_close(&fs);
}

/* has_due: true exactly while a stored message is not yet handed to MQTT
 * (what a loop asks before it sleeps), whatever is in flight or acked. */
static void test_outbox_has_due(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    uint32_t seq;
    char p[300];
    uint8_t buf[256];
    struct iothub_outbox_msg m;
    (void)state;
    assert_false(iothub_outbox_has_due(NULL));
    path_of(p, sizeof(p), "due.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    assert_false(iothub_outbox_has_due(&ob));
    push_str(&ob, "a", &seq);
    push_str(&ob, "b", &seq);
    assert_true(iothub_outbox_has_due(&ob));
    iothub_outbox_mark_sent(&ob, 0);
    assert_true(iothub_outbox_has_due(&ob));
    iothub_outbox_mark_sent(&ob, 1);
    /* both in flight: nothing due, and peek agrees */
    assert_false(iothub_outbox_has_due(&ob));
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof(buf), &m), S_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_outbox_ack(&ob, 0), TMA_OK);
    assert_false(iothub_outbox_has_due(&ob));
    /* a new session: the unacknowledged one is due again */
    iothub_outbox_rewind(&ob);
    assert_true(iothub_outbox_has_due(&ob));
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof(buf), &m), TMA_OK);
    assert_int_equal(m.seq, 1u);
    assert_int_equal(iothub_outbox_ack(&ob, 1), TMA_OK);
    assert_false(iothub_outbox_has_due(&ob));
    iothub_outbox_rewind(&ob);
    assert_false(iothub_outbox_has_due(&ob));
    iothub_file_storage_close(&fs);
}

static void test_outbox_policies_are_counted(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    char p[300], got[256];
    (void)state;
    path_of(p, sizeof(p), "refuse.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 2, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "a", NULL);
    push_str(&ob, "b", NULL);
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"c", 1, NULL), S_ERR(TMA_C_FULL));
    assert_int_equal(iothub_outbox_stats(&ob).refused, 1);
    dump(&ob, got, sizeof(got));
    assert_string_equal(got, "a,b");
    iothub_file_storage_close(&fs);

    path_of(p, sizeof(p), "drop.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 2, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    push_str(&ob, "a", NULL);
    push_str(&ob, "b", NULL);
    push_str(&ob, "c", NULL);
    push_str(&ob, "d", NULL);
    assert_int_equal(iothub_outbox_stats(&ob).dropped, 2);
    dump(&ob, got, sizeof(got));
    assert_string_equal(got, "c,d");
    /* A PUBACK for a dropped message is harmless. */
    assert_int_equal(iothub_outbox_ack(&ob, 0), S_ERR(TMA_C_NOT_FOUND));
    iothub_file_storage_close(&fs);
}

static void test_outbox_bad_input(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    char p[300];
    char longtopic[IOTHUB_OUTBOX_MAX_TOPIC + 2];
    (void)state;
    path_of(p, sizeof(p), "bad.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 0, IOTHUB_OUTBOX_REFUSE_NEW), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_outbox_init(&ob, NULL, 1, IOTHUB_OUTBOX_REFUSE_NEW), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_outbox_init(&ob, &st, 4, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    assert_int_equal(iothub_outbox_push(&ob, "", (const uint8_t *)"x", 1, NULL), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_outbox_push(&ob, NULL, (const uint8_t *)"x", 1, NULL), S_ERR(TMA_C_BAD_PARAM));
    memset(longtopic, 'a', sizeof(longtopic) - 1);
    longtopic[sizeof(longtopic) - 1] = '\0';
    assert_int_equal(iothub_outbox_push(&ob, longtopic, NULL, 0, NULL), S_ERR(TMA_C_BAD_PARAM));
    assert_int_equal(iothub_outbox_count(&ob), 0);
    assert_int_equal(iothub_file_storage_open(&fs, "", false), S_ERR(TMA_C_BAD_PARAM));
    iothub_file_storage_close(&fs);
}

/* ---- crash consistency ------------------------------------------------- */

struct snap {
    uint8_t *bytes;
    size_t len;
    char live[1024]; /* payloads live after this write, in order */
};

#define MAX_SNAPS 200
static struct snap snaps[MAX_SNAPS];
static size_t nsnaps;
static struct iothub_storage inner;
static struct iothub_file_storage rec_fs;
static char rec_path[300];

static void snapshot(void)
{
    FILE *fp = fopen(rec_path, "rb");
    struct snap *s = &snaps[nsnaps++];
    long n;
    uint32_t seq = 0, from = 0;
    size_t used = 0;
    assert_true(nsnaps <= MAX_SNAPS);
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    s->bytes = malloc((size_t)n + 1);
    s->len = fread(s->bytes, 1, (size_t)n, fp);
    fclose(fp);
    s->live[0] = '\0';
    while (inner.next(inner.ctx, from, &seq) == TMA_OK) {
        uint8_t buf[512];
        size_t l = 0;
        assert_int_equal(inner.get(inner.ctx, seq, buf, sizeof(buf), &l), TMA_OK);
        used += (size_t)snprintf(s->live + used, sizeof(s->live) - used, "%s%u:%.*s", used ? "," : "",
                                 seq, (int)(l - 2 - ((size_t)buf[0] << 8 | buf[1])),
                                 (const char *)buf + 2 + ((size_t)buf[0] << 8 | buf[1]));
        from = seq + 1;
    }
}

static tma_status rec_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t n)
{
    tma_status st = inner.put(ctx, seq, parts, n);
    if (st == TMA_OK) {
        snapshot();
    }
    return st;
}

static tma_status rec_del(void *ctx, uint32_t seq)
{
    tma_status st = inner.del(ctx, seq);
    if (st == TMA_OK) {
        snapshot();
    }
    return st;
}

/* What an outbox recovers from bytes[0..len). */
static void recover_from(const uint8_t *bytes, size_t len, char *out, size_t n, uint32_t *out_next)
{
    char p[300];
    FILE *fp;
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    uint8_t buf[512];
    struct iothub_outbox_msg m;
    size_t used = 0;
    path_of(p, sizeof(p), "trunc.log");
    fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    fclose(fp);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 1000, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    out[0] = '\0';
    while (iothub_outbox_peek(&ob, buf, sizeof(buf), &m) == TMA_OK) {
        used += (size_t)snprintf(out + used, n - used, "%s%u:%.*s", used ? "," : "", m.seq,
                                 (int)m.payload.len, (const char *)m.payload.ptr);
        iothub_outbox_mark_sent(&ob, m.seq);
    }
    /* The recovered store keeps working: a new message gets a fresh seq. */
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"new", 3, out_next), TMA_OK);
    iothub_file_storage_close(&fs);
    unlink(p);
}

static void test_outbox_crash_truncation_every_byte(void **state)
{
    struct iothub_storage rec;
    struct iothub_outbox ob;
    size_t i, t, checked = 0;
    int k;
    (void)state;
    nsnaps = 0;
    path_of(rec_path, sizeof(rec_path), "rec.log");
    assert_int_equal(iothub_file_storage_open(&rec_fs, rec_path, false), TMA_OK);
    rec_fs.compact_min = 600; /* make compaction happen during the script */
    inner = iothub_file_storage_iface(&rec_fs);
    rec = inner;
    rec.put = rec_put;
    rec.del = rec_del;
    snapshot();
    assert_int_equal(iothub_outbox_init(&ob, &rec, 6, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    for (k = 0; k < 14; k++) {
        char pl[16];
        snprintf(pl, sizeof(pl), "p%d", k);
        push_str(&ob, pl, NULL);
        if (k % 3 == 2) {
            assert_int_equal(iothub_outbox_ack(&ob, ob.head), TMA_OK);
        }
        if (k == 9) { /* an out-of-order ack */
            uint32_t s = 0;
            assert_int_equal(inner.next(inner.ctx, ob.head + 1, &s), TMA_OK);
            assert_int_equal(iothub_outbox_ack(&ob, s), TMA_OK);
        }
    }
    assert_true(rec_fs.compactions > 0);
    iothub_file_storage_close(&rec_fs);
    for (i = 1; i < nsnaps; i++) {
        struct snap *a = &snaps[i - 1], *b = &snaps[i];
        char got[1024];
        uint32_t next = 0;
        bool prefix = b->len >= a->len && memcmp(a->bytes, b->bytes, a->len) == 0;
        if (!prefix) {
            /* A compaction replaced the log atomically (rename): only the
             * complete new log can be seen. */
            recover_from(b->bytes, b->len, got, sizeof(got), &next);
            assert_string_equal(got, b->live);
            checked++;
            continue;
        }
        for (t = a->len; t <= b->len; t++) {
            recover_from(b->bytes, t, got, sizeof(got), &next);
            if (t < b->len) {
                if (strcmp(got, a->live) != 0) {
                    fprintf(stderr, "write %zu cut at %zu/%zu:\n got  %s\n want %s\n", i, t, b->len, got, a->live);
                    fail();
                }
            } else {
                assert_string_equal(got, b->live);
            }
            checked++;
        }
    }
    fprintf(stderr, "crash points checked: %zu over %zu writes\n", checked, nsnaps - 1);
    assert_true(checked > 500);
    for (i = 0; i < nsnaps; i++) {
        free(snaps[i].bytes);
    }
}

static void test_outbox_leftover_tmp_is_ignored(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    char p[300], tmp[310], got[128];
    FILE *fp;
    (void)state;
    path_of(p, sizeof(p), "tmp.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 4, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "x", NULL);
    iothub_file_storage_close(&fs);
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    fp = fopen(tmp, "wb");
    fputs("garbage from an interrupted compaction", fp);
    fclose(fp);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 4, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    dump(&ob, got, sizeof(got));
    assert_string_equal(got, "x");
    assert_int_equal(access(tmp, F_OK), -1);
    iothub_file_storage_close(&fs);
}

/* One writer per log: a second open (here, or in another process) is
 * refused with TMA_C_IN_USE and leaves the log as it was; close() or the
 * holder's death frees it, also across a compaction (which renames a new
 * file over the log). Closing a zeroed context closes no descriptor. */
static void test_outbox_log_has_one_writer(void **state)
{
    struct iothub_file_storage fs, fs2, zero;
    struct iothub_storage st;
    struct iothub_outbox ob;
    char p[300], got[128];
    struct stat before, after;
    int fds[2], status, fd0_ok;
    pid_t pid;
    char c;
    (void)state;
    path_of(p, sizeof(p), "lock.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "a", NULL);
    assert_int_equal(iothub_file_storage_open(&fs2, p, false), S_ERR(TMA_C_IN_USE));
    iothub_file_storage_close(&fs2);
    /* still held after a compaction put a new file in the log's place */
    assert_int_equal(iothub_file_storage_compact(&fs), TMA_OK);
    assert_int_equal(iothub_file_storage_open(&fs2, p, false), S_ERR(TMA_C_IN_USE));
    push_str(&ob, "b", NULL);
    iothub_file_storage_close(&fs);

    /* another process holds it until it dies */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct iothub_file_storage cs;
        close(fds[0]);
        if (iothub_file_storage_open(&cs, p, false) != TMA_OK || write(fds[1], "k", 1) != 1) {
            _exit(1);
        }
        for (;;) {
            pause();
        }
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    assert_int_equal(stat(p, &before), 0);
    assert_int_equal(iothub_file_storage_open(&fs2, p, false), S_ERR(TMA_C_IN_USE));
    assert_int_equal(stat(p, &after), 0);
    assert_true(before.st_size == after.st_size && before.st_mtime == after.st_mtime);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    dump(&ob, got, sizeof(got));
    assert_string_equal(got, "a,b");
    iothub_file_storage_close(&fs);

    /* a zeroed context owns no descriptor: fd 0 stays open */
    fd0_ok = fcntl(0, F_GETFD) != -1;
    memset(&zero, 0, sizeof(zero));
    iothub_file_storage_close(&zero);
    assert_int_equal(fcntl(0, F_GETFD) != -1, fd0_ok);
}

/* A child pushes (and acks some) as fast as it can and reports each
 * completed call over a pipe; it is SIGKILLed mid-stream. */
static void test_outbox_survives_sigkill(void **state)
{
    char p[300];
    int fds[2];
    pid_t pid;
    (void)state;
    path_of(p, sizeof(p), "kill.log");
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct iothub_file_storage fs;
        struct iothub_storage st;
        struct iothub_outbox ob;
        uint32_t i;
        close(fds[0]);
        if (iothub_file_storage_open(&fs, p, false) != TMA_OK) {
            _exit(2);
        }
        fs.compact_min = 4096;
        st = iothub_file_storage_iface(&fs);
        if (iothub_outbox_init(&ob, &st, 100000, IOTHUB_OUTBOX_REFUSE_NEW) != TMA_OK) {
            _exit(3);
        }
        for (i = 0;; i++) {
            char pl[32], msg[32];
            uint32_t seq;
            int n;
            snprintf(pl, sizeof(pl), "k%u", i);
            if (iothub_outbox_push(&ob, "t", (const uint8_t *)pl, strlen(pl), &seq) != TMA_OK ||
                seq != i) {
                _exit(4);
            }
            n = snprintf(msg, sizeof(msg), "P%u\n", i);
            if (write(fds[1], msg, (size_t)n) != n) {
                _exit(5);
            }
            if (i % 2 == 1) {
                if (iothub_outbox_ack(&ob, i - 1) != TMA_OK) {
                    _exit(6);
                }
                n = snprintf(msg, sizeof(msg), "A%u\n", i - 1);
                if (write(fds[1], msg, (size_t)n) != n) {
                    _exit(7);
                }
            }
        }
    }
    close(fds[1]);
    {
        FILE *in = fdopen(fds[0], "r");
        char line[64];
        static uint8_t pushed[200000], acked[200000];
        uint32_t maxp = 0, n = 0;
        int status;
        struct iothub_file_storage fs;
        struct iothub_storage st;
        struct iothub_outbox ob;
        uint8_t buf[128];
        struct iothub_outbox_msg m;
        uint32_t last = 0, count = 0;
        bool first = true;
        while (fgets(line, sizeof(line), in)) {
            uint32_t v = (uint32_t)strtoul(line + 1, NULL, 10);
            if (line[0] == 'P') {
                pushed[v] = 1;
                maxp = v;
            } else {
                acked[v] = 1;
            }
            if (++n == 6001) {
                kill(pid, SIGKILL);
            }
        }
        /* The loop drained the pipe to EOF, so every event the child
         * reported before dying is counted. */
        waitpid(pid, &status, 0);
        fclose(in);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
        st = iothub_file_storage_iface(&fs);
        assert_int_equal(iothub_outbox_init(&ob, &st, 100000, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
        while (iothub_outbox_peek(&ob, buf, sizeof(buf), &m) == TMA_OK) {
            uint32_t v = (uint32_t)strtoul((const char *)m.payload.ptr + 1, NULL, 10);
            assert_int_equal(v, m.seq);
            assert_true(first || m.seq > last);
            /* Only messages whose push started can exist (at most a few past
             * the last report, which the kill may have cut off). */
            assert_true(m.seq <= maxp + 3);
            first = false;
            last = m.seq;
            count++;
            iothub_outbox_mark_sent(&ob, m.seq);
        }
        /* Every reported push not reported as acked must be there. */
        {
            uint32_t i;
            for (i = 0; i <= maxp; i++) {
                /* The ack of the message before the last push may have
                 * completed without its report reaching the pipe. */
                bool ack_may_be_unreported = i % 2 == 0 && i + 1 == maxp;
                if (pushed[i] && !acked[i] && !ack_may_be_unreported) {
                    uint8_t b2[128];
                    struct iothub_outbox_msg m2;
                    if (iothub_outbox_get(&ob, i, b2, sizeof(b2), &m2) != TMA_OK) {
                        fprintf(stderr, "lost message %u after SIGKILL\n", i);
                        fail();
                    }
                }
            }
        }
        fprintf(stderr, "after SIGKILL: %u pushes reported, %u messages recovered\n", maxp + 1, count);
        iothub_file_storage_close(&fs);
    }
}


/* ---- foreign and damaged files (F15) ----------------------------------- */

static size_t read_file_bytes(const char *path, uint8_t *out, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n;
    assert_non_null(fp);
    n = fread(out, 1, cap, fp);
    fclose(fp);
    return n;
}

static void write_file_bytes(const char *path, const uint8_t *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

/* Seqs left in the store with their payloads, as "seq:payload,...", or
 * with @p lengths their lengths, as "seq:len,...". */
static void store_list(struct iothub_storage *st, char *out, size_t n, int lengths)
{
    uint32_t seq = 0, from = 0;
    size_t used = 0;
    out[0] = '\0';
    while (st->next(st->ctx, from, &seq) == TMA_OK) {
        uint8_t b[1024];
        size_t l = 0;
        assert_int_equal(st->get(st->ctx, seq, b, sizeof(b), &l), TMA_OK);
        if (lengths) {
            used += (size_t)snprintf(out + used, n - used, "%s%u:%zu", used ? "," : "", seq, l);
        } else {
            used += (size_t)snprintf(out + used, n - used, "%s%u:%.*s", used ? "," : "", seq, (int)l,
                                     (const char *)b);
        }
        from = seq + 1;
    }
}

static void store_dump(struct iothub_storage *st, char *out, size_t n)
{
    store_list(st, out, n, 0);
}

static void test_outbox_refuses_foreign_file(void **state)
{
    struct iothub_file_storage fs;
    char p[300], tmp[310];
    uint8_t before[8192], after[8192];
    size_t nb, na;
    int i;
    FILE *fp;
    (void)state;
    path_of(p, sizeof(p), "notes.txt");
    fp = fopen(p, "w");
    assert_non_null(fp);
    for (i = 1; i <= 1000; i++) {
        fprintf(fp, "%d\n", i);
    }
    fclose(fp);
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    write_file_bytes(tmp, (const uint8_t *)"mine", 4);
    nb = read_file_bytes(p, before, sizeof(before));
    assert_int_equal(nb, 3893);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_MALFORMED));
    na = read_file_bytes(p, after, sizeof(after));
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, nb);
    assert_int_equal(access(tmp, F_OK), 0); /* a foreign neighbour is not deleted either */
    iothub_file_storage_close(&fs);
    {
        /* ... and the refusal leaves no "<path>.lock" next to the file
         * (before, notes.txt.lock stayed; /dev/null.lock as root). A lock
         * file that was there before stays. */
        char lk[310];
        snprintf(lk, sizeof(lk), "%s.lock", p);
        assert_int_equal(access(lk, F_OK), -1);
        write_file_bytes(lk, (const uint8_t *)"", 0);
        assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_MALFORMED));
        assert_int_equal(access(lk, F_OK), 0);
        assert_int_equal(unlink(lk), 0);
    }

    /* Short foreign files, and a directory. */
    write_file_bytes(p, (const uint8_t *)"hi\n", 3);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_MALFORMED));
    assert_int_equal(read_file_bytes(p, after, sizeof(after)), 3);
    assert_int_equal(iothub_file_storage_open(&fs, dir, false), S_ERR(TMA_C_MALFORMED));

    /* An outbox of another format version is refused, not rewritten. */
    write_file_bytes(p, (const uint8_t *)"TMAOUTB\x03", 8);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_UNSUPPORTED));
    assert_int_equal(read_file_bytes(p, after, sizeof(after)), 8);

    /* A header torn while the log was created is a new empty log. */
    write_file_bytes(p, (const uint8_t *)"TMAO", 4);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.live, 0);
    iothub_file_storage_close(&fs);
    assert_int_equal(read_file_bytes(p, after, sizeof(after)), 20);
    assert_memory_equal(after, "TMAOUTB\x02", 8);
}

/* Format v2: a 20-byte file header (magic, salt, CRC); records of 4-byte
 * payloads are 21 bytes (type, seq, len, header CRC, data, CRC). */
#define FHDR 20u
#define RECLEN 21u
#define REC(k) (FHDR + RECLEN * (k)) /* offset of record k: 4-byte payloads, no DELs */

static void make_five(const char *p, uint8_t *bytes, size_t *n)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    uint32_t k;
    (void)unlink(p);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    for (k = 0; k < 5; k++) {
        char pl[5];
        struct tma_span part;
        snprintf(pl, sizeof(pl), "msg%u", k);
        part.ptr = (const uint8_t *)pl;
        part.len = 4;
        assert_int_equal(st.put(st.ctx, k, &part, 1), TMA_OK);
    }
    iothub_file_storage_close(&fs);
    *n = read_file_bytes(p, bytes, 4096);
    assert_int_equal(*n, REC(5));
}

static void test_outbox_damage_in_the_middle_keeps_later_records(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], aside[320], got[256];
    uint8_t orig[4096], bad[4096], b2[4096];
    size_t n;
    (void)state;
    path_of(p, sizeof(p), "dmg.log");
    make_five(p, orig, &n);

    /* One flipped bit in the data of record 2. */
    memcpy(bad, orig, n);
    bad[REC(2) + 13] ^= 0x01;
    write_file_bytes(p, bad, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "0:msg0,1:msg1,3:msg3,4:msg4");
    assert_int_equal(fs.damaged_bytes, RECLEN);
    assert_int_equal(fs.damaged_regions, 1);
    assert_int_equal(fs.truncated_bytes, 0);
    snprintf(aside, sizeof(aside), "%s.damaged", p);
    assert_non_null(fs.damaged_path);
    assert_string_equal(fs.damaged_path, aside);
    assert_int_equal(read_file_bytes(aside, b2, sizeof(b2)), n);
    assert_memory_equal(b2, bad, n); /* the original is kept byte for byte */
    {
        /* The store keeps working; numbering continues after the highest seq. */
        struct tma_span part;
        part.ptr = (const uint8_t *)"msg5";
        part.len = 4;
        assert_int_equal(st.seq_end(st.ctx), 5);
        assert_int_equal(st.put(st.ctx, 5, &part, 1), TMA_OK);
    }
    iothub_file_storage_close(&fs);
    /* The rewritten log is clean: no damage reported again. */
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "0:msg0,1:msg1,3:msg3,4:msg4,5:msg5");
    assert_int_equal(fs.damaged_bytes, 0);
    assert_null(fs.damaged_path);
    iothub_file_storage_close(&fs);

    /* A damaged length field (the record claims to run past the end) in
     * record 1: records 2..4 still come back; the copy goes to .damaged.1. */
    memcpy(bad, orig, n);
    bad[REC(1) + 8] = 0x7F;
    write_file_bytes(p, bad, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "0:msg0,2:msg2,3:msg3,4:msg4");
    assert_int_equal(fs.damaged_bytes, RECLEN);
    snprintf(aside, sizeof(aside), "%s.damaged.1", p);
    assert_string_equal(fs.damaged_path, aside);
    iothub_file_storage_close(&fs);

    /* Two damaged stretches: unknown type in record 0, garbage over record 3. */
    memcpy(bad, orig, n);
    bad[REC(0)] = 'X';
    memset(bad + REC(3) + 2, 0xA5, 5);
    write_file_bytes(p, bad, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "1:msg1,2:msg2,4:msg4");
    assert_int_equal(fs.damaged_bytes, 2 * RECLEN);
    assert_int_equal(fs.damaged_regions, 2);
    iothub_file_storage_close(&fs);
}

static void test_outbox_damaged_last_record_is_kept_aside(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], aside[320], got[256];
    uint8_t orig[4096], b2[4096];
    size_t n;
    (void)state;
    path_of(p, sizeof(p), "tail.log");
    make_five(p, orig, &n);
    /* A complete last record with a bad CRC is damage, not a torn write. */
    orig[REC(4) + 14] ^= 0x40;
    write_file_bytes(p, orig, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "0:msg0,1:msg1,2:msg2,3:msg3");
    assert_int_equal(fs.damaged_bytes, RECLEN);
    snprintf(aside, sizeof(aside), "%s.damaged", p);
    assert_int_equal(read_file_bytes(aside, b2, sizeof(b2)), n);
    assert_memory_equal(b2, orig, n);
    iothub_file_storage_close(&fs);

    /* A torn tail (the crash case) is cut without a copy. */
    make_five(p, orig, &n);
    write_file_bytes(p, orig, n - 3);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.truncated_bytes, RECLEN - 3);
    assert_int_equal(fs.damaged_bytes, 0);
    assert_null(fs.damaged_path);
    assert_int_equal(fs.live, 4);
    iothub_file_storage_close(&fs);
}


/* Every single-byte corruption of a five-record log: the file header bytes
 * (magic, salt, its CRC) make the file refused, unchanged; any byte of
 * record k loses record k alone, the other four come back, and the damaged
 * original is kept aside byte for byte. Format v2 has no ambiguous case: a
 * changed length fails the header CRC, so it is never taken for a torn
 * tail (v1 cut a last record whose length grew, without a copy). */
static void test_outbox_every_byte_corruption(void **state)
{
    static const uint8_t flips[] = {0x01, 0x80, 0xFF};
    char p[300], aside[320], want[128], got[256];
    uint8_t orig[4096], bad[4096], b2[4096];
    size_t n, i, f, checked = 0;
    (void)state;
    path_of(p, sizeof(p), "every.log");
    make_five(p, orig, &n);
    snprintf(aside, sizeof(aside), "%s.damaged", p);
    for (i = 0; i < n; i++) {
        for (f = 0; f < sizeof(flips); f++) {
            struct iothub_file_storage fs;
            struct iothub_storage st;
            tma_status rc;
            uint32_t k, hit;
            size_t used = 0;
            memcpy(bad, orig, n);
            bad[i] ^= flips[f];
            write_file_bytes(p, bad, n);
            rc = iothub_file_storage_open(&fs, p, false);
            if (i < FHDR) {
                /* magic: not an outbox / another version; salt or its CRC:
                 * the file header fails its CRC */
                assert_true(i < 8 ? rc == S_ERR(TMA_C_MALFORMED) || rc == S_ERR(TMA_C_UNSUPPORTED)
                                  : rc == S_ERR(TMA_C_INTEGRITY));
                assert_int_equal(read_file_bytes(p, b2, sizeof(b2)), n);
                assert_memory_equal(b2, bad, n);
                checked++;
                continue;
            }
            assert_int_equal(rc, TMA_OK);
            hit = (uint32_t)((i - FHDR) / RECLEN);
            want[0] = '\0';
            for (k = 0; k < 5; k++) {
                if (k != hit) {
                    used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%u:msg%u", used ? "," : "", k, k);
                }
            }
            st = iothub_file_storage_iface(&fs);
            store_dump(&st, got, sizeof(got));
            if (strcmp(got, want) != 0) {
                fprintf(stderr, "byte %zu ^ 0x%02x: got %s want %s\n", i, flips[f], got, want);
                fail();
            }
            assert_int_equal(fs.truncated_bytes, 0);
            assert_int_equal(fs.damaged_bytes, RECLEN);
            assert_int_equal(fs.damaged_regions, 1);
            assert_non_null(fs.damaged_path);
            assert_int_equal(read_file_bytes(aside, b2, sizeof(b2)), n);
            assert_memory_equal(b2, bad, n);
            iothub_file_storage_close(&fs);
            assert_int_equal(unlink(aside), 0);
            checked++;
        }
    }
    fprintf(stderr, "single-byte corruptions checked: %zu\n", checked);
    assert_int_equal(checked, 3 * n);
}

/* ---- Format v2 and migration from v1 (S11-OUTBOX2) ---- */

static void le32_at(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* A v1 record (type, seq, len, data, CRC-32) at r: returns its length. */
static size_t v1_rec(uint8_t *r, uint8_t type, uint32_t seq, const char *data)
{
    size_t dlen = data != NULL ? strlen(data) : 0;
    r[0] = type;
    le32_at(r + 1, seq);
    le32_at(r + 5, (uint32_t)dlen);
    memcpy(r + 9, data != NULL ? data : "", dlen);
    le32_at(r + 9 + dlen, tma_test_crc32(0, r, 9 + dlen));
    return 13 + dlen;
}

/* A v2 record (type, seq, len, CRC-32 of salt + those, data, CRC-32). */
static size_t v2_rec(uint8_t *r, const uint8_t *salt, uint8_t type, uint32_t seq, const char *data)
{
    uint8_t b[17];
    size_t dlen = data != NULL ? strlen(data) : 0;
    r[0] = type;
    le32_at(r + 1, seq);
    le32_at(r + 5, (uint32_t)dlen);
    memcpy(b, salt, 8);
    memcpy(b + 8, r, 9);
    le32_at(r + 9, tma_test_crc32(0, b, sizeof(b)));
    memcpy(r + 13, data != NULL ? data : "", dlen);
    le32_at(r + 13 + dlen, tma_test_crc32(0, r, 13 + dlen));
    return 17 + dlen;
}

static void put_bytes(struct iothub_storage *st, uint32_t seq, const uint8_t *p, size_t n)
{
    struct tma_span part;
    part.ptr = p;
    part.len = n;
    assert_int_equal(st->put(st->ctx, seq, &part, 1), TMA_OK);
}

/* A log at @p path written by this code: two puts of text messages. */
static void write_two(const char *path, bool sync, uint32_t s0, const char *m0, uint32_t s1, const char *m1)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    assert_int_equal(iothub_file_storage_open(&fs, path, sync), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    put_bytes(&st, s0, (const uint8_t *)m0, strlen(m0));
    put_bytes(&st, s1, (const uint8_t *)m1, strlen(m1));
    iothub_file_storage_close(&fs);
}

/* A v1 log (built byte by byte: puts, a delete, a torn tail) opens with
 * exactly the content v1 rules give, is rewritten as v2 on open, and opens
 * as v2 with the same content afterwards. Fails on the old code (no
 * format_found; the file stays v1). */
static void test_outbox_v1_log_is_migrated(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], got[256], tmpd[320];
    uint8_t v1[512], back[1024];
    size_t n = 0, m;
    (void)state;
    path_of(p, sizeof(p), "old.log");
    memcpy(v1, "TMAOUTB\x01", 8);
    n = 8;
    n += v1_rec(v1 + n, 'P', 3, "msg3");
    n += v1_rec(v1 + n, 'P', 4, "msg4");
    n += v1_rec(v1 + n, 'D', 3, NULL);
    n += v1_rec(v1 + n, 'P', 6, "msg6");
    n += v1_rec(v1 + n, 'P', 7, "torn-away") - 5; /* a crash cut the last put */

    /* A migration that cannot write its new file leaves the v1 log as it
     * was and fails the open (here: "<path>.tmp" is a directory). */
    write_file_bytes(p, v1, n);
    snprintf(tmpd, sizeof(tmpd), "%s.tmp", p);
    assert_int_equal(mkdir(tmpd, 0700), 0);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), S_ERR(TMA_C_IO));
    assert_int_equal(read_file_bytes(p, back, sizeof(back)), n);
    assert_memory_equal(back, v1, n);
    assert_int_equal(rmdir(tmpd), 0);

    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    assert_int_equal(fs.format_found, 1);
    assert_int_equal(fs.truncated_bytes, 13 + 9 - 5);
    assert_int_equal(fs.damaged_bytes, 0);
    assert_null(fs.damaged_path);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "4:msg4,6:msg6");
    assert_int_equal(st.seq_end(st.ctx), 7);
    put_bytes(&st, 7, (const uint8_t *)"msg7", 4);
    iothub_file_storage_close(&fs);

    /* Now v2: magic, salt, header CRC; then the S floor and the records. */
    m = read_file_bytes(p, back, sizeof(back));
    assert_true(m > 20);
    assert_memory_equal(back, "TMAOUTB\x02", 8);
    {
        uint32_t c = tma_test_crc32(0, back, 16);
        uint8_t cb[4];
        le32_at(cb, c);
        assert_memory_equal(back + 16, cb, 4);
    }
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.format_found, 2);
    assert_int_equal(fs.truncated_bytes, 0);
    assert_int_equal(fs.compactions, 0);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "4:msg4,6:msg6,7:msg7");
    iothub_file_storage_close(&fs);

    /* A damaged v1 log: the copy aside is the v1 original; the survivors
     * come back in v2. */
    n = 8;
    n += v1_rec(v1 + n, 'P', 1, "msg1");
    m = n;
    n += v1_rec(v1 + n, 'P', 2, "msg2");
    n += v1_rec(v1 + n, 'P', 5, "msg5");
    v1[m + 10] ^= 0x10;
    write_file_bytes(p, v1, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.format_found, 1);
    assert_int_equal(fs.damaged_bytes, 17);
    assert_non_null(fs.damaged_path);
    assert_int_equal(read_file_bytes(fs.damaged_path, back, sizeof(back)), n);
    assert_memory_equal(back, v1, n);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "1:msg1,5:msg5");
    iothub_file_storage_close(&fs);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.format_found, 2);
    assert_int_equal(fs.damaged_bytes, 0);
    iothub_file_storage_close(&fs);
}

/* The payload of message 2: text around the images of valid records, in
 * both formats, a PUT of seq 400 and a DEL of seq 1; the v2 ones with the
 * given salt. */
static size_t hostile_payload(uint8_t *out, const uint8_t *salt)
{
    size_t n = 0;
    memcpy(out, "sensor=", 7);
    n = 7;
    n += v2_rec(out + n, salt, 'P', 400, "EVIL");
    n += v2_rec(out + n, salt, 'D', 1, NULL);
    n += v1_rec(out + n, 'P', 400, "EVIL");
    n += v1_rec(out + n, 'D', 1, NULL);
    memcpy(out + n, ";end", 4);
    return n + 4;
}

/* A put torn at any byte of a message that carries record images (issue 6:
 * telemetry bytes are not ours) recovers exactly the state before the put:
 * no phantom seq 400, message 1 not deleted. Then the same with the head of
 * the record's write lost as zeros (its header gone, so recovery must
 * scan): an attacker without the log's salt cannot make the scan accept
 * the images. Fails on the old code (v1: the scan found the v1 images). */
static void test_outbox_torn_put_with_record_image(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], got[256];
    uint8_t before[1024], after[1024], pl[512], guess[8];
    size_t nb, na, npl, t, z, checked = 0;
    (void)state;
    path_of(p, sizeof(p), "img.log");
    write_two(p, true, 0, "msg0", 1, "msg1");
    nb = read_file_bytes(p, before, sizeof(before));
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    npl = hostile_payload(pl, fs.salt); /* the attacker knows the salt */
    put_bytes(&st, 2, pl, npl);
    iothub_file_storage_close(&fs);
    na = read_file_bytes(p, after, sizeof(after));
    assert_true(na > nb && memcmp(before, after, nb) == 0);
    for (t = nb; t <= na; t++) {
        write_file_bytes(p, after, t);
        assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
        st = iothub_file_storage_iface(&fs);
        store_list(&st, got, sizeof(got), 1);
        if (t < na) {
            if (strcmp(got, "0:4,1:4") != 0) {
                fprintf(stderr, "put torn after %zu of %zu bytes: %s\n", t - nb, na - nb, got);
                fail();
            }
            assert_int_equal(fs.truncated_bytes, t - nb);
            assert_int_equal(fs.damaged_bytes, 0);
            assert_int_equal(st.seq_end(st.ctx), 2);
        } else {
            char want[64];
            snprintf(want, sizeof(want), "0:4,1:4,2:%zu", npl);
            assert_string_equal(got, want);
        }
        iothub_file_storage_close(&fs);
        checked++;
    }

    /* The record's head lost as zeros (1 .. all bytes up to the images),
     * the images written by an attacker who guessed the salt wrong. */
    memset(guess, 0, sizeof(guess));
    npl = hostile_payload(pl, guess);
    (void)unlink(p);
    write_file_bytes(p, before, nb);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    put_bytes(&st, 2, pl, npl);
    iothub_file_storage_close(&fs);
    na = read_file_bytes(p, after, sizeof(after));
    for (z = 1; z <= 13 + 7; z++) {
        uint8_t bad[1024];
        memcpy(bad, after, na);
        memset(bad + nb, 0, z);
        write_file_bytes(p, bad, na);
        assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
        st = iothub_file_storage_iface(&fs);
        store_list(&st, got, sizeof(got), 1);
        if (strcmp(got, "0:4,1:4") != 0) {
            fprintf(stderr, "head of %zu zero bytes: %s\n", z, got);
            fail();
        }
        iothub_file_storage_close(&fs);
        {
            char aside[320];
            snprintf(aside, sizeof(aside), "%s.damaged", p);
            (void)unlink(aside);
        }
        checked++;
    }
    fprintf(stderr, "torn hostile puts checked: %zu\n", checked);
}

/* A new log written without sync, whose size reached the disk before its
 * bytes: the header and the first puts read back as zeros (longer than a
 * file header). With "<path>.lock" there (the open that created the log
 * left it) it opens as a new empty log, the zeros counted as damage and
 * kept aside; without it, or with anything but zeros after the magic
 * prefix, the file is refused untouched. Fails on the old code (refused as
 * "not an outbox file" for ever). */
static void test_outbox_zeroed_new_log(void **state)
{
    static const struct {
        const char *head;
        size_t head_len;
        tma_status want; /* with the lock file there */
    } cases[] = {
        {"", 0, TMA_OK},
        {"TMAO", 4, TMA_OK},
        {"TMAOUTB\x02", 8, TMA_OK},
        {"hello", 5, S_ERR(TMA_C_MALFORMED)},
        {"TMAOUTB\x02\x01", 9, S_ERR(TMA_C_INTEGRITY)},
        {"TMAOUTB\x03", 8, S_ERR(TMA_C_UNSUPPORTED)},
    };
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], lk[310];
    uint8_t file[200], back[256];
    size_t i, n = 20 + 21 + 30;
    (void)state;
    path_of(p, sizeof(p), "zero.log");
    snprintf(lk, sizeof(lk), "%s.lock", p);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(file, 0, sizeof(file));
        memcpy(file, cases[i].head, cases[i].head_len);
        /* No lock file: nobody opened this path before; refused. */
        (void)unlink(lk);
        write_file_bytes(p, file, n);
        assert_int_not_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
        assert_int_equal(read_file_bytes(p, back, sizeof(back)), n);
        assert_memory_equal(back, file, n);
        assert_int_equal(access(lk, F_OK), -1);
        /* With it. */
        write_file_bytes(lk, (const uint8_t *)"", 0);
        if (iothub_file_storage_open(&fs, p, true) != cases[i].want) {
            fail_msg("case %zu: wrong status", i);
        }
        if (cases[i].want != TMA_OK) {
            assert_int_equal(read_file_bytes(p, back, sizeof(back)), n);
            assert_memory_equal(back, file, n);
            continue;
        }
        assert_int_equal(fs.live, 0);
        assert_int_equal(fs.damaged_bytes, n);
        assert_non_null(fs.damaged_path);
        assert_int_equal(read_file_bytes(fs.damaged_path, back, sizeof(back)), n);
        assert_memory_equal(back, file, n);
        assert_int_equal(unlink(fs.damaged_path), 0);
        st = iothub_file_storage_iface(&fs);
        put_bytes(&st, 0, (const uint8_t *)"msg0", 4);
        iothub_file_storage_close(&fs);
        assert_int_equal(read_file_bytes(p, back, sizeof(back)), 20 + 21);
        assert_memory_equal(back, "TMAOUTB\x02", 8);
    }
}

/* The tests' own CRC-32 (tests/lib/tma_testutil.h) gives zlib's check
 * value, also when chained, so the images built with it are what the
 * format documents. */
/* A crafted log with a candidate header every 16 bytes, each announcing a
 * 1 MiB record that lies inside the file but fails its CRC, behind a
 * damaged first record: every candidate the resynchronisation scan meets
 * cost a CRC over 1 MiB, so open() was quadratic (a 6 MB v1 file took over
 * a minute; this one about 2 GB of CRC). Now the CRC work of one open is
 * bounded and such a file is refused untouched with TMA_C_INTEGRITY, in v1
 * and in v2 (candidates with header CRCs under the file's own salt).
 * Fails on the old code (it opened, after the long scan, with the file
 * rewritten). storage-review-11.md R1. */
static void test_outbox_scan_work_is_bounded(void **state)
{
    static const uint32_t dlen = 1u << 20;
    const size_t ncand = 2048;
    const uint8_t salt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct iothub_file_storage fs;
    char p[300], lock[310];
    unsigned ver;
    (void)state;
    path_of(p, sizeof(p), "crafted.log");
    snprintf(lock, sizeof(lock), "%s.lock", p);
    for (ver = 1; ver <= 2; ver++) {
        size_t hdr = ver == 1 ? 8 : 20, n = hdr + 16 * ncand + dlen + 64, i;
        uint8_t *b = calloc(1, n), *back = malloc(n);
        struct stat sb;
        assert_non_null(b);
        assert_non_null(back);
        memcpy(b, ver == 1 ? "TMAOUTB\x01" : "TMAOUTB\x02", 8);
        if (ver == 2) {
            memcpy(b + 8, salt, 8);
            le32_at(b + 16, tma_test_crc32(0, b, 16));
        }
        /* b[hdr] stays 0: no valid record at the start, the scan runs */
        for (i = 0; i < ncand; i++) {
            uint8_t *c = b + hdr + 1 + 16 * i;
            c[0] = 'P';
            le32_at(c + 1, (uint32_t)i + 1);
            le32_at(c + 5, dlen);
            if (ver == 2) {
                uint8_t h[17];
                memcpy(h, salt, 8);
                memcpy(h + 8, c, 9);
                le32_at(c + 9, tma_test_crc32(0, h, sizeof(h)));
            }
        }
        write_file_bytes(p, b, n);
        assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_INTEGRITY));
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal((size_t)sb.st_size, n);
        assert_int_equal(read_file_bytes(p, back, n), n);
        assert_memory_equal(back, b, n);
        assert_int_not_equal(access(lock, F_OK), 0); /* the refusing open made it: gone */
        free(b);
        free(back);
    }
}

/* Review questions with a definite answer (storage-review-11.md):
 * a v1 log with damage in the middle AND a torn tail migrates with exactly
 * the survivors; two v2 logs concatenated (the second one's own file header
 * and records, another salt) give the first log's records only, none of
 * the second one's accepted as phantoms, the whole file kept aside. */
static void test_outbox_review11_v1_damage_and_torn_tail_and_concatenation(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], q[300], got[256];
    uint8_t v1[512], a[512], b2[512], back[1100];
    size_t n, m, na, nb;
    (void)state;
    path_of(p, sizeof(p), "v1dt.log");
    memcpy(v1, "TMAOUTB\x01", 8);
    n = 8;
    n += v1_rec(v1 + n, 'P', 1, "msg1");
    m = n;
    n += v1_rec(v1 + n, 'P', 2, "msg2");
    n += v1_rec(v1 + n, 'P', 5, "msg5");
    n += v1_rec(v1 + n, 'D', 1, NULL);
    n += v1_rec(v1 + n, 'P', 6, "msg6-torn") - 4;
    v1[m + 11] ^= 0x01; /* inside msg2's data */
    write_file_bytes(p, v1, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    assert_int_equal(fs.format_found, 1);
    assert_int_equal(fs.damaged_bytes, 17);
    assert_int_equal(fs.damaged_regions, 1);
    assert_int_equal(fs.truncated_bytes, 13 + 9 - 4);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "5:msg5");
    assert_int_equal(st.seq_end(st.ctx), 6);
    iothub_file_storage_close(&fs);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.format_found, 2);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "5:msg5");
    assert_int_equal(st.seq_end(st.ctx), 6);
    iothub_file_storage_close(&fs);

    /* Two real v2 logs, written by this code, then concatenated. */
    path_of(p, sizeof(p), "a.log");
    path_of(q, sizeof(q), "b.log");
    write_two(p, false, 1, "a1", 2, "a2");
    assert_int_equal(iothub_file_storage_open(&fs, q, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    put_bytes(&st, 7, (const uint8_t *)"b7", 2);
    put_bytes(&st, 8, (const uint8_t *)"b8", 2);
    assert_int_equal(st.del(st.ctx, 7), TMA_OK);
    iothub_file_storage_close(&fs);
    na = read_file_bytes(p, a, sizeof(a));
    nb = read_file_bytes(q, b2, sizeof(b2));
    memcpy(back, a, na);
    memcpy(back + na, b2, nb);
    write_file_bytes(p, back, na + nb);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.damaged_bytes, nb);
    assert_non_null(fs.damaged_path);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "1:a1,2:a2");
    assert_int_equal(st.seq_end(st.ctx), 3);
    iothub_file_storage_close(&fs);
}

/* A v1 migration that runs out of space writing "<path>.tmp" (the file
 * size limit makes the writes fail as a full disk does) fails the open with
 * TMA_C_IO, leaves the v1 log byte for byte and no .tmp; with space back
 * the next open migrates. storage-review-11.md R3. */
static void test_outbox_v1_migration_out_of_space(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct rlimit old_lim, lim;
    void (*old_handler)(int);
    char p[300], tmp[310], got[256];
    uint8_t v1[2048], back[2048];
    size_t n = 8;
    uint32_t i;
    tma_status rc;
    (void)state;
    path_of(p, sizeof(p), "full.log");
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    memcpy(v1, "TMAOUTB\x01", 8);
    for (i = 1; i <= 20; i++) {
        n += v1_rec(v1 + n, 'P', i, "a message of some length");
    }
    write_file_bytes(p, v1, n);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    lim = old_lim;
    lim.rlim_cur = 100; /* the header, the floor and part of a record */
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    rc = iothub_file_storage_open(&fs, p, true);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, S_ERR(TMA_C_IO));
    assert_int_equal(read_file_bytes(p, back, sizeof(back)), n);
    assert_memory_equal(back, v1, n);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    assert_int_equal(fs.format_found, 1);
    assert_int_equal(fs.live, 20);
    st = iothub_file_storage_iface(&fs);
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "1:24,2:24,3:24,4:24,5:24,6:24,7:24,8:24,9:24,10:24,11:24,12:24,13:24,14:24,15:24,16:24,"
                             "17:24,18:24,19:24,20:24");
    iothub_file_storage_close(&fs);
}

/* A damaged log whose rewrite keeps failing (here "<path>.tmp" is a
 * directory; a full disk does the same) is refused each time, untouched,
 * and keeps ONE copy aside: every retry used to add another whole copy
 * (.damaged.1 .. .9), and after ten the log was refused for ever, even
 * once the cause was gone. Fails on the old code. storage-review-11.md R4. */
static void test_outbox_failed_rewrite_keeps_one_copy(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], tmpd[310], dmg[320], got[256];
    uint8_t b[512], back[512];
    size_t n;
    int i;
    (void)state;
    path_of(p, sizeof(p), "retry.log");
    snprintf(tmpd, sizeof(tmpd), "%s.tmp", p);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    put_bytes(&st, 1, (const uint8_t *)"one", 3);
    put_bytes(&st, 2, (const uint8_t *)"two", 3);
    put_bytes(&st, 3, (const uint8_t *)"three", 5);
    iothub_file_storage_close(&fs);
    n = read_file_bytes(p, b, sizeof(b));
    b[20 + 20 + 14] ^= 0x04; /* inside "two": its body CRC fails */
    write_file_bytes(p, b, n);
    assert_int_equal(mkdir(tmpd, 0700), 0);
    for (i = 0; i < 12; i++) {
        assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_IO));
        assert_int_equal(read_file_bytes(p, back, sizeof(back)), n);
        assert_memory_equal(back, b, n);
    }
    snprintf(dmg, sizeof(dmg), "%s.damaged.1", p);
    assert_int_not_equal(access(dmg, F_OK), 0);
    assert_int_equal(rmdir(tmpd), 0);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.damaged_regions, 1);
    assert_non_null(fs.damaged_path);
    snprintf(dmg, sizeof(dmg), "%s.damaged", p);
    assert_string_equal(fs.damaged_path, dmg);
    assert_int_equal(read_file_bytes(dmg, back, sizeof(back)), n);
    assert_memory_equal(back, b, n);
    st = iothub_file_storage_iface(&fs);
    store_dump(&st, got, sizeof(got));
    assert_string_equal(got, "1:one,3:three");
    iothub_file_storage_close(&fs);
    snprintf(dmg, sizeof(dmg), "%s.damaged.1", p);
    assert_int_not_equal(access(dmg, F_OK), 0);
}

/* The "lock file was there before" rule for zero-filled new logs cannot
 * drop a real log: one whose first 4 KiB came back as zeros while later
 * records are intact is refused untouched (MALFORMED), lock there or not;
 * and compaction keeps the log's salt (bytes 8..15 of the file).
 * storage-review-11.md R5, R6. */
static void test_outbox_review11_zeroed_head_and_salt(void **state)
{
    static uint8_t b[16384], back[16384];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], lock[310], dmg[320];
    uint8_t salt[8], big[600];
    size_t n;
    uint32_t i;
    (void)state;
    path_of(p, sizeof(p), "zhead.log");
    snprintf(lock, sizeof(lock), "%s.lock", p);
    snprintf(dmg, sizeof(dmg), "%s.damaged", p);
    memset(big, 'x', sizeof(big));
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    memcpy(salt, fs.salt, 8);
    st = iothub_file_storage_iface(&fs);
    for (i = 1; i <= 20; i++) {
        put_bytes(&st, i, big, sizeof(big));
    }
    for (i = 1; i <= 10; i++) {
        assert_int_equal(st.del(st.ctx, i), TMA_OK);
    }
    assert_int_equal(iothub_file_storage_compact(&fs), TMA_OK);
    assert_memory_equal(fs.salt, salt, 8);
    iothub_file_storage_close(&fs);
    n = read_file_bytes(p, b, sizeof(b));
    assert_true(n > 4096 + 617);
    assert_memory_equal(b + 8, salt, 8); /* kept by compaction */
    memset(b, 0, 4096);
    write_file_bytes(p, b, n);
    assert_int_equal(access(lock, F_OK), 0); /* left by the opens above */
    assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_MALFORMED));
    assert_int_equal(read_file_bytes(p, back, sizeof(back)), n);
    assert_memory_equal(back, b, n);
    assert_int_not_equal(access(dmg, F_OK), 0);
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), S_ERR(TMA_C_MALFORMED));
    assert_int_equal(read_file_bytes(p, back, sizeof(back)), n);
    assert_memory_equal(back, b, n);
}

/* ---- Sequence numbers across the end of their range (SEQ13) ---- */

/* A store in RAM whose numbers can start anywhere: up to 8 records of up to
 * 64 bytes, any seq; rebase() as the test sets it up (NULL: none). */
#define FK_MAX 8
struct fake_store {
    uint32_t seq[FK_MAX];
    uint8_t data[FK_MAX][64];
    size_t len[FK_MAX];
    int live[FK_MAX];
    uint32_t end;
    unsigned rebase_calls;
    tma_status rebase_rc; /* what rebase answers (TMA_OK: it forgets) */
};

static tma_status fk_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t n)
{
    struct fake_store *f = ctx;
    size_t i, k, off = 0;
    if (seq < f->end || seq == UINT32_MAX) {
        return S_ERR(TMA_C_STATE);
    }
    for (k = 0; k < FK_MAX && f->live[k]; k++) {
    }
    if (k == FK_MAX) {
        return S_ERR(TMA_C_FULL);
    }
    for (i = 0; i < n; i++) {
        assert_true(off + parts[i].len <= sizeof(f->data[k]));
        memcpy(f->data[k] + off, parts[i].ptr, parts[i].len);
        off += parts[i].len;
    }
    f->seq[k] = seq;
    f->len[k] = off;
    f->live[k] = 1;
    f->end = seq + 1u;
    return TMA_OK;
}

static int fk_find(struct fake_store *f, uint32_t seq)
{
    int k;
    for (k = 0; k < FK_MAX; k++) {
        if (f->live[k] && f->seq[k] == seq) {
            return k;
        }
    }
    return -1;
}

static tma_status fk_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    struct fake_store *f = ctx;
    int k = fk_find(f, seq);
    if (k < 0) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    *out_len = f->len[k];
    if (cap < f->len[k]) {
        return S_ERR(TMA_C_TOO_SMALL);
    }
    memcpy(buf, f->data[k], f->len[k]);
    return TMA_OK;
}

static tma_status fk_del(void *ctx, uint32_t seq)
{
    struct fake_store *f = ctx;
    int k = fk_find(f, seq);
    if (k < 0) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    f->live[k] = 0;
    return TMA_OK;
}

static tma_status fk_next(void *ctx, uint32_t from, uint32_t *out)
{
    struct fake_store *f = ctx;
    int k, best = -1;
    for (k = 0; k < FK_MAX; k++) {
        if (f->live[k] && f->seq[k] >= from && (best < 0 || f->seq[k] < f->seq[best])) {
            best = k;
        }
    }
    if (best < 0) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    *out = f->seq[best];
    return TMA_OK;
}

static uint32_t fk_end(void *ctx)
{
    return ((struct fake_store *)ctx)->end;
}

static tma_status fk_rebase(void *ctx)
{
    struct fake_store *f = ctx;
    uint32_t s;
    f->rebase_calls++;
    /* the contract: a store that holds a record refuses, changing nothing */
    if (fk_next(f, 0, &s) == TMA_OK) {
        return S_ERR(TMA_C_STATE);
    }
    if (f->rebase_rc == TMA_OK) {
        f->end = 0;
    }
    return f->rebase_rc;
}

static struct iothub_storage fake_storage(struct fake_store *f, uint32_t end, int with_rebase)
{
    struct iothub_storage st;
    memset(f, 0, sizeof(*f));
    f->end = end;
    memset(&st, 0, sizeof(st));
    st.ctx = f;
    st.put = fk_put;
    st.get = fk_get;
    st.del = fk_del;
    st.next = fk_next;
    st.seq_end = fk_end;
    st.rebase = with_rebase ? fk_rebase : NULL;
    return st;
}

/* A v2 record with explicit-length data (may hold zero bytes). */
static size_t v2_rec_n(uint8_t *r, const uint8_t *salt, uint8_t type, uint32_t seq, const void *data, size_t dlen)
{
    uint8_t b[17];
    r[0] = type;
    le32_at(r + 1, seq);
    le32_at(r + 5, (uint32_t)dlen);
    memcpy(b, salt, 8);
    memcpy(b + 8, r, 9);
    le32_at(r + 9, tma_test_crc32(0, b, sizeof(b)));
    if (dlen > 0) {
        memcpy(r + 13, data, dlen);
    }
    le32_at(r + 13 + dlen, tma_test_crc32(0, r, 13 + dlen));
    return 17 + dlen;
}

/* Hand out every message (peek, mark sent) and acknowledge each. */
static void send_all_acked(struct iothub_outbox *ob, char *got, size_t n)
{
    uint8_t buf[256];
    struct iothub_outbox_msg m;
    size_t used = 0;
    got[0] = '\0';
    while (iothub_outbox_peek(ob, buf, sizeof(buf), &m) == TMA_OK) {
        used += (size_t)snprintf(got + used, n - used, "%s%.*s", used ? "," : "", (int)m.payload.len,
                                 (const char *)m.payload.ptr);
        iothub_outbox_mark_sent(ob, m.seq);
        assert_int_equal(iothub_outbox_ack(ob, m.seq), TMA_OK);
    }
}

/* Numbers near UINT32_MAX over a store that cannot renumber stored records
 * (it refuses rebase() while it holds one, as the MCU flash log): messages
 * keep being accepted in order; every push asks (all counted messages are
 * in the upper half) and is refused; at UINT32_MAX it refuses (counted)
 * until it drains; once drained, numbering starts again at 0 and, in the
 * lower half, nothing is asked any more. Fails on the old code: the push at
 * UINT32_MAX is refused for ever. */
static void test_outbox_seq_restarts_at_zero_after_drain(void **state)
{
    struct fake_store f;
    struct iothub_storage st = fake_storage(&f, UINT32_MAX - 4u, 1);
    struct iothub_outbox ob;
    struct tma_span part = {(const uint8_t *)"\x00\x01tr", 4};
    uint32_t s0, s1, s2, s;
    char got[128];
    (void)state;
    /* one message stored from before: the outbox is never empty below */
    assert_int_equal(fk_put(&f, UINT32_MAX - 4u, &part, 1), TMA_OK);
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "a", &s0);
    push_str(&ob, "b", &s1);
    push_str(&ob, "c", &s2);
    assert_int_equal(s0, UINT32_MAX - 3u);
    assert_int_equal(s2, UINT32_MAX - 1u);
    assert_int_equal(f.rebase_calls, 3u); /* asked at each push, refused */
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 0u);
    /* nothing acknowledged: no number left, refused and counted */
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"d", 1, &s), S_ERR(TMA_C_FULL));
    assert_int_equal(iothub_outbox_stats(&ob).refused, 1u);
    assert_int_equal(iothub_outbox_ack(&ob, UINT32_MAX - 4u), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, s0), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, s1), TMA_OK);
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"d", 1, &s), S_ERR(TMA_C_FULL));
    assert_int_equal(f.rebase_calls, 5u); /* "c" is stored: refused */
    assert_int_equal(iothub_outbox_ack(&ob, s2), TMA_OK);
    /* empty: the next push starts again at 0 */
    push_str(&ob, "d", &s);
    assert_int_equal(s, 0u);
    assert_int_equal(f.rebase_calls, 6u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 1u);
    push_str(&ob, "e", &s);
    assert_int_equal(s, 1u);
    assert_int_equal(iothub_outbox_count(&ob), 2u);
    assert_int_equal(f.rebase_calls, 6u); /* the head is in the lower half */
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "d,e");
    /* far below the threshold an empty outbox keeps its numbers */
    push_str(&ob, "f", &s);
    assert_int_equal(s, 2u);
    assert_int_equal(f.rebase_calls, 6u);
}

/* The threshold: an empty outbox at 0x7FFFFFFF keeps numbering, at
 * IOTHUB_OUTBOX_REBASE_AT it rebases; a store without rebase keeps going
 * until UINT32_MAX and then refuses every push, counted, even when empty.
 * Fails on the old code (no rebase at all). */
static void test_outbox_rebase_threshold_and_store_without_rebase(void **state)
{
    struct fake_store f;
    struct iothub_storage st = fake_storage(&f, IOTHUB_OUTBOX_REBASE_AT - 1u, 1);
    struct iothub_outbox ob;
    uint32_t s;
    (void)state;
    assert_int_equal(IOTHUB_OUTBOX_REBASE_AT, 0x80000000u);
    assert_int_equal(iothub_outbox_init(&ob, &st, 4, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    push_str(&ob, "a", &s);
    assert_int_equal(s, IOTHUB_OUTBOX_REBASE_AT - 1u);
    assert_int_equal(iothub_outbox_ack(&ob, s), TMA_OK);
    push_str(&ob, "b", &s);
    assert_int_equal(s, 0u);
    assert_int_equal(f.rebase_calls, 1u);

    st = fake_storage(&f, UINT32_MAX - 1u, 0);
    assert_int_equal(iothub_outbox_init(&ob, &st, 4, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    push_str(&ob, "a", &s);
    assert_int_equal(s, UINT32_MAX - 1u);
    assert_int_equal(iothub_outbox_ack(&ob, s), TMA_OK);
    assert_int_equal(iothub_outbox_count(&ob), 0u);
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"b", 1, &s), S_ERR(TMA_C_FULL));
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"b", 1, &s), S_ERR(TMA_C_FULL));
    assert_int_equal(iothub_outbox_stats(&ob).refused, 2u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 0u);
    assert_int_equal(f.rebase_calls, 0u);
}

/* A failed rebase is no error for the push: it goes on with the old
 * numbers and the next empty push tries again. A record the count missed
 * (stored behind the outbox's back, as a failed delete can leave one): the
 * store refuses (TMA_C_STATE), the outbox keeps its numbers. Fails on the
 * old code (no rebase at all). */
static void test_outbox_rebase_failure_and_stored_record(void **state)
{
    struct fake_store f;
    struct iothub_storage st = fake_storage(&f, UINT32_MAX - 2u, 1);
    struct iothub_outbox ob;
    struct tma_span part = {(const uint8_t *)"\x00\x01tz", 4};
    uint32_t s;
    char got[64];
    (void)state;
    f.rebase_rc = S_ERR(TMA_C_IO);
    assert_int_equal(iothub_outbox_init(&ob, &st, 4, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "a", &s);
    assert_int_equal(s, UINT32_MAX - 2u);
    assert_int_equal(f.rebase_calls, 1u);
    assert_int_equal(iothub_outbox_ack(&ob, s), TMA_OK);
    push_str(&ob, "b", &s);
    assert_int_equal(s, UINT32_MAX - 1u);
    assert_int_equal(f.rebase_calls, 2u);
    assert_int_equal(iothub_outbox_ack(&ob, s), TMA_OK);
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"c", 1, &s), S_ERR(TMA_C_FULL));
    assert_int_equal(f.rebase_calls, 3u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 0u);
    /* a record the outbox did not count (seq below seq_end: not adopted) */
    f.end = 5u;
    assert_int_equal(fk_put(&f, 5u, &part, 1), TMA_OK);
    f.end = UINT32_MAX;
    f.rebase_rc = TMA_OK;
    assert_int_equal(iothub_outbox_count(&ob), 0u);
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"c", 1, &s), S_ERR(TMA_C_FULL));
    assert_int_equal(f.rebase_calls, 4u); /* asked, refused: the record stays */
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 0u);
    assert_int_equal(f.end, UINT32_MAX);
    assert_int_equal(fk_del(&f, 5u), TMA_OK);
    push_str(&ob, "c", &s);
    assert_int_equal(s, 0u);
    assert_int_equal(f.rebase_calls, 5u);
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "c");
}

/* The client tags an MQTT in-flight PUBLISH with the message's seq. A
 * message dropped (DROP_OLDEST) while in flight leaves a stale tag; after a
 * rebase its PUBACK (ack) and its resend (get) must not touch the new
 * messages, which now carry low numbers. Fails on the old code (no rebase:
 * the push is refused). */
static void test_outbox_stale_inflight_tag_after_rebase(void **state)
{
    struct fake_store f;
    struct iothub_storage st = fake_storage(&f, UINT32_MAX - 2u, 1);
    struct iothub_outbox ob;
    struct iothub_outbox_msg m;
    uint8_t buf[128];
    uint32_t stale, s, s2;
    char got[64];
    (void)state;
    f.rebase_rc = S_ERR(TMA_C_IO); /* "old" keeps a high number */
    assert_int_equal(iothub_outbox_init(&ob, &st, 1, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    push_str(&ob, "old", &stale);
    assert_int_equal(stale, UINT32_MAX - 2u);
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof(buf), &m), TMA_OK);
    iothub_outbox_mark_sent(&ob, m.seq); /* in flight, tag "stale" */
    push_str(&ob, "x", &s);               /* drops "old" */
    assert_int_equal(iothub_outbox_stats(&ob).dropped, 1u);
    assert_int_equal(iothub_outbox_ack(&ob, s), TMA_OK);
    f.rebase_rc = TMA_OK;
    push_str(&ob, "new", &s); /* empty: rebased */
    assert_int_equal(s, 0u);
    push_str(&ob, "new2", &s2); /* capacity 1: drops "new" */
    assert_int_equal(s2, 1u);
    /* the stale tag finds nothing, now or after the new ones moved on */
    assert_int_equal(iothub_outbox_get(&ob, stale, buf, sizeof(buf), &m), S_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(iothub_outbox_ack(&ob, stale), S_ERR(TMA_C_NOT_FOUND));
    iothub_outbox_mark_sent(&ob, stale);
    assert_int_equal(iothub_outbox_count(&ob), 1u);
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "new2");
}

/* The file store near the end of the numbers. rebase() refuses, writing
 * nothing, while a live record is below IOTHUB_OUTBOX_REBASE_AT; with every
 * live record above, the outbox's first push renumbers them (each lowered
 * by 2^31, order and payloads kept, same salt), everything is due again
 * under the new numbers, and the log reopens so; an empty log's rebase()
 * reopens at 0. Fails on the old code (its rebase refuses any live record:
 * the pushes go on at UINT32_MAX - 2 and the third is refused). */
static void test_outbox_file_store_rebase(void **state)
{
    static uint8_t before[512], after[512];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    uint8_t salt[8];
    uint32_t s0, s1, s;
    size_t n_before;
    char p[300], got[128];
    (void)state;
    path_of(p, sizeof(p), "wrap.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    memcpy(salt, fs.salt, 8);
    st = iothub_file_storage_iface(&fs);
    assert_non_null(st.rebase);
    put_bytes(&st, 5u, (const uint8_t *)"\x00\x01tlow", 6);
    put_bytes(&st, UINT32_MAX - 3u, (const uint8_t *)"\x00\x01tr", 4);
    n_before = read_file_bytes(p, before, sizeof(before));
    assert_int_equal(st.rebase(st.ctx), S_ERR(TMA_C_STATE)); /* 5 is below 2^31 */
    assert_int_equal(st.seq_end(st.ctx), UINT32_MAX - 2u);
    assert_int_equal(read_file_bytes(p, after, sizeof(after)), n_before);
    assert_memory_equal(after, before, n_before);
    assert_int_equal(st.del(st.ctx, 5u), TMA_OK);
    assert_int_equal(fs.live, 1u);
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "a", &s0); /* renumbers "r", then stores "a" */
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 1u);
    assert_int_equal(s0, UINT32_MAX - 2u - IOTHUB_OUTBOX_REBASE_AT);
    push_str(&ob, "b", &s1);
    assert_int_equal(s1, s0 + 1u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 1u); /* the head is below 2^31 now */
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "2147483644:4,2147483645:29,2147483646:29");
    iothub_file_storage_close(&fs);
    /* a restart: the new numbers, the same salt, order kept */
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    assert_memory_equal(fs.salt, salt, 8);
    assert_int_equal(fs.seq_end, s1 + 1u);
    assert_int_equal(fs.damaged_bytes, 0u);
    st = iothub_file_storage_iface(&fs);
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "2147483644:4,2147483645:29,2147483646:29");
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    assert_int_equal(iothub_outbox_stats(&ob).recovered, 3u);
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "r,a,b");
    push_str(&ob, "c", &s);
    assert_int_equal(s, s1 + 1u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 0u);
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "c");
    /* empty now: rebase() directly, the reopened log says 0 */
    assert_int_equal(st.rebase(st.ctx), TMA_OK);
    assert_int_equal(st.seq_end(st.ctx), 0u);
    iothub_file_storage_close(&fs);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    assert_int_equal(fs.seq_end, 0u);
    assert_int_equal(fs.live, 0u);
    assert_int_equal(fs.damaged_bytes, 0u);
    assert_memory_equal(fs.salt, salt, 8);
    iothub_file_storage_close(&fs);
}

/* A forged or damaged log whose record carries seq UINT32_MAX (the outbox
 * never writes it): that record is damage (kept aside, skipped), the
 * others stay, numbering goes on; a seq marker UINT32_MAX alone rebases at
 * the first push. Fails on the old code (the record counted: every push
 * refused for good). */
static void test_outbox_file_record_at_seq_max_is_damage(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    uint8_t b[256], salt[8];
    uint32_t s;
    size_t n;
    char p[300], got[128];
    (void)state;
    path_of(p, sizeof(p), "forged.log");
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    memcpy(salt, fs.salt, 8);
    iothub_file_storage_close(&fs);
    n = read_file_bytes(p, b, sizeof(b));
    assert_int_equal(n, 20u);
    n += v2_rec_n(b + n, salt, 'P', 5u, "\x00\x01tm5", 5);
    n += v2_rec_n(b + n, salt, 'P', UINT32_MAX, "\x00\x01tevil", 7);
    write_file_bytes(p, b, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_true(fs.damaged_bytes > 0u);
    assert_int_equal(fs.seq_end, 6u);
    st = iothub_file_storage_iface(&fs);
    {
        struct tma_span part = {(const uint8_t *)"\x00\x01tx", 4};
        assert_int_equal(st.put(st.ctx, UINT32_MAX, &part, 1), S_ERR(TMA_C_BAD_PARAM));
    }
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    assert_int_equal(iothub_outbox_count(&ob), 1u);
    push_str(&ob, "m6", &s);
    assert_int_equal(s, 6u);
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "m5,m6");
    iothub_file_storage_close(&fs);

    path_of(p, sizeof(p), "floor.log");
    n = 20u; /* the file header read above */
    n += v2_rec(b + n, salt, 'S', UINT32_MAX, NULL);
    write_file_bytes(p, b, n);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.seq_end, UINT32_MAX);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "z", &s);
    assert_int_equal(s, 0u);
    iothub_file_storage_close(&fs);
}

/* A file log whose rebase fails (the compaction's "<path>.tmp" cannot be
 * made: a directory of that name) keeps its old numbers and the outbox
 * goes on with them; the next empty push, with the obstacle gone, rebases.
 * Fails on the old code (no rebase: the second push is not numbered 0). */
static void test_outbox_file_rebase_fails_then_succeeds(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    uint32_t s;
    char p[300], tmp[310];
    (void)state;
    path_of(p, sizeof(p), "nofail.log");
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    put_bytes(&st, UINT32_MAX - 3u, (const uint8_t *)"x", 1);
    assert_int_equal(st.del(st.ctx, UINT32_MAX - 3u), TMA_OK);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "a", &s);
    assert_int_equal(s, UINT32_MAX - 2u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 0u);
    assert_int_equal(fs.seq_end, UINT32_MAX - 1u);
    assert_int_equal(iothub_outbox_ack(&ob, s), TMA_OK);
    assert_int_equal(rmdir(tmp), 0);
    push_str(&ob, "b", &s);
    assert_int_equal(s, 0u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 1u);
    iothub_file_storage_close(&fs);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.seq_end, 1u);
    assert_int_equal(fs.live, 1u);
    iothub_file_storage_close(&fs);
}

/* A crash during a file log's rebase: the compaction writes "<path>.tmp"
 * and renames it over the log. Before the rename (the old log with any
 * prefix of the new one as "<path>.tmp") the log opens as it was; after it,
 * empty at 0. Fails on the old code (no rebase). */
static void test_outbox_file_rebase_crash_leaves_old_or_new(void **state)
{
    static uint8_t old_log[512], new_log[512];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], tmp[310];
    size_t n_old, n_new, cut;
    (void)state;
    path_of(p, sizeof(p), "rbcrash.log");
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    put_bytes(&st, 0x90000000u, (const uint8_t *)"x", 1);
    assert_int_equal(st.del(st.ctx, 0x90000000u), TMA_OK);
    iothub_file_storage_close(&fs);
    n_old = read_file_bytes(p, old_log, sizeof(old_log));
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(st.rebase(st.ctx), TMA_OK);
    iothub_file_storage_close(&fs);
    n_new = read_file_bytes(p, new_log, sizeof(new_log));
    assert_int_equal(n_new, 20u + 17u); /* file header, seq marker 0 */
    assert_memory_equal(new_log, old_log, 20u); /* same header: same salt */
    for (cut = 0; cut <= n_new; cut++) {
        write_file_bytes(p, old_log, n_old);
        write_file_bytes(tmp, new_log, cut);
        assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
        assert_int_equal(fs.seq_end, 0x90000001u);
        assert_int_equal(fs.live, 0u);
        assert_int_not_equal(access(tmp, F_OK), 0); /* the leftover is gone */
        iothub_file_storage_close(&fs);
    }
    write_file_bytes(p, new_log, n_new);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    assert_int_equal(fs.seq_end, 0u);
    assert_int_equal(fs.live, 0u);
    assert_int_equal(fs.damaged_bytes, 0u);
    iothub_file_storage_close(&fs);
}

/* ---- An outbox that is never empty crosses IOTHUB_OUTBOX_REBASE_AT ---- */

#define NE_K 5u /* messages in flight (unacknowledged) at every push */

/* A log at @p path crafted byte by byte: the file header of a fresh log, a
 * seq marker @p start and NE_K messages "m0".. numbered from @p start. */
static void write_busy_log(const char *path, uint32_t start)
{
    static uint8_t b[1024];
    struct iothub_file_storage fs;
    uint8_t salt[8], rec[16];
    size_t n;
    unsigned k;
    assert_int_equal(iothub_file_storage_open(&fs, path, false), TMA_OK);
    memcpy(salt, fs.salt, 8);
    iothub_file_storage_close(&fs);
    n = read_file_bytes(path, b, sizeof(b));
    assert_int_equal(n, 20u);
    n += v2_rec(b + n, salt, 'S', start, NULL);
    for (k = 0; k < NE_K; k++) {
        int len = snprintf((char *)rec, sizeof(rec), "..tm%u", k);
        rec[0] = 0u;
        rec[1] = 1u;
        n += v2_rec_n(b + n, salt, 'P', start + k, rec, (size_t)len);
    }
    write_file_bytes(path, b, n);
}

/* The message number in a payload "m<id>". */
static unsigned msg_id(const struct iothub_outbox_msg *m)
{
    char t[16];
    assert_true(m->payload.len > 1u && m->payload.len < sizeof(t) && m->payload.ptr[0] == 'm');
    memcpy(t, m->payload.ptr + 1, m->payload.len - 1u);
    t[m->payload.len - 1u] = '\0';
    return (unsigned)strtoul(t, NULL, 10);
}

/* A device sending continuously: at every push NE_K messages are in flight
 * (handed to MQTT under their number as tag, PUBACK not yet in), so the
 * outbox is never empty. From a log numbered from @p start, @p pushes
 * messages: every push succeeds (none refused); numbers go up by one, or
 * down by IOTHUB_OUTBOX_REBASE_AT (@p rebases times, each once every message
 * held is numbered past 2^31); the PUBACKs of the
 * messages in flight under their old numbers find nothing and those
 * messages go again under the new ones: delivered in order, duplicates only
 * at the rebase and at most the in-flight window. The log then reopens with
 * the same records and numbers. */
static void never_empty_run(const char *name, uint32_t start, unsigned pushes, uint32_t rebases)
{
    static unsigned delivered[512];
    static char list1[4096], list2[4096];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    struct iothub_outbox_msg m;
    uint8_t buf[256];
    uint32_t fifo[NE_K], last, s, tag;
    size_t fh = 0, fn = 0, nd = 0, k;
    unsigned i, id = NE_K, stale = 0, back = 0, dup = 0, d = 0, live_rebases = 0;
    char p[300], payload[16];
    path_of(p, sizeof(p), name);
    write_busy_log(p, start);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(iothub_outbox_init(&ob, &st, 64, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    assert_int_equal(iothub_outbox_stats(&ob).recovered, NE_K);
    last = start + NE_K - 1u;
    for (i = 0; i < pushes; i++) {
        uint32_t rebased = iothub_outbox_stats(&ob).rebased;
        assert_true(iothub_outbox_count(&ob) >= NE_K); /* never empty */
        snprintf(payload, sizeof(payload), "m%u", id++);
        push_str(&ob, payload, &s);
        if (iothub_outbox_stats(&ob).rebased != rebased) {
            assert_int_equal(s, last + 1u - IOTHUB_OUTBOX_REBASE_AT);
            live_rebases += fn > 0u; /* with messages in flight */
        } else {
            assert_int_equal(s, last + 1u);
        }
        last = s;
        /* the pump: hand out while the window has room */
        while (fn < NE_K && iothub_outbox_peek(&ob, buf, sizeof(buf), &m) == TMA_OK) {
            assert_true(nd < sizeof(delivered) / sizeof(delivered[0]));
            delivered[nd++] = msg_id(&m);
            fifo[(fh + fn++) % NE_K] = m.seq;
            iothub_outbox_mark_sent(&ob, m.seq);
        }
        /* the oldest PUBACK comes in */
        if (fn == NE_K) {
            tag = fifo[fh];
            fh = (fh + 1u) % NE_K;
            fn--;
            if (iothub_outbox_ack(&ob, tag) != TMA_OK) {
                /* only a tag from before the rebase finds nothing */
                assert_int_equal(iothub_outbox_ack(&ob, tag), S_ERR(TMA_C_NOT_FOUND));
                assert_true(tag >= IOTHUB_OUTBOX_REBASE_AT);
                assert_true(iothub_outbox_stats(&ob).rebased >= 1u);
                stale++;
            }
        }
    }
    assert_int_equal(iothub_outbox_stats(&ob).refused, 0u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, rebases);
    assert_true(live_rebases >= 1u);
    assert_true(last < IOTHUB_OUTBOX_REBASE_AT);
    /* a restart: the same records under the same (new) numbers */
    store_list(&st, list1, sizeof(list1), 0);
    iothub_file_storage_close(&fs);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.seq_end, last + 1u);
    assert_int_equal(fs.damaged_bytes, 0u);
    st = iothub_file_storage_iface(&fs);
    store_list(&st, list2, sizeof(list2), 0);
    assert_string_equal(list2, list1);
    assert_int_equal(iothub_outbox_init(&ob, &st, 64, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    /* the rest goes out after the restart (what was in flight: again) */
    while (iothub_outbox_peek(&ob, buf, sizeof(buf), &m) == TMA_OK) {
        assert_true(nd < sizeof(delivered) / sizeof(delivered[0]));
        delivered[nd++] = msg_id(&m);
        iothub_outbox_mark_sent(&ob, m.seq);
        assert_int_equal(iothub_outbox_ack(&ob, m.seq), TMA_OK);
    }
    iothub_file_storage_close(&fs);
    /* Every message in order; a step back (duplicates) only at each rebase
     * and at the restart, each by the in-flight window at most; those at
     * the rebases are exactly the messages whose old-numbered PUBACK found
     * nothing. */
    assert_int_equal(delivered[0], 0u);
    for (k = 1; k < nd; k++) {
        if (delivered[k] != delivered[k - 1] + 1u) {
            assert_true(delivered[k] < delivered[k - 1]);
            back++;
            d = delivered[k - 1] + 1u - delivered[k];
            assert_true(d >= 1u && d <= NE_K);
            dup += d;
        }
    }
    assert_int_equal(back, live_rebases + 1u); /* those rebases, the restart */
    assert_int_equal(stale, dup - d);     /* the restart's are the last */
    assert_int_equal(delivered[nd - 1], id - 1u);
}

/* From 2^31 - 3 (the messages held straddle 2^31: the rebase waits for
 * the oldest to pass it); from UINT32_MAX - 20 on past where UINT32_MAX
 * would be, and on until the numbers pass 2^31 again: a second rebase.
 * Fails on the old code: it rebases only an empty outbox, so from 2^31 - 3
 * the numbers go on past 2^31 (rebased stays 0), and from UINT32_MAX - 20
 * the push at UINT32_MAX is refused. */
static void test_outbox_never_empty_crosses_rebase(void **state)
{
    (void)state;
    never_empty_run("busy1.log", IOTHUB_OUTBOX_REBASE_AT - 3u, 40u, 1u);
    never_empty_run("busy2.log", UINT32_MAX - 20u, 80u, 2u);
}

/* A renumbering that fails (the compaction's "<path>.tmp" cannot be made:
 * a directory of that name) changes nothing: the log keeps its records and
 * numbers, the push goes on with the old ones; the next push, the obstacle
 * gone, renumbers, and the log reopens with every message under its new
 * number, in order. Fails on the old code (no renumbering with messages
 * stored: "b" is numbered UINT32_MAX - 4). */
static void test_outbox_file_renumber_fails_then_succeeds(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    uint32_t s;
    char p[300], tmp[310], got[128];
    (void)state;
    path_of(p, sizeof(p), "rnfail.log");
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    write_busy_log(p, UINT32_MAX - 10u);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    push_str(&ob, "a", &s);
    assert_int_equal(s, UINT32_MAX - 5u);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 0u);
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "4294967285:5,4294967286:5,4294967287:5,4294967288:5,4294967289:5,4294967290:29");
    assert_int_equal(rmdir(tmp), 0);
    push_str(&ob, "b", &s);
    assert_int_equal(iothub_outbox_stats(&ob).rebased, 1u);
    assert_int_equal(s, UINT32_MAX - 4u - IOTHUB_OUTBOX_REBASE_AT);
    iothub_file_storage_close(&fs);
    assert_int_equal(iothub_file_storage_open(&fs, p, false), TMA_OK);
    assert_int_equal(fs.seq_end, s + 1u);
    st = iothub_file_storage_iface(&fs);
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "2147483637:5,2147483638:5,2147483639:5,2147483640:5,2147483641:5,2147483642:29,"
                             "2147483643:29");
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "m0,m1,m2,m3,m4,a,b");
    iothub_file_storage_close(&fs);
}

/* A crash at every point of a renumbering compaction: "<path>.tmp" holds
 * any prefix of the new log next to the old one (before the rename): the
 * log opens with the old records, numbers and seq_end; after the rename:
 * the new numbers (each lowered by 2^31), the same records, seq_end lowered
 * by the same. Never a mix. Fails on the old code (its rebase refuses a log
 * with a live record: no new log). */
static void test_outbox_file_renumber_crash_leaves_old_or_new(void **state)
{
    static uint8_t old_log[1024], new_log[1024];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    char p[300], tmp[310], old_list[256], new_list[256], got[256];
    size_t n_old, n_new, cut;
    (void)state;
    path_of(p, sizeof(p), "rncrash.log");
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    write_busy_log(p, UINT32_MAX - 10u);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(st.del(st.ctx, UINT32_MAX - 9u), TMA_OK); /* a dead one in between */
    store_list(&st, old_list, sizeof(old_list), 0);
    assert_string_equal(old_list, "4294967285:,4294967287:,4294967288:,4294967289:");
    store_list(&st, old_list, sizeof(old_list), 1);
    iothub_file_storage_close(&fs);
    n_old = read_file_bytes(p, old_log, sizeof(old_log));
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(st.rebase(st.ctx), TMA_OK);
    assert_int_equal(st.seq_end(st.ctx), UINT32_MAX - 5u - IOTHUB_OUTBOX_REBASE_AT);
    store_list(&st, new_list, sizeof(new_list), 1);
    assert_string_equal(new_list, "2147483637:5,2147483639:5,2147483640:5,2147483641:5");
    iothub_file_storage_close(&fs);
    n_new = read_file_bytes(p, new_log, sizeof(new_log));
    assert_memory_equal(new_log, old_log, 20u); /* same header: same salt */
    for (cut = 0; cut <= n_new; cut++) {
        write_file_bytes(p, old_log, n_old);
        write_file_bytes(tmp, new_log, cut);
        assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
        assert_int_equal(fs.seq_end, UINT32_MAX - 5u);
        st = iothub_file_storage_iface(&fs);
        store_list(&st, got, sizeof(got), 1);
        assert_string_equal(got, old_list);
        assert_int_not_equal(access(tmp, F_OK), 0); /* the leftover is gone */
        iothub_file_storage_close(&fs);
    }
    write_file_bytes(p, new_log, n_new);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    assert_int_equal(fs.seq_end, UINT32_MAX - 5u - IOTHUB_OUTBOX_REBASE_AT);
    assert_int_equal(fs.damaged_bytes, 0u);
    st = iothub_file_storage_iface(&fs);
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, new_list);
    iothub_file_storage_close(&fs);
}

/* Directory fsyncs to fail (EIO) from now on, then 0: the test's own
 * fsync(), which port/storage_file.c (compiled into this test) calls;
 * every other fsync goes on as fdatasync() (the tests see no power cut). */
static int dir_fsync_fail;

int fsync(int fd)
{
    struct stat sb;
    if (dir_fsync_fail > 0 && fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        dir_fsync_fail--;
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

/* rev13 F5: a renumbering compaction whose only failure is the directory
 * fsync after the rename (sync on): the compaction reports it, the store
 * reopens and finds the new log (the reopen's own directory fsync works),
 * and rebase() says TMA_OK: the outbox takes the new numbers, and acks
 * with them work. Without that branch of fs_rebase() the outbox would keep
 * the old numbers while the file holds the new ones: every ack NOT_FOUND. */
static void test_outbox_file_rebase_dir_fsync_fails_after_rename(void **state)
{
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    char p[300], got[256];
    (void)state;
    path_of(p, sizeof(p), "rbdirsync.log");
    write_busy_log(p, UINT32_MAX - 10u);
    assert_int_equal(iothub_file_storage_open(&fs, p, true), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "4294967285:5,4294967286:5,4294967287:5,4294967288:5,4294967289:5");
    dir_fsync_fail = 1;
    assert_int_equal(st.rebase(st.ctx), TMA_OK);
    assert_int_equal(dir_fsync_fail, 0); /* the one after the rename failed */
    assert_int_equal(fs.compactions, 0u);  /* a reopen, not the compaction's own state */
    assert_int_equal(st.seq_end(st.ctx), UINT32_MAX - 5u - IOTHUB_OUTBOX_REBASE_AT);
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "2147483637:5,2147483638:5,2147483639:5,2147483640:5,2147483641:5");
    assert_int_equal(iothub_outbox_init(&ob, &st, 8, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    send_all_acked(&ob, got, sizeof(got));
    assert_string_equal(got, "m0,m1,m2,m3,m4");
    store_list(&st, got, sizeof(got), 1);
    assert_string_equal(got, "");
    iothub_file_storage_close(&fs);
}

static void test_outbox_test_crc32_is_zlibs(void **state)
{
    static const uint8_t digits[] = "123456789";
    (void)state;
    assert_int_equal(tma_test_crc32(0, digits, 9), 0xCBF43926u);
    assert_int_equal(tma_test_crc32(tma_test_crc32(0, digits, 4), digits + 4, 5), 0xCBF43926u);
}

/* ---- coverage gaps (session 14, IH14) ------------------------------------ */

/* A storage fake with scripted failures: records in a small table (seq,
 * bytes), next() failing from its n-th call, put() storing the record and
 * then reporting an error (a commit the port could not confirm). */
#define FF_MAX 8
struct failing_store {
    uint32_t seq[FF_MAX];
    uint8_t data[FF_MAX][64];
    size_t len[FF_MAX];
    int n;
    uint32_t end;
    int next_calls, next_fail_from; /* next() fails from this call on (-1: never) */
    tma_status next_fail;
    tma_status put_after_store; /* TMA_OK, or reported after storing */
};
static struct failing_store ffs;

static void ff_reset(void)
{
    memset(&ffs, 0, sizeof ffs);
    ffs.next_fail_from = -1;
}

static void ff_add(uint32_t seq, const void *rec, size_t n)
{
    assert_true(ffs.n < FF_MAX && n <= sizeof ffs.data[0]);
    ffs.seq[ffs.n] = seq;
    memcpy(ffs.data[ffs.n], rec, n);
    ffs.len[ffs.n] = n;
    ffs.n++;
    ffs.end = seq == UINT32_MAX ? UINT32_MAX : (seq + 1u > ffs.end ? seq + 1u : ffs.end);
}

static int ff_find(uint32_t seq)
{
    int i;
    for (i = 0; i < ffs.n; i++) {
        if (ffs.seq[i] == seq) {
            return i;
        }
    }
    return -1;
}

static tma_status ff_put(void *ctx, uint32_t seq, const struct tma_span *parts, size_t nparts)
{
    uint8_t b[64];
    size_t i, n = 0;
    (void)ctx;
    for (i = 0; i < nparts; i++) {
        assert_true(n + parts[i].len <= sizeof b);
        memcpy(b + n, parts[i].ptr, parts[i].len);
        n += parts[i].len;
    }
    ff_add(seq, b, n);
    return ffs.put_after_store;
}

static tma_status ff_get(void *ctx, uint32_t seq, uint8_t *buf, size_t cap, size_t *out_len)
{
    int i = ff_find(seq);
    (void)ctx;
    if (i < 0) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    *out_len = ffs.len[i];
    if (cap < ffs.len[i]) {
        return S_ERR(TMA_C_TOO_SMALL);
    }
    memcpy(buf, ffs.data[i], ffs.len[i]);
    return TMA_OK;
}

static tma_status ff_del(void *ctx, uint32_t seq)
{
    int i = ff_find(seq);
    (void)ctx;
    if (i < 0) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    ffs.n--;
    ffs.seq[i] = ffs.seq[ffs.n];
    memcpy(ffs.data[i], ffs.data[ffs.n], sizeof ffs.data[0]);
    ffs.len[i] = ffs.len[ffs.n];
    return TMA_OK;
}

static tma_status ff_next(void *ctx, uint32_t from, uint32_t *out)
{
    int i, best = -1;
    (void)ctx;
    if (ffs.next_fail_from >= 0 && ffs.next_calls++ >= ffs.next_fail_from) {
        return ffs.next_fail;
    }
    for (i = 0; i < ffs.n; i++) {
        if (ffs.seq[i] >= from && (best < 0 || ffs.seq[i] < ffs.seq[best])) {
            best = i;
        }
    }
    if (best < 0) {
        return S_ERR(TMA_C_NOT_FOUND);
    }
    *out = ffs.seq[best];
    return TMA_OK;
}

static uint32_t ff_end(void *ctx)
{
    (void)ctx;
    return ffs.end;
}

static struct iothub_storage ff_iface(void)
{
    struct iothub_storage st;
    memset(&st, 0, sizeof st);
    st.put = ff_put;
    st.get = ff_get;
    st.del = ff_del;
    st.next = ff_next;
    st.seq_end = ff_end;
    return st;
}

/* The outbox over a storage that fails or holds odd records: next()
 * failing during the scan of init (init returns the error), a stored seq
 * UINT32_MAX (the scan stops there: counted once, no wrap to 0), a put
 * reported failed that stored its record into an empty outbox (the next
 * push adopts it as the head), the rescan of a DROP_OLDEST push failing,
 * and records that do not decode (shorter than the topic length, topic
 * length 0 or past the end: MALFORMED). Mutants caught: the scan not
 * stopping at UINT32_MAX (counts 3: 0xFFFFFFFF wraps to 0), the adopted
 * record not made the head, the scan's error ignored, decode()'s checks. */
static void test_outbox_over_failing_and_odd_storage(void **state)
{
    struct iothub_storage st;
    struct iothub_outbox ob;
    struct iothub_outbox_msg m;
    uint8_t buf[64];
    uint32_t seq = 0;
    static const uint8_t rec_a[] = {0, 1, 't', 'A'};
    (void)state;
    /* next() fails at once: init fails with it */
    ff_reset();
    ff_add(3, rec_a, sizeof rec_a);
    ffs.next_fail_from = 0;
    ffs.next_fail = S_ERR(TMA_C_IO);
    st = ff_iface();
    assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_DROP_OLDEST), S_ERR(TMA_C_IO));
    /* a record at seq UINT32_MAX (forged or damaged): counted once */
    ff_reset();
    ff_add(3, rec_a, sizeof rec_a);
    ff_add(UINT32_MAX, rec_a, sizeof rec_a);
    st = ff_iface();
    assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    assert_int_equal(iothub_outbox_count(&ob), 2u);
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof buf, &m), TMA_OK);
    assert_int_equal(m.seq, 3u);
    /* a put reported failed that stored the record, into an empty outbox */
    ff_reset();
    st = ff_iface();
    assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_REFUSE_NEW), TMA_OK);
    ffs.put_after_store = S_ERR(TMA_C_IO);
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"first", 5, &seq), S_ERR(TMA_C_IO));
    assert_int_equal(iothub_outbox_count(&ob), 0u);
    ffs.put_after_store = TMA_OK;
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"second", 6, &seq), TMA_OK);
    assert_int_equal(seq, 1u);
    assert_int_equal(iothub_outbox_count(&ob), 2u);
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof buf, &m), TMA_OK);
    assert_int_equal(m.seq, 0u);
    assert_int_equal(m.payload.len, 5u);
    assert_memory_equal(m.payload.ptr, "first", 5);
    iothub_outbox_mark_sent(&ob, 0);
    assert_int_equal(iothub_outbox_ack(&ob, 0), TMA_OK);
    assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof buf, &m), TMA_OK);
    assert_int_equal(m.seq, 1u);
    /* DROP_OLDEST at capacity whose head is gone from the storage: the
     * rescan's error is the push's answer */
    ff_reset();
    ff_add(0, rec_a, sizeof rec_a);
    st = ff_iface();
    assert_int_equal(iothub_outbox_init(&ob, &st, 1, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    assert_int_equal(ff_del(NULL, 0), TMA_OK); /* gone behind the outbox's back */
    ffs.next_fail_from = ffs.next_calls;
    ffs.next_fail = S_ERR(TMA_C_IO);
    assert_int_equal(iothub_outbox_push(&ob, "t", (const uint8_t *)"x", 1, NULL), S_ERR(TMA_C_IO));
    /* records that do not decode */
    {
        static const uint8_t short1[] = {0};
        static const uint8_t tlen0[] = {0, 0, 'x'};
        static const uint8_t tlong[] = {0, 5, 't', 'x'};
        static const uint8_t tfit[] = {0, 2, 't', 'x'};
        ff_reset();
        ff_add(0, short1, sizeof short1);
        ff_add(1, tlen0, sizeof tlen0);
        ff_add(2, tlong, sizeof tlong);
        ff_add(3, tfit, sizeof tfit);
        st = ff_iface();
        assert_int_equal(iothub_outbox_init(&ob, &st, 10, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
        assert_int_equal(iothub_outbox_get(&ob, 0, buf, sizeof buf, &m), S_ERR(TMA_C_MALFORMED));
        assert_int_equal(iothub_outbox_get(&ob, 1, buf, sizeof buf, &m), S_ERR(TMA_C_MALFORMED));
        assert_int_equal(iothub_outbox_get(&ob, 2, buf, sizeof buf, &m), S_ERR(TMA_C_MALFORMED));
        assert_int_equal(iothub_outbox_get(&ob, 3, buf, sizeof buf, &m), TMA_OK);
        assert_int_equal(m.topic.len, 2u);
        assert_int_equal(m.payload.len, 0u);
        /* NULL arguments */
        assert_int_equal(iothub_outbox_get(NULL, 3, buf, sizeof buf, &m), S_ERR(TMA_C_BAD_PARAM));
        assert_int_equal(iothub_outbox_get(&ob, 3, NULL, sizeof buf, &m), S_ERR(TMA_C_BAD_PARAM));
        assert_int_equal(iothub_outbox_get(&ob, 3, buf, sizeof buf, NULL), S_ERR(TMA_C_BAD_PARAM));
        assert_int_equal(iothub_outbox_peek(NULL, buf, sizeof buf, &m), S_ERR(TMA_C_BAD_PARAM));
        assert_int_equal(iothub_outbox_peek(&ob, buf, sizeof buf, NULL), S_ERR(TMA_C_BAD_PARAM));
    }
}

/* The file log's own refusals (port/storage_file.c): a record of more
 * than 6 parts or larger than 16 MiB (BAD_PARAM, nothing written), a put
 * whose seq is not above the last (STATE), get/del of an unknown seq
 * (NOT_FOUND), get into a buffer too small (TOO_SMALL with the size), and
 * every call on a closed log (refused). Mutants caught: the parts limit,
 * the size limit, the seq order check, the TOO_SMALL check. */
static void test_outbox_file_storage_refusals(void **state)
{
    char path[300];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct tma_span parts[7];
    uint8_t buf[64];
    size_t got = 0, i;
    struct stat sb;
    off_t size0;
    uint32_t seq = 0;
    (void)state;
    path_of(path, sizeof path, "refusals.log");
    assert_int_equal(iothub_file_storage_open(&fs, path, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    for (i = 0; i < 7; i++) {
        parts[i].ptr = (const uint8_t *)"ab";
        parts[i].len = 2;
    }
    assert_int_equal(stat(path, &sb), 0);
    size0 = sb.st_size;
    assert_int_equal(st.put(st.ctx, 0, parts, 7), S_ERR(TMA_C_BAD_PARAM));
    /* larger than 16 MiB (the length alone is checked: nothing is read) */
    parts[6].len = 16u * 1024u * 1024u - 9u; /* 5 x 2 + this = 16 MiB + 1 */
    assert_int_equal(st.put(st.ctx, 0, parts + 1, 6), S_ERR(TMA_C_BAD_PARAM));
    parts[6].len = 2;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, size0);
    assert_int_equal(st.put(st.ctx, 0, parts, 6), TMA_OK);
    assert_int_equal(st.put(st.ctx, 5, parts, 1), TMA_OK);
    assert_int_equal(st.put(st.ctx, 5, parts, 1), S_ERR(TMA_C_STATE));
    assert_int_equal(st.put(st.ctx, 3, parts, 1), S_ERR(TMA_C_STATE));
    assert_int_equal(st.seq_end(st.ctx), 6u);
    assert_int_equal(st.get(st.ctx, 4, buf, sizeof buf, &got), S_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(st.del(st.ctx, 4), S_ERR(TMA_C_NOT_FOUND));
    assert_int_equal(st.get(st.ctx, 0, buf, 11, &got), S_ERR(TMA_C_TOO_SMALL));
    assert_int_equal(got, 12u);
    assert_int_equal(st.get(st.ctx, 0, buf, 12, &got), TMA_OK);
    assert_memory_equal(buf, "abababababab", 12);
    assert_int_equal(st.next(st.ctx, 1, &seq), TMA_OK);
    assert_int_equal(seq, 5u);
    iothub_file_storage_close(&fs);
    assert_int_not_equal(st.put(st.ctx, 6, parts, 1), TMA_OK);
    assert_int_not_equal(st.get(st.ctx, 5, buf, sizeof buf, &got), TMA_OK);
    assert_int_not_equal(st.del(st.ctx, 5), TMA_OK);
    assert_int_not_equal(st.rebase(st.ctx), TMA_OK);
    /* reopened: what was put is there, nothing else */
    assert_int_equal(iothub_file_storage_open(&fs, path, false), TMA_OK);
    st = iothub_file_storage_iface(&fs);
    assert_int_equal(st.seq_end(st.ctx), 6u);
    assert_int_equal(st.get(st.ctx, 5, buf, sizeof buf, &got), TMA_OK);
    assert_int_equal(got, 2u);
    iothub_file_storage_close(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_test_crc32_is_zlibs),
        cmocka_unit_test(test_outbox_seq_restarts_at_zero_after_drain),
        cmocka_unit_test(test_outbox_rebase_threshold_and_store_without_rebase),
        cmocka_unit_test(test_outbox_rebase_failure_and_stored_record),
        cmocka_unit_test(test_outbox_stale_inflight_tag_after_rebase),
        cmocka_unit_test_setup_teardown(test_outbox_file_store_rebase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_file_record_at_seq_max_is_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_file_rebase_fails_then_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_file_rebase_crash_leaves_old_or_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_never_empty_crosses_rebase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_file_renumber_crash_leaves_old_or_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_file_rebase_dir_fsync_fails_after_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_file_renumber_fails_then_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_order_ack_and_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_has_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_policies_are_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_crash_truncation_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_leftover_tmp_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_log_has_one_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_survives_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_refuses_foreign_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_damage_in_the_middle_keeps_later_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_damaged_last_record_is_kept_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_every_byte_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_v1_log_is_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_torn_put_with_record_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_zeroed_new_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_scan_work_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_v1_migration_out_of_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_failed_rewrite_keeps_one_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_review11_zeroed_head_and_salt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_review11_v1_damage_and_torn_tail_and_concatenation, setup,
                                        teardown),
        cmocka_unit_test(test_outbox_over_failing_and_odd_storage),
        cmocka_unit_test_setup_teardown(test_outbox_file_storage_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
