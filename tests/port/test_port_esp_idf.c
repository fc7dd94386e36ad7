/* The ESP-IDF v5 port templates (port/esp-idf/) compiled with the core's
 * warnings against declarations of the ESP-IDF API (esp_idf_api/) and run
 * against a test-side ESP-IDF (esp_idf_fake.c):
 *  - libtrustm through trustm_port_esp_idf.c on the in-process simulator:
 *    the delay contract at the build's FreeRTOS tick (port_esp_idf: the
 *    default 100 Hz; port_esp_idf_1000hz), open, a chained read of
 *    the certificate object and of a full 1,728-byte object, random, a
 *    signature checked against the certificate's key, close, warm and cold
 *    reset through the GPIO lines, the mutex taken and given in pairs;
 *  - the outbox flash log through storage_flash_esp_idf.c on an in-RAM NOR
 *    partition, plain and with flash encryption: put/del/reopen churn, a
 *    power cut at every flash operation of a workload, the outbox on top,
 *    and (encrypted) that reading erased blocks raw is what lets a reopened
 *    log find its free space. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp_idf_fake.h"
#include "flash_workload.h"
#include "esp_rom_sys.h"
#include "iothub/outbox.h"
#include "iothub/storage_flash.h"
#include "mbedtls/pk.h"
#include "mbedtls/x509_crt.h"
#include "trustm/cmd.h"
#include "trustm/trustm.h"
#include "trustm_sim/sim.h"

#include "storage_flash_esp_idf.h"
#include "trustm_port_esp_idf.h"

/* ------------------------------------------------------------------ */
/* libtrustm through the ESP-IDF port                                  */
/* ------------------------------------------------------------------ */

struct rig {
    struct trustm_sim *sim;
    struct esp_trustm e;
    struct trustm_port port;
    struct trustm t;
};

static void rig_up(struct rig *r, gpio_num_t rst, gpio_num_t vcc)
{
    struct trustm_sim_config cfg;
    memset(r, 0, sizeof *r);
    trustm_sim_config_default(&cfg);
    cfg.seed = 14;
    assert_int_equal(trustm_sim_create(&cfg, &r->sim), TMA_OK);
    esp_fake_bind_sim(r->sim);
    esp_fake_gpio_wire(rst, vcc);
    r->e.dev = esp_fake_i2c_device(TRUSTM_SIM_DEFAULT_ADDR);
    r->e.rst = rst;
    r->e.vcc = vcc;
    r->e.mutex = xSemaphoreCreateMutex();
    assert_non_null(r->e.mutex);
    trustm_port_esp_idf(&r->e, &r->port);
    assert_int_equal(trustm_init(&r->t, &r->port, NULL), TMA_OK);
}

static void rig_down(struct rig *r)
{
    trustm_deinit(&r->t);
    esp_fake_bind_sim(NULL);
    trustm_sim_destroy(r->sim);
}

/* delay_us() blocks for at least what it is asked, from any phase of the
 * FreeRTOS tick (pdMS_TO_TICKS rounds down: 2 ms is 0 ticks at 100 Hz,
 * and vTaskDelay(1) may end at once), and not much longer. */
static void test_esp_port_delay_at_least(void **state)
{
    static const uint32_t us[] = {1, 50, 200, 999, 1000, 1999, 2000, 2500, 5000, 9999,
                                  10000, 15000, 19999, 20000, 25000, 65000, 310000};
    static const uint32_t phase[] = {0, 1, 4999, 9999};
    const int64_t tick = 1000000 / configTICK_RATE_HZ;
    struct rig r;
    size_t i, k;
    (void)state;
    rig_up(&r, GPIO_NUM_NC, GPIO_NUM_NC);
    for (k = 0; k < sizeof phase / sizeof phase[0]; k++) {
        for (i = 0; i < sizeof us / sizeof us[0]; i++) {
            int64_t t0, dt;
            esp_rom_delay_us((uint32_t)(tick - esp_fake_now_us() % tick) + phase[k]); /* to the phase */
            t0 = esp_fake_now_us();
            r.port.delay_us(r.port.ctx, us[i]);
            dt = esp_fake_now_us() - t0;
            if (dt < (int64_t)us[i] || dt > (int64_t)us[i] + tick) {
                fail_msg("delay_us(%u) at tick phase %u us took %lld us (tick %lld us)", (unsigned)us[i],
                         (unsigned)phase[k], (long long)dt, (long long)tick);
            }
        }
    }
    /* long waits yield to other tasks (vTaskDelay), not spin */
    assert_true(esp_fake.task_delays > 0);
    rig_down(&r);
}

static size_t cert_der(const uint8_t *obj, size_t n, const uint8_t **der)
{
    /* 0xE0E0 holds the certificate in a TLS-identity wrapper (C0 + lengths) */
    if (n > 9 && obj[0] == 0xC0) {
        *der = obj + 9;
        return n - 9;
    }
    *der = obj;
    return n;
}

static void test_esp_port_chip(void **state)
{
    static uint8_t cert[1728], ref[1728], big[1728], back[1728];
    uint8_t rnd[32], rnd2[32], digest[32], sig[80];
    size_t n = 0, nref = 0, nb = 0, ns = 0, i, der_len;
    const uint8_t *der;
    mbedtls_x509_crt crt;
    struct rig r;
    (void)state;
    rig_up(&r, GPIO_NUM_4, GPIO_NUM_5);
    assert_non_null(r.port.reset);
    assert_non_null(r.port.lock);

    /* the certificate object as the simulator's own port reads it */
    {
        struct trustm_port sp;
        struct trustm ts;
        trustm_sim_port(r.sim, &sp);
        assert_int_equal(trustm_init(&ts, &sp, NULL), TMA_OK);
        assert_int_equal(trustm_open(&ts), TMA_OK);
        assert_int_equal(trustm_open_app(&ts, 0, NULL), TMA_OK);
        assert_int_equal(trustm_read_data(&ts, 0, 0xE0E0, 0, ref, sizeof ref, &nref), TMA_OK);
        trustm_deinit(&ts);
    }
    esp_fake_bind_sim(r.sim); /* counters from here */

    assert_int_equal(trustm_open(&r.t), TMA_OK);
    assert_int_equal(esp_fake.mutex_take, 1);
    assert_int_equal(trustm_open_app(&r.t, 0, NULL), TMA_OK);
    assert_int_equal(trustm_read_data(&r.t, 0, 0xE0E0, 0, cert, sizeof cert, &n), TMA_OK);
    assert_true(n > 300); /* more than one frame: chained */
    assert_int_equal(n, nref);
    assert_memory_equal(cert, ref, n);

    /* a full 1,728-byte object (E0E1 is writable in the simulator's
     * creation state): written and read back, several frames each way */
    for (i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t)(i * 7u + (i >> 8));
    }
    assert_int_equal(trustm_write_data(&r.t, 0, 0xE0E1, TRUSTM_WRITE_ERASE, 0, big, sizeof big), TMA_OK);
    assert_int_equal(trustm_read_data(&r.t, 0, 0xE0E1, 0, back, sizeof back, &nb), TMA_OK);
    assert_int_equal(nb, sizeof big);
    assert_memory_equal(back, big, sizeof big);

    assert_int_equal(trustm_get_random(&r.t, 0, TRUSTM_RNG_TRNG, rnd, sizeof rnd), TMA_OK);
    assert_int_equal(trustm_get_random(&r.t, 0, TRUSTM_RNG_TRNG, rnd2, sizeof rnd2), TMA_OK);
    assert_memory_not_equal(rnd, rnd2, sizeof rnd);

    for (i = 0; i < sizeof digest; i++) {
        digest[i] = (uint8_t)(0xA5u ^ i);
    }
    assert_int_equal(trustm_sign(&r.t, 0, TRUSTM_SIG_ECDSA, 0xE0F0, digest, sizeof digest, sig, sizeof sig, &ns),
                     TMA_OK);
    der_len = cert_der(cert, n, &der);
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_der(&crt, der, der_len), 0);
    assert_int_equal(mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, digest, sizeof digest, sig, ns), 0);
    digest[0] ^= 1u;
    assert_int_not_equal(mbedtls_pk_verify(&crt.pk, MBEDTLS_MD_SHA256, digest, sizeof digest, sig, ns), 0);
    mbedtls_x509_crt_free(&crt);

    /* warm reset: RST low long enough, then the chip answers again */
    assert_int_equal(trustm_reset(&r.t, TRUSTM_RESET_WARM), TMA_OK);
    assert_int_equal(esp_fake.warm_resets, 1);
    assert_int_equal(esp_fake.short_rst, 0);
    assert_int_equal(trustm_open_app(&r.t, 0, NULL), TMA_OK);
    assert_int_equal(trustm_get_random(&r.t, 0, TRUSTM_RNG_TRNG, rnd, sizeof rnd), TMA_OK);
    /* cold reset: VCC off long enough */
    assert_int_equal(trustm_reset(&r.t, TRUSTM_RESET_COLD), TMA_OK);
    assert_int_equal(esp_fake.cold_resets, 1);
    assert_int_equal(esp_fake.short_vcc, 0);
    assert_int_equal(trustm_open_app(&r.t, 0, NULL), TMA_OK);
    assert_int_equal(trustm_read_data(&r.t, 0, 0xE0E0, 0, cert, sizeof cert, &n), TMA_OK);
    assert_int_equal(n, nref);
    assert_memory_equal(cert, ref, n);

    /* the chip NACKing its address now and then (busy): the port reports
     * ESP-IDF's NACK as TMA_C_NACK, the library retries */
    {
        static const char faults[] = "{\"seed\":5,\"busy_nack\":0.3}";
        unsigned nacks = esp_fake.i2c_nack;
        assert_int_equal(trustm_sim_faults_json(r.sim, faults, sizeof faults - 1), TMA_OK);
        assert_int_equal(trustm_read_data(&r.t, 0, 0xE0E0, 0, cert, sizeof cert, &n), TMA_OK);
        assert_int_equal(n, nref);
        assert_memory_equal(cert, ref, n);
        assert_int_equal(trustm_get_random(&r.t, 0, TRUSTM_RNG_TRNG, rnd, sizeof rnd), TMA_OK);
        assert_true(esp_fake.i2c_nack > nacks + 5u);
        assert_int_equal(trustm_sim_faults_json(r.sim, "{}", 2), TMA_OK);
    }

    assert_int_equal(trustm_close(&r.t), TMA_OK);
    assert_int_equal(esp_fake.mutex_take, esp_fake.mutex_give);
    assert_int_equal(esp_fake.mutex_errors, 0);
    assert_int_equal(esp_fake.i2c_bad_arg, 0);
    assert_true(esp_fake.i2c_tx > 20 && esp_fake.i2c_rx > 20);
    rig_down(&r);
}

/* Wiring decides the reset hook: none wired, none; RST only, warm only. */
static void test_esp_port_reset_wiring(void **state)
{
    struct rig r;
    (void)state;
    rig_up(&r, GPIO_NUM_NC, GPIO_NUM_NC);
    assert_null(r.port.reset);
    assert_int_equal(trustm_reset(&r.t, TRUSTM_RESET_WARM), TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED));
    rig_down(&r);
    rig_up(&r, GPIO_NUM_4, GPIO_NUM_NC);
    assert_int_equal(trustm_open(&r.t), TMA_OK);
    assert_int_equal(trustm_reset(&r.t, TRUSTM_RESET_COLD), TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED));
    assert_int_equal(trustm_reset(&r.t, TRUSTM_RESET_WARM), TMA_OK);
    assert_int_equal(esp_fake.warm_resets, 1);
    assert_int_equal(trustm_open_app(&r.t, 0, NULL), TMA_OK);
    assert_int_equal(trustm_close(&r.t), TMA_OK);
    rig_down(&r);
}

/* ------------------------------------------------------------------ */
/* The outbox flash log through the ESP-IDF partition template         */
/* ------------------------------------------------------------------ */

struct log {
    struct esp_outbox_flash e;
    struct iothub_flash_storage fs;
    struct iothub_storage st;
};

static tma_status log_open(struct log *l)
{
    memset(l, 0, sizeof *l);
    return outbox_flash_esp_idf_open(&l->e, "outbox", &l->fs, &l->st);
}

static tma_status put(struct log *l, uint32_t seq)
{
    return wl_put(&l->st, seq);
}

static void check_log(struct log *l, const struct model *m, const char *when)
{
    wl_check(&l->st, m, when);
}

static void flash_churn(bool encrypted)
{
    struct log l;
    struct model m;
    uint32_t seq, oldest = 1;
    char when[64];
    memset(&m, 0, sizeof m);
    esp_fake_flash_create("outbox", 8, encrypted, 0xC0FFEEu);
    assert_int_equal(log_open(&l), TMA_OK);
    for (seq = 1; seq <= 600; seq++) {
        assert_int_equal(put(&l, seq), TMA_OK);
        m.st[seq] = 2;
        while (seq - oldest >= 12u) { /* at most 12 live: the log wraps several times */
            assert_int_equal(l.st.del(l.st.ctx, oldest), TMA_OK);
            m.st[oldest++] = 3;
        }
        if (seq % 50u == 0) {
            snprintf(when, sizeof when, "%s reopen after seq %u", encrypted ? "encrypted" : "plain", (unsigned)seq);
            assert_int_equal(log_open(&l), TMA_OK);
            check_log(&l, &m, when);
            assert_int_equal(l.st.seq_end(l.st.ctx), seq + 1u);
        }
    }
    if (esp_fake_flash.violations) {
        fail_msg("flash rule broken %u times: %s", esp_fake_flash.violations, esp_fake_flash.why);
    }
    assert_true(esp_fake_flash.erases > 16u); /* wrapped around the 8 sectors more than twice */
    assert_true(esp_fake_flash.writes > 600u);
    if (encrypted) {
        assert_true(esp_fake_flash.raw_reads > 0);
    }
    esp_fake_flash_destroy();
}

static void test_esp_flash_churn_plain(void **state)
{
    (void)state;
    flash_churn(false);
}

static void test_esp_flash_churn_encrypted(void **state)
{
    (void)state;
    flash_churn(true);
}

static uint64_t workload(struct log *l, struct model *m, uint32_t *next_seq)
{
    wl_run(&l->st, m, next_seq);
    return esp_fake_flash.ops;
}

static void flash_power_cuts(bool encrypted)
{
    struct log l;
    struct model m;
    uint32_t next, seq;
    uint64_t total, k;
    char when[80];
    memset(&m, 0, sizeof m);
    esp_fake_flash_create("outbox", 3, encrypted, 0x5EED0000u | (encrypted ? 1u : 0u));
    assert_int_equal(log_open(&l), TMA_OK);
    total = workload(&l, &m, &next);
    assert_int_equal(esp_fake_flash.violations, 0);
    assert_true(esp_fake_flash.erases >= 3u);
    for (k = 0; k < total; k++) {
        memset(&m, 0, sizeof m);
        esp_fake_flash_create("outbox", 3, encrypted, 0x5EED0000u + (uint32_t)k);
        esp_fake_flash.cut_at = k;
        assert_int_equal(log_open(&l), TMA_OK);
        (void)workload(&l, &m, &next);
        assert_true(esp_fake_flash.dead);
        esp_fake_flash_power_on();
        snprintf(when, sizeof when, "%s, power cut at flash op %llu", encrypted ? "encrypted" : "plain",
                 (unsigned long long)k);
        if (log_open(&l) != TMA_OK) {
            fail_msg("%s: the log does not reopen", when);
        }
        check_log(&l, &m, when);
        /* and it takes new records after the cut */
        seq = l.st.seq_end(l.st.ctx);
        if (seq < next) {
            seq = next;
        }
        assert_int_equal(put(&l, seq), TMA_OK);
        m.st[seq] = 2;
        assert_int_equal(log_open(&l), TMA_OK);
        check_log(&l, &m, when);
        if (esp_fake_flash.violations) {
            fail_msg("%s: flash rule broken %u times: %s", when, esp_fake_flash.violations, esp_fake_flash.why);
        }
    }
    printf("%s: power cut at each of %llu flash operations, recovered every time\n", encrypted ? "encrypted" : "plain",
           (unsigned long long)total);
    esp_fake_flash_destroy();
}

static void test_esp_flash_power_cuts_plain(void **state)
{
    (void)state;
    flash_power_cuts(false);
}

static void test_esp_flash_power_cuts_encrypted(void **state)
{
    (void)state;
    flash_power_cuts(true);
}

/* The port's read() at any alignment and length (the log's contract; the
 * log itself reads at unit-aligned offsets): written blocks come back as
 * written, erased ones as 0xFF, also a read spanning both. Called through
 * the flash functions the log was opened with. */
static void flash_read_alignment(bool encrypted)
{
    uint8_t data[64], got[48], want[48];
    struct log l;
    uint32_t addr, len, i;
    for (i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(0x30u + i * 5u);
    }
    esp_fake_flash_create("outbox", 2, encrypted, 0x1234u);
    assert_int_equal(log_open(&l), TMA_OK);
    /* sector 1 is not used by an empty log: 4 blocks written, the rest erased */
    assert_int_equal(esp_partition_write(l.e.part, ESP_FAKE_SECTOR, data, sizeof data), ESP_OK);
    for (addr = ESP_FAKE_SECTOR; addr < ESP_FAKE_SECTOR + 100u; addr++) {
        for (len = 1; len <= sizeof got; len++) {
            for (i = 0; i < len; i++) {
                uint32_t off = addr + i - ESP_FAKE_SECTOR;
                want[i] = off < sizeof data ? data[off] : 0xFFu;
            }
            memset(got, 0x5A, sizeof got);
            assert_int_equal(l.fs.fl.read(l.fs.fl.ctx, addr, got, len), TMA_OK);
            if (memcmp(got, want, len) != 0) {
                fail_msg("%s read at 0x%x, %u bytes: not what the flash holds", encrypted ? "encrypted" : "plain",
                         (unsigned)addr, (unsigned)len);
            }
        }
    }
    esp_fake_flash_destroy();
}

static void test_esp_flash_read_alignment(void **state)
{
    (void)state;
    flash_read_alignment(false);
    flash_read_alignment(true);
}

/* The outbox on the template, encrypted: messages survive a reboot. */
static void test_esp_flash_outbox(void **state)
{
    static const uint8_t payload[] = "{\"t\":21.5}";
    struct log l;
    struct iothub_outbox ob;
    uint32_t seq[5];
    int i;
    (void)state;
    esp_fake_flash_create("outbox", 8, true, 77u);
    assert_int_equal(log_open(&l), TMA_OK);
    assert_int_equal(iothub_outbox_init(&ob, &l.st, 200, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    for (i = 0; i < 5; i++) {
        assert_int_equal(iothub_outbox_push(&ob, "devices/d/messages/events/", payload, sizeof payload - 1, &seq[i]),
                         TMA_OK);
    }
    assert_int_equal(iothub_outbox_ack(&ob, seq[0]), TMA_OK);
    assert_int_equal(iothub_outbox_ack(&ob, seq[1]), TMA_OK);
    assert_int_equal(log_open(&l), TMA_OK);
    assert_int_equal(iothub_outbox_init(&ob, &l.st, 200, IOTHUB_OUTBOX_DROP_OLDEST), TMA_OK);
    assert_int_equal(iothub_outbox_count(&ob), 3);
    assert_int_equal(esp_fake_flash.violations, 0);
    /* no partition of that name */
    {
        struct esp_outbox_flash e;
        struct iothub_flash_storage fs;
        struct iothub_storage st;
        assert_int_equal(outbox_flash_esp_idf_open(&e, "nvs", &fs, &st), TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND));
    }
    esp_fake_flash_destroy();
}

/* Encrypted partition: the template reads a raw all-0xFF block as erased.
 * A port that reads only through esp_partition_read() (decrypting) sees
 * erased flash as garbage. Compare what each finds after a reopen. */
static const esp_partition_t *naive_part;

static tma_status naive_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    (void)ctx;
    return esp_partition_read(naive_part, addr, buf, len) == ESP_OK ? TMA_OK : TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
}

static tma_status naive_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    (void)ctx;
    return esp_partition_write(naive_part, addr, data, len) == ESP_OK ? TMA_OK : TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
}

static tma_status naive_erase(void *ctx, uint32_t sector)
{
    (void)ctx;
    return esp_partition_erase_range(naive_part, (size_t)sector * ESP_FAKE_SECTOR, ESP_FAKE_SECTOR) == ESP_OK
               ? TMA_OK
               : TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
}

static tma_status naive_open(struct log *l)
{
    struct iothub_flash fl;
    memset(l, 0, sizeof *l);
    naive_part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, "outbox");
    fl.ctx = NULL;
    fl.read = naive_read;
    fl.program = naive_program;
    fl.erase = naive_erase;
    fl.sector_size = ESP_FAKE_SECTOR;
    fl.sector_count = naive_part->size / ESP_FAKE_SECTOR;
    fl.program_unit = 16;
    return iothub_flash_storage_open(&l->fs, &fl, &l->st);
}

struct reopen_result {
    unsigned erases;     /* erases that one put after the reopen needed */
    unsigned violations; /* flash rules broken */
    tma_status put;
};

static struct reopen_result reopen_and_put(tma_status (*open)(struct log *))
{
    struct log l;
    struct reopen_result res;
    uint32_t seq;
    unsigned e0;
    esp_fake_flash_create("outbox", 4, true, 0xABCDu);
    assert_int_equal(open(&l), TMA_OK);
    for (seq = 1; seq <= 3; seq++) {
        assert_int_equal(put(&l, seq), TMA_OK);
    }
    assert_int_equal(open(&l), TMA_OK);
    e0 = esp_fake_flash.erases;
    res.put = put(&l, 4);
    res.erases = esp_fake_flash.erases - e0;
    res.violations = esp_fake_flash.violations;
    esp_fake_flash_destroy();
    return res;
}

static void test_esp_flash_encrypted_erased_rule(void **state)
{
    struct reopen_result t, n;
    (void)state;
    t = reopen_and_put(log_open);
    n = reopen_and_put(naive_open);
    printf("after a reopen, one put: template %u erase(s), decrypting read %u erase(s) and %u broken flash rule(s)\n",
           t.erases, n.erases, n.violations);
    /* the template appends after the records in the open sector */
    assert_int_equal(t.put, TMA_OK);
    assert_int_equal(t.erases, 0);
    assert_int_equal(t.violations, 0);
    /* reading through decryption, the free space after them is not found */
    assert_true(n.put != TMA_OK || n.erases > 0 || n.violations > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_esp_port_delay_at_least),
        cmocka_unit_test(test_esp_port_chip),
        cmocka_unit_test(test_esp_port_reset_wiring),
        cmocka_unit_test(test_esp_flash_churn_plain),
        cmocka_unit_test(test_esp_flash_churn_encrypted),
        cmocka_unit_test(test_esp_flash_power_cuts_plain),
        cmocka_unit_test(test_esp_flash_power_cuts_encrypted),
        cmocka_unit_test(test_esp_flash_read_alignment),
        cmocka_unit_test(test_esp_flash_outbox),
        cmocka_unit_test(test_esp_flash_encrypted_erased_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
