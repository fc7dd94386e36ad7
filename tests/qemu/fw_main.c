/*
 * Firmware for QEMU's mps2-an386 (Cortex-M4): libtrustm and the unmodified
 * bare-metal port template against trustm-sim, whose socket QEMU connects to
 * UART0. It judges nothing itself beyond "the call returned TMA_OK": it
 * prints what it got (hex), and the host script checks that with openssl and
 * the simulator's statistics (tests/qemu/qemu_m4.sh).
 *
 * Command line (semihosting): fw MODE ARG
 *   MODE all     the plain run, then the same over the shielded connection;
 *                ARG is the file holding the 64-byte binding secret
 *   MODE shield  only the shielded run (a wrong secret must fail cleanly)
 *   MODE flash   the MCU flash log on a RAM-backed flash (fw_flash.c), no
 *                chip; ARG is ignored
 * Output lines: "<phase>.<name>=<hex>" values, "stack <phase> <op> <bytes>"
 * high-water marks, "ok <phase> <op>" per step, "ERROR <phase> <op>:
 * <status>" and exit code 2 on failure.
 */
#include <string.h>

#include "board.h"
#include "fw.h"
#include "soft_crypto.h"
#include "trustm/cmd.h"
#include "trustm/trustm.h"

extern volatile uint32_t g_ms_ticks;

extern const struct trustm_port trustm_port_baremetal;

static struct trustm chip;
static uint8_t cert[1728];
static uint8_t rnd[32];
static uint8_t msg[64];
static uint8_t digest[32];
static uint8_t sig[80];
static uint8_t rs[64];
static uint8_t kbuf[80];
static uint8_t handle[8];
static uint8_t pbs[64];
static char cmdline[256];
const char *fw_phase = "plain";

void fw_step_done(const char *name, tma_status st, uint32_t depth)
{
    if (st != TMA_OK) {
        con_str("ERROR ");
        con_str(fw_phase);
        con_str(" ");
        con_str(name);
        con_str(": ");
        con_str(tma_status_str(st));
        con_str("\n");
        semi_exit(2);
    }
    if (depth) {
        con_str("stack ");
        con_str(fw_phase);
        con_str(" ");
        con_str(name);
        con_str(" ");
        con_u32(depth);
        con_str("\n");
    }
    con_str("ok ");
    con_str(fw_phase);
    con_str(" ");
    con_str(name);
    con_str("\n");
}

void fw_out(const char *name, const uint8_t *p, size_t n)
{
    con_str(fw_phase);
    con_str(".");
    con_str(name);
    con_str("=");
    con_hex(p, n);
    con_str("\n");
}
/* CloseApplication with hibernate is refused while the Security Event
 * Counter (0xE0C5) is not 0 (spec: "command out of sequence"), and every
 * private-key operation beyond the credit raises it. Firmware that
 * hibernates after signing must wait until the counter has decayed (one step
 * per t_max, 5 s by default): read it, sleep a second, again. The sleep is
 * the MCU's (WFI until SysTick); the board glue reports it to the simulator's
 * virtual clock before the next bus request. */
static tma_status wait_sec_zero(uint8_t prot)
{
    uint8_t sec = 0xFF;
    size_t n;
    uint32_t t0 = g_ms_ticks, w;
    tma_status st;
    for (;;) {
        st = trustm_read_data(&chip, prot, 0xE0C5, 0, &sec, 1, &n);
        if (st != TMA_OK || sec == 0 || (uint32_t)(g_ms_ticks - t0) > 120000u) {
            break;
        }
        w = g_ms_ticks;
        while ((uint32_t)(g_ms_ticks - w) < 1000u) {
            __asm volatile("wfi");
        }
    }
    con_str(fw_phase);
    con_str(".sec_wait_ms=");
    con_u32(g_ms_ticks - t0);
    con_str("\n");
    return st != TMA_OK ? st : sec == 0 ? TMA_OK : TMA_ERR(TMA_LAYER_GENERIC, TMA_C_TIMEOUT);
}

static void run(uint8_t prot)
{
    size_t n;
    struct trustm_keypair kp;

    STEP("init", trustm_init(&chip, &trustm_port_baremetal, 0));
    if (prot) {
        STEP("set_secret", trustm_shield_set_secret(&chip, soft_crypto_ops(), pbs, sizeof pbs));
    }
    STEP("open", trustm_open(&chip));
    STEP("open_app", trustm_open_app(&chip, prot, 0));

    STEP("read_cert", trustm_read_data(&chip, prot, 0xE0E0, 0, cert, sizeof cert, &n));
    fw_out("cert_obj", cert, n);

    STEP("random", trustm_get_random(&chip, prot, TRUSTM_RNG_TRNG, rnd, sizeof rnd));
    fw_out("random", rnd, sizeof rnd);

    /* the message: the random and a label, so the two phases sign different digests */
    memcpy(msg, rnd, sizeof rnd);
    memcpy(msg + sizeof rnd, "trustm-azure qemu cortex-m4 test", 32);
    fw_out("msg", msg, sizeof msg);
    STEP("sha256", trustm_sha256(&chip, prot, msg, sizeof msg, digest));
    fw_out("digest", digest, sizeof digest);

    STEP("sign_e0f0_der", trustm_sign(&chip, prot, TRUSTM_SIG_ECDSA, 0xE0F0, digest,
                                      sizeof digest, sig, sizeof sig, &n));
    fw_out("sig_e0f0_der", sig, n);
    STEP("sign_e0f0_rs", trustm_ecdsa_sign_rs(&chip, prot, 0xE0F0, digest, sizeof digest, 32, rs));
    fw_out("sig_e0f0_rs", rs, sizeof rs);

    STEP("genkey_e0f1", trustm_gen_keypair(&chip, prot, TRUSTM_ALG_P256, 0xE0F1, TRUSTM_KU_SIGN,
                                           kbuf, sizeof kbuf, &kp));
    fw_out("pub_e0f1", kp.pub.ptr, kp.pub.len);
    STEP("sign_e0f1", trustm_sign(&chip, prot, TRUSTM_SIG_ECDSA, 0xE0F1, digest, sizeof digest,
                                  sig, sizeof sig, &n));
    fw_out("sig_e0f1", sig, n);

    /* hibernate: close saving the context, reset the chip, restore */
    STEP("wait_sec_zero", wait_sec_zero(prot));
    STEP("close_app_hibernate", trustm_close_app(&chip, prot, handle));
    if (prot) {
        static struct trustm_shield_saved saved;
        STEP("shield_save", trustm_shield_save(&chip, &saved));
        STEP("reset_warm", trustm_reset(&chip, TRUSTM_RESET_WARM));
        STEP("shield_restore", trustm_shield_restore(&chip, &saved));
        memset(&saved, 0, sizeof saved);
    } else {
        STEP("reset_warm", trustm_reset(&chip, TRUSTM_RESET_WARM));
    }
    STEP("open_app_restore", trustm_open_app(&chip, prot, handle));
    /* the restored session signs again with the key generated before */
    STEP("sign_e0f1_after_restore", trustm_sign(&chip, prot, TRUSTM_SIG_ECDSA, 0xE0F1, digest,
                                                sizeof digest, sig, sizeof sig, &n));
    fw_out("sig_e0f1_restored", sig, n);
    STEP("close_app", trustm_close_app(&chip, prot, 0));
    STEP("close", trustm_close(&chip));
    trustm_deinit(&chip);
}

int main(void)
{
    const char *mode, *path;
    char *sp;
    int r;

    board_init();
    con_str("trustm qemu-m4 firmware\n");
    if (semi_cmdline(cmdline, sizeof cmdline) != 0) {
        con_str("ERROR no semihosting command line\n");
        return 2;
    }
    /* "fw MODE ARG" */
    mode = strchr(cmdline, ' ');
    sp = mode ? strchr(mode + 1, ' ') : 0;
    if (!sp) {
        con_str("ERROR usage: fw all|shield|flash|clock ARG\n");
        return 2;
    }
    *sp = 0;
    mode++;
    path = sp + 1;
    if (strcmp(mode, "flash") == 0) {
        fw_phase = "flash";
        return fw_flash_run();
    }
    if (strcmp(mode, "clock") == 0) {
        /* board_now_us() must never step back: report_gap() and the UART
         * pacing subtract its values (a SysTick wrap read before its
         * interrupt ran gave a time 1 ms early) */
        uint32_t i, back = 0, worst = 0, last = board_now_us(), now;
        for (i = 0; i < 1000000u; i++) {
            now = board_now_us();
            if ((int32_t)(now - last) < 0) {
                back++;
                worst = last - now > worst ? last - now : worst;
            }
            last = now;
        }
        con_kv_u32("clock_reads", i);
        con_kv_u32("clock_steps_back", back);
        con_kv_u32("clock_worst_step_back_us", worst);
        con_kv_u32("clock_end_us", last);
        con_flush();
        return 0;
    }
    r = semi_read_file(path, pbs, sizeof pbs);
    if (r != (int)sizeof pbs) {
        con_str("ERROR cannot read a 64-byte binding secret from ");
        con_str(path);
        con_str("\n");
        return 2;
    }
    if (strcmp(mode, "all") == 0) {
        fw_phase = "plain";
        run(TRUSTM_PROTECT_NONE);
    } else if (strcmp(mode, "shield") != 0) {
        con_str("ERROR unknown mode\n");
        return 2;
    }
    fw_phase = "shield";
    run(TRUSTM_PROTECT_BOTH);
    memset(pbs, 0, sizeof pbs);
    con_str("dwt_cyccnt_counts ");
    con_u32((uint32_t)board_dwt_counts);
    con_str("\nsim_requests ");
    con_u32(board_sim_requests);
    con_str("\nDONE\n");
    return 0;
}
