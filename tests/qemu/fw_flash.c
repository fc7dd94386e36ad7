/*
 * The MCU flash log (src/iothub/storage_flash.c) on the Cortex-M4, on a
 * RAM-backed NOR flash (ram_nor.c): 4 sectors of 1 KB, 8-byte program unit
 * (STM32L4-like double words with ECC), which counts every broken flash rule. The firmware prints every record it put, listed, got and
 * deleted; tests/qemu/check_run.py replays that against a model on the host.
 * Lines: "flash.put SEQ HEX", "flash.del SEQ", "flash.list LABEL S1,S2,..",
 * "flash.get SEQ HEX", "flash.get_status SEQ STATUS", "flash.full SEQ",
 * "flash.stats ...".
 */
#include <string.h>

#include "board.h"
#include "fw.h"
#include "iothub/storage_flash.h"
#include "ram_nor.h"

#define SECTOR 1024u
#define SECTORS 4u
#define UNIT 8u

static uint8_t nor[SECTORS * SECTOR];
static uint8_t programmed[SECTORS * SECTOR / UNIT]; /* unit written since its erase */
static struct ram_nor rn;
static struct iothub_flash flash;
static struct iothub_flash_storage fs;
static struct iothub_storage st;
static uint8_t rec[200], buf[256];

static void put_line(const char *what, uint32_t seq)
{
    con_str("flash.");
    con_str(what);
    con_str(" ");
    con_u32(seq);
}

/* the record for seq: a length and bytes that depend on seq */
static size_t make_record(uint32_t seq, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        rec[i] = (uint8_t)(seq * 31u + i * 7u + 1u);
    }
    return len;
}

static void put(uint32_t seq, size_t len)
{
    struct tma_span part;
    part.ptr = rec;
    part.len = make_record(seq, len);
    STEP("put", iothub_flash_storage_put(&fs, seq, &part, 1));
    put_line("put", seq);
    con_str(" ");
    con_hex(rec, len);
    con_str("\n");
}

static void del(uint32_t seq)
{
    STEP("del", iothub_flash_storage_del(&fs, seq));
    put_line("del", seq);
    con_str("\n");
}

static void put_dropping_oldest(uint32_t seq, size_t len)
{
    struct tma_span part;
    uint32_t oldest;
    tma_status r;
    part.ptr = rec;
    part.len = make_record(seq, len);
    for (;;) {
        r = iothub_flash_storage_put(&fs, seq, &part, 1);
        if (r != TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL)) {
            break;
        }
        put_line("full", seq);
        con_str("\n");
        fw_step_done("next", iothub_flash_storage_next(&fs, 0, &oldest), 0);
        del(oldest);
    }
    fw_step_done("put", r, 0);
    put_line("put", seq);
    con_str(" ");
    con_hex(rec, len);
    con_str("\n");
}

/* list every record (next() from 0) and get each */
static void list_and_get(const char *label)
{
    uint32_t seq = 0, s;
    size_t n;
    int first = 1;
    con_str("flash.list ");
    con_str(label);
    con_str(" ");
    while (iothub_flash_storage_next(&fs, seq, &s) == TMA_OK) {
        if (!first) {
            con_str(",");
        }
        con_u32(s);
        first = 0;
        seq = s + 1u;
    }
    con_str("\n");
    seq = 0;
    while (iothub_flash_storage_next(&fs, seq, &s) == TMA_OK) {
        STEP("get", iothub_flash_storage_get(&fs, s, buf, sizeof buf, &n));
        put_line("get", s);
        con_str(" ");
        con_hex(buf, n);
        con_str("\n");
        seq = s + 1u;
    }
}

static void reopen(const char *label)
{
    memset(&fs, 0xA5, sizeof fs); /* a reboot: nothing survives but the flash */
    STEP("open", iothub_flash_storage_open(&fs, &flash, &st));
    con_str("flash.reopen ");
    con_str(label);
    con_str(" seq_end ");
    con_u32(iothub_flash_storage_seq_end(&fs));
    con_str("\n");
}

int fw_flash_run(void)
{
    uint32_t seq, s;
    size_t n;
    tma_status r;

    ram_nor_init(&rn, nor, programmed, SECTOR, SECTORS, UNIT, &flash); /* a blank part */
    reopen("blank");
    con_str("flash.max_record ");
    con_u32((uint32_t)iothub_flash_storage_max_record(&fs));
    con_str("\n");

    for (seq = 1; seq <= 6; seq++) {
        put(seq, 20u * seq + 3u);
    }
    list_and_get("A");
    del(2);
    del(5);
    r = iothub_flash_storage_get(&fs, 2, buf, sizeof buf, &n);
    put_line("get_status", 2);
    con_str(" ");
    con_str(tma_status_str(r));
    con_str("\n");
    list_and_get("B");
    reopen("after_del");
    list_and_get("C");

    /* fill until the log is full, then free the oldest record and put again:
     * the log reclaims a sector (copies the live records, erases the old) */
    for (seq = 7; seq < 200; seq++) {
        struct tma_span part;
        part.ptr = rec;
        part.len = make_record(seq, 150);
        r = iothub_flash_storage_put(&fs, seq, &part, 1);
        if (r == TMA_ERR(TMA_LAYER_STORE, TMA_C_FULL)) {
            put_line("full", seq);
            con_str("\n");
            break;
        }
        fw_step_done("put", r, 0);
        put_line("put", seq);
        con_str(" ");
        con_hex(rec, part.len);
        con_str("\n");
    }
    /* as the outbox does: drop the oldest record until the put fits */
    for (s = seq; s < seq + 3u; s++) {
        put_dropping_oldest(s, 150);
    }
    list_and_get("D");
    reopen("after_reclaim");
    list_and_get("E");

    con_str("flash.stats erases ");
    con_u32(rn.erases);
    con_str(" programs ");
    con_u32(rn.programs);
    con_str(" violations ");
    con_u32(rn.violations);
    con_str("\nDONE\n");
    return 0;
}
