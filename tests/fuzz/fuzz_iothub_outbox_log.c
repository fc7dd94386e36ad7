/* Fuzz target: recovery of the file-backed outbox from an arbitrary log
 * (torn, corrupt, out-of-order or hostile records, format v1 or v2).
 * Whatever the bytes, open must succeed or fail cleanly, recovered messages
 * must come out in strictly increasing order and decode, and the store must
 * accept a new message with a sequence number above all of them, or, past
 * IOTHUB_OUTBOX_REBASE_AT, renumber: an empty outbox from 0, one holding
 * messages every record lowered by 2^31 (same records, same order, the new
 * message last), as reopened. The first
 * input byte picks how the file is made:
 *   'T'  the input is the whole file (header checks, torn and zeroed
 *        headers), with "<path>.lock" there as a previous open leaves it;
 *   '1'  a v1 file header, then the rest (v1 recovery and migration);
 *   'H'  a v2 file header (fixed salt), then the rest with the header CRC of
 *        every record that fits fixed up (torn tails, bad bodies, order);
 *   'F'  as 'H', the whole-record CRCs fixed up too (valid logs);
 *   else a v2 file header (fixed salt), then the whole input as records
 *        (the seeds are real records made with that salt). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iothub/outbox.h"
#include "iothub/storage_file.h"
#include "tma_testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What an open leaves next to the log: byte-exact copies of damaged logs
 * (PATH.damaged[.N]) and the lock file (PATH.lock, kept by design: one per
 * fuzzing process was left in /dev/shm after every run). */
static void remove_leftovers(const char *path)
{
    char name[96];
    int i;
    snprintf(name, sizeof(name), "%s.lock", path);
    unlink(name);
    snprintf(name, sizeof(name), "%s.damaged", path);
    unlink(name);
    for (i = 1; i <= 9; i++) {
        snprintf(name, sizeof(name), "%s.damaged.%d", path, i);
        unlink(name);
    }
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static const uint8_t salt[8] = {'f', 'u', 'z', 'z', 's', 'a', 'l', 't'};

/* The stored records as (seq, length, CRC-32 of the bytes), in order;
 * SIZE_MAX if more than @p cap or one does not fit @p buf (the comparison
 * is skipped then). */
struct rec_sum {
    uint32_t seq, len, crc;
};
static size_t list_store(struct iothub_storage *st, struct rec_sum *out, size_t cap, uint8_t *buf, size_t bcap)
{
    uint32_t from = 0, s = 0;
    size_t n = 0, len = 0;
    while (st->next(st->ctx, from, &s) == TMA_OK) {
        if (n == cap || st->get(st->ctx, s, buf, bcap, &len) != TMA_OK) {
            return SIZE_MAX;
        }
        out[n].seq = s;
        out[n].len = (uint32_t)len;
        out[n].crc = tma_test_crc32(0, buf, len);
        n++;
        if (s == UINT32_MAX) {
            break;
        }
        from = s + 1u;
    }
    return n;
}

/* Fix up the CRCs of the v2 records in rec[0..n) as far as they fit. */
static void fix_up(uint8_t *rec, size_t n, int whole)
{
    size_t pos = 0;
    while (pos + 13 <= n) {
        uint8_t b[17];
        uint32_t dlen = le32(rec + pos + 5) % 4096u; /* keep records short */
        put32(rec + pos + 5, dlen);
        memcpy(b, salt, 8);
        memcpy(b + 8, rec + pos, 9);
        put32(rec + pos + 9, tma_test_crc32(0, b, sizeof(b)));
        if (pos + 17 + dlen > n) {
            return; /* a torn tail */
        }
        if (whole) {
            put32(rec + pos + 13 + dlen, tma_test_crc32(0, rec + pos, 13 + dlen));
        }
        pos += 17 + dlen;
    }
}

static int write_log(const char *path, const uint8_t *data, size_t size)
{
    static const uint8_t v1[8] = {'T', 'M', 'A', 'O', 'U', 'T', 'B', 0x01};
    uint8_t fh[20];
    uint8_t *copy = NULL;
    const uint8_t *body = data;
    size_t blen = size;
    int ok = 1;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    memcpy(fh, v1, 8);
    fh[7] = 0x02;
    memcpy(fh + 8, salt, 8);
    put32(fh + 16, tma_test_crc32(0, fh, 16));
    if (size > 0 && data[0] == 'T') {
        /* the whole file */
    } else if (size > 0 && data[0] == '1') {
        ok = fwrite(v1, 1, 8, f) == 8;
        body = data + 1;
        blen = size - 1;
    } else if (size > 0 && (data[0] == 'H' || data[0] == 'F')) {
        copy = malloc(size);
        if (copy == NULL) {
            fclose(f);
            return 0;
        }
        memcpy(copy, data + 1, size - 1);
        fix_up(copy, size - 1, data[0] == 'F');
        body = copy;
        blen = size - 1;
        ok = fwrite(fh, 1, 20, f) == 20;
    } else {
        ok = fwrite(fh, 1, 20, f) == 20;
    }
    if (ok && blen > 0 && fwrite(body, 1, blen, f) != blen) {
        ok = 0;
    }
    free(copy);
    return fclose(f) == 0 && ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    struct iothub_outbox_msg m;
    uint8_t buf[4096];
    uint32_t last = 0, seq = 0, n = 0;
    static struct rec_sum before[1024], after[1025];
    size_t nb, na, i, held;
    int pushed;
    tma_status rc;
    if (path[0] == '\0') {
        /* tmpfs when there is one: recovery fsyncs after cutting a torn tail */
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof(path), "%s/fuzz_iothub_outbox_%ld.log", dir, (long)getpid());
    }
    if (!write_log(path, data, size)) {
        unlink(path);
        return 0;
    }
    if (size > 0 && data[0] == 'T') {
        /* Whole files as a log this process opened before would leave
         * them: with "<path>.lock" (a zeroed new log is only taken for one
         * then). */
        char lk[80];
        FILE *f;
        snprintf(lk, sizeof(lk), "%s.lock", path);
        f = fopen(lk, "wb");
        if (f != NULL) {
            fclose(f);
        }
    }
    if (iothub_file_storage_open(&fs, path, false) != TMA_OK) {
        unlink(path);
        remove_leftovers(path);
        return 0;
    }
    /* Whatever was read, the log is format v2 now, and opens again with
     * the same messages. */
    if (fs.format_found == 1 || fs.damaged_path != NULL) {
        struct iothub_file_storage again;
        size_t live = fs.live;
        iothub_file_storage_close(&fs);
        if (iothub_file_storage_open(&again, path, false) != TMA_OK || again.format_found != 2 ||
            again.live != live || again.damaged_bytes != 0 || again.truncated_bytes != 0) {
            __builtin_trap();
        }
        fs = again;
    }
    st = iothub_file_storage_iface(&fs);
    if (iothub_outbox_init(&ob, &st, 1000, IOTHUB_OUTBOX_DROP_OLDEST) == TMA_OK) {
        while (iothub_outbox_peek(&ob, buf, sizeof(buf), &m) == TMA_OK) {
            if (n > 0 && m.seq <= last) {
                __builtin_trap();
            }
            if (m.topic.len == 0 || m.topic.ptr < buf || m.payload.ptr + m.payload.len > buf + sizeof(buf)) {
                __builtin_trap();
            }
            last = m.seq;
            n++;
            iothub_outbox_mark_sent(&ob, m.seq);
            if (n % 3 == 0) {
                (void)iothub_outbox_ack(&ob, m.seq);
            }
        }
        /* A push numbers above everything handed out, unless the numbers
         * passed IOTHUB_OUTBOX_REBASE_AT: an empty outbox then starts at 0,
         * one holding messages (all numbered past it) lowers every number
         * by it, the records and their order unchanged, the new one last. */
        nb = list_store(&st, before, sizeof(before) / sizeof(before[0]), buf, sizeof(buf));
        held = iothub_outbox_count(&ob);
        pushed = iothub_outbox_push(&ob, "t", (const uint8_t *)"x", 1, &seq) == TMA_OK;
        if (!pushed) {
            /* nothing to check */
        } else if (iothub_outbox_stats(&ob).rebased == 0) {
            if (n > 0 && seq <= last) {
                __builtin_trap();
            }
        } else if (held == 0) {
            if (seq != 0 || iothub_outbox_count(&ob) != 1) {
                __builtin_trap();
            }
        } else {
            /* every record was numbered past 2^31; none dropped to make
             * room (below capacity): the same records, renumbered */
            if (nb == held && held < 1000) {
                na = list_store(&st, after, sizeof(after) / sizeof(after[0]), buf, sizeof(buf));
                if (na != nb + 1 || after[nb].seq != seq || seq >= IOTHUB_OUTBOX_REBASE_AT ||
                    iothub_outbox_count(&ob) != na) {
                    __builtin_trap();
                }
                for (i = 0; i < nb; i++) {
                    if (before[i].seq < IOTHUB_OUTBOX_REBASE_AT || after[i].seq != before[i].seq - IOTHUB_OUTBOX_REBASE_AT ||
                        after[i].len != before[i].len || after[i].crc != before[i].crc || after[i].seq >= seq) {
                        __builtin_trap();
                    }
                }
                /* everything is due again, oldest first, under its new
                 * number (up to a record that does not decode) */
                i = 0;
                while ((rc = iothub_outbox_peek(&ob, buf, sizeof(buf), &m)) == TMA_OK) {
                    if (i >= na || m.seq != after[i].seq) {
                        __builtin_trap();
                    }
                    iothub_outbox_mark_sent(&ob, m.seq);
                    i++;
                }
                if (rc == TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND) && i != na) {
                    __builtin_trap();
                }
            }
        }
        if (pushed && iothub_outbox_stats(&ob).rebased != 0) {
            /* the rebased log says so reopened: the same records */
            size_t live = iothub_outbox_count(&ob);
            na = list_store(&st, after, sizeof(after) / sizeof(after[0]), buf, sizeof(buf));
            iothub_file_storage_close(&fs);
            if (iothub_file_storage_open(&fs, path, false) != TMA_OK || fs.seq_end != seq + 1u || fs.live != live) {
                __builtin_trap();
            }
            st = iothub_file_storage_iface(&fs);
            if (na != SIZE_MAX && (list_store(&st, before, sizeof(before) / sizeof(before[0]), buf, sizeof(buf)) != na ||
                            memcmp(before, after, na * sizeof(before[0])) != 0)) {
                __builtin_trap();
            }
        }
    }
    iothub_file_storage_close(&fs);
    unlink(path);
    remove_leftovers(path);
    return 0;
}
