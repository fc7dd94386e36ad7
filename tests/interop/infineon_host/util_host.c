/* Drives trustm-sim through Infineon's optiga_util API, i.e. the library's
 * own command layer (optiga_cmd.c: APDU building, chunked reads and writes,
 * the F1C2 read after an error, the hibernate handle in the datastore) on
 * top of its comms stack. Modes: all | hibernate | restore (run hibernate
 * and restore as two processes, with $INTEROP_APPCTX_FILE and
 * $INTEROP_CTX_FILE set: ../common/pal_sim.c). Prints ok/FAIL lines; exit 1 on a
 * failure. No Infineon code in this file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optiga_util.h"
#include "pal_os_timer.h"

#include "driver.h"

#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
/* the 27-byte UID (E0C2) read under full protection; the first such read after an open
 * makes the handshake */
static void read_uid_protected(optiga_util_t *u, const char *step)
{
    uint8_t uid[64];
    uint16_t len = sizeof uid;
    optiga_lib_status_t s;
    OPTIGA_UTIL_SET_COMMS_PROTECTION_LEVEL(u, OPTIGA_COMMS_FULL_PROTECTION);
    s = RUN(optiga_util_read_data(u, 0xE0C2, 0, uid, &len));
    report(s == 0 && len == 27, step, "0x%04X, %u bytes", s, len);
}
#endif

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "all";
    static uint8_t buf[2000], img[1728];
    uint16_t len;
    optiga_lib_status_t s;
    optiga_util_t *u = optiga_util_create(0, cb, NULL);
    if (!u) {
        printf("FAIL optiga_util_create\n");
        return 1;
    }
    if (!strcmp(mode, "all") || !strcmp(mode, "hibernate")) {
        s = RUN(optiga_util_open_application(u, 0));
        report(s == 0, "optiga_util_open_application(0)", "0x%04X", s);
    }
    if (!strcmp(mode, "all")) {
        len = sizeof buf;
        s = RUN(optiga_util_read_data(u, 0xE0C2, 0, buf, &len));
        report(s == 0 && len == 27, "optiga_util_read_data E0C2", "0x%04X, %u bytes", s, len);
        len = 1728;
        s = RUN(optiga_util_read_data(u, 0xE0E0, 0, buf, &len));
        report(s == 0 && len == 515 && buf[0] == 0xC0, "optiga_util_read_data E0E0",
               "0x%04X, %u bytes", s, len);
        len = sizeof buf;
        s = RUN(optiga_util_read_metadata(u, 0xE0E0, buf, &len));
        report(s == 0 && len == 25 && buf[0] == 0x20, "optiga_util_read_metadata E0E0",
               "0x%04X, %u bytes", s, len);
        for (int i = 0; i < 1728; i++) {
            img[i] = (uint8_t)(i * 31 + 7);
        }
        s = RUN(optiga_util_write_data(u, 0xF1E0, OPTIGA_UTIL_ERASE_AND_WRITE, 0, img, 1500));
        report(s == 0, "optiga_util_write_data F1E0 1500 B", "0x%04X", s);
        len = 1500;
        s = RUN(optiga_util_read_data(u, 0xF1E0, 0, buf, &len));
        report(s == 0 && len == 1500 && !memcmp(buf, img, 1500), "optiga_util_read_data F1E0",
               "0x%04X, %u bytes%s", s, len,
               len == 1500 && !memcmp(buf, img, 1500) ? ", equal" : "");
        s = RUN(optiga_util_write_data(u, 0xE0E1, OPTIGA_UTIL_ERASE_AND_WRITE, 0, img, 1728));
        report(s == 0, "optiga_util_write_data E0E1 1728 B (split by the library)", "0x%04X", s);
        len = 1728;
        s = RUN(optiga_util_read_data(u, 0xE0E1, 0, buf, &len));
        report(s == 0 && len == 1728 && !memcmp(buf, img, 1728),
               "optiga_util_read_data E0E1 1728 B", "0x%04X, %u bytes", s, len);
        s = RUN(optiga_util_write_data(u, 0xE0E2, OPTIGA_UTIL_ERASE_AND_WRITE, 0, img, 1553));
        report(s == 0, "optiga_util_write_data E0E2 1553 B", "0x%04X", s);
        len = 1700;
        s = RUN(optiga_util_read_data(u, 0xE0E2, 0, buf, &len));
        report(s == 0 && len == 1553 && !memcmp(buf, img, 1553),
               "optiga_util_read_data E0E2, buffer 1700",
               "0x%04X, %u bytes (the 2nd chunk's 0x08 ends the read)", s, len);
        len = 100;
        s = RUN(optiga_util_read_data(u, 0xE0F0, 0, buf, &len));
        report(s == 0x8007, "optiga_util_read_data E0F0 (private key)", "0x%04X (expected 0x8007)",
               s);
        len = 100;
        s = RUN(optiga_util_read_data(u, 0xABCD, 0, buf, &len));
        report(s == 0x8001, "optiga_util_read_data unknown OID", "0x%04X (expected 0x8001)", s);
        s = RUN(optiga_util_update_count(u, 0xE120, 5));
        report(s == 0, "optiga_util_update_count E120 +5", "0x%04X", s);
        len = 8;
        s = RUN(optiga_util_read_data(u, 0xE120, 0, buf, &len));
        report(s == 0 && len == 8 && buf[3] == 5, "optiga_util_read_data E120", "0x%04X, value %u",
               s, (unsigned)(buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3]));
        {
            static const uint8_t m[] = {0x20, 0x03, 0xD1, 0x01, 0x00};
            s = RUN(optiga_util_write_metadata(u, 0xF1E1, m, sizeof m));
            report(s == 0, "optiga_util_write_metadata F1E1", "0x%04X", s);
        }
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
        read_uid_protected(u, "optiga_util_read_data E0C2, full protection");
        OPTIGA_UTIL_SET_COMMS_PROTECTION_LEVEL(u, OPTIGA_COMMS_RESPONSE_PROTECTION);
        len = sizeof buf;
        s = RUN(optiga_util_read_data(u, 0xE140, 0, buf, &len));
        report(s == 0 && len == 64, "optiga_util_read_data E140, response protection",
               "0x%04X, %u bytes", s, len);
#endif
        s = RUN(optiga_util_close_application(u, 0));
        report(s == 0, "optiga_util_close_application(0)", "0x%04X", s);
    }
    if (!strcmp(mode, "hibernate")) {
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
        read_uid_protected(u, "optiga_util_read_data E0C2, full protection (handshake)");
#endif
        /* the library's hibernate example: SEC must be 0 */
        int polls = 0;
        do {
            len = 1;
            s = RUN(optiga_util_read_data(u, 0xE0C5, 0, buf, &len));
            if (s || buf[0] == 0) {
                break;
            }
            pal_os_timer_delay_in_milliseconds(1000);
        } while (++polls < 30);
        report(s == 0 && buf[0] == 0, "wait for SEC = 0 (E0C5 once a second)", "%d poll(s)",
               polls + 1);
        s = RUN(optiga_util_close_application(u, 1));
        report(s == 0, "optiga_util_close_application(1) (hibernate)", "0x%04X", s);
    }
    if (!strcmp(mode, "restore")) {
        s = RUN(optiga_util_open_application(u, 1));
        report(s == 0, "optiga_util_open_application(1) (restore)", "0x%04X", s);
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
        read_uid_protected(u,
                           "optiga_util_read_data E0C2, full protection on the restored session");
#endif
        s = RUN(optiga_util_close_application(u, 0));
        report(s == 0, "optiga_util_close_application(0)", "0x%04X", s);
    }
    optiga_util_destroy(u);
    printf("%s: %d failure(s)\n", mode, failures);
    return failures ? 1 : 0;
}
