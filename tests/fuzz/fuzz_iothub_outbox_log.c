/* Fuzz target: recovery of the file-backed outbox from an arbitrary log
 * (torn, corrupt, out-of-order or hostile records). Whatever the bytes, open
 * must succeed or fail cleanly, recovered messages must come out in strictly
 * increasing order and decode, and the store must accept a new message with
 * a sequence number above all of them. The log header (magic + version) is
 * prepended unless the input itself starts with 'T', so most inputs reach
 * record recovery and the rest exercise the header checks. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iothub/outbox.h"
#include "iothub/storage_file.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    struct iothub_file_storage fs;
    struct iothub_storage st;
    struct iothub_outbox ob;
    struct iothub_outbox_msg m;
    uint8_t buf[4096];
    uint32_t last = 0, seq = 0, n = 0;
    FILE *f;
    if (path[0] == '\0') {
        /* tmpfs when there is one: recovery fsyncs after cutting a torn tail */
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof(path), "%s/fuzz_iothub_outbox_%ld.log", dir, (long)getpid());
    }
    f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    if ((size == 0 || data[0] != 'T') && fwrite("TMAOUTB\x01", 1, 8, f) != 8) {
        fclose(f);
        return 0;
    }
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    if (iothub_file_storage_open(&fs, path, false) != TMA_OK) {
        unlink(path);
        remove_leftovers(path);
        return 0;
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
        if (ob.next_seq < UINT32_MAX &&
            iothub_outbox_push(&ob, "t", (const uint8_t *)"x", 1, &seq) == TMA_OK && n > 0 && seq <= last) {
            __builtin_trap();
        }
    }
    iothub_file_storage_close(&fs);
    unlink(path);
    remove_leftovers(path);
    return 0;
}
