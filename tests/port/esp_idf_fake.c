/* Test-side ESP-IDF v5 for the port_esp_idf test: see esp_idf_fake.h. */
#include "esp_idf_fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "freertos/task.h"
#include "trustm_sim/sim.h"

struct esp_fake_counts esp_fake;
struct esp_fake_flash esp_fake_flash;

static struct trustm_sim *g_sim;
static uint64_t g_local_us;

struct i2c_master_dev_t {
    uint16_t addr;
};
static struct i2c_master_dev_t g_dev;

static struct {
    gpio_num_t pin[2]; /* 0: RST, 1: VCC */
    uint32_t level[2];
    uint64_t low_since[2];
} g_gpio = {{GPIO_NUM_NC, GPIO_NUM_NC}, {1, 1}, {0, 0}};

struct QueueDefinition {
    int held;
};
static struct QueueDefinition g_mutex;

static esp_partition_t g_part;
static bool g_part_ok;

/* ---- clock ---- */

static uint64_t now_us(void)
{
    return g_sim ? trustm_sim_now_us(g_sim) : g_local_us;
}

static void advance_us(uint64_t us)
{
    if (g_sim) {
        trustm_sim_sleep_us(g_sim, us);
    } else {
        g_local_us += us;
    }
}

int64_t esp_fake_now_us(void)
{
    return (int64_t)now_us();
}

int64_t esp_timer_get_time(void)
{
    return (int64_t)now_us();
}

void esp_rom_delay_us(uint32_t us)
{
    esp_fake.rom_delays++;
    advance_us(us);
}

void vTaskDelay(const TickType_t xTicksToDelay)
{
    const uint64_t tick = 1000000u / configTICK_RATE_HZ;
    uint64_t now = now_us(), wake;
    esp_fake.task_delays++;
    if (xTicksToDelay == 0) {
        esp_fake.zero_tick_delays++; /* a yield: no time passes */
        return;
    }
    wake = (now / tick + xTicksToDelay) * tick; /* the n-th tick interrupt from now */
    advance_us(wake - now);
}

void esp_fake_bind_sim(struct trustm_sim *sim)
{
    g_sim = sim;
    memset(&esp_fake, 0, sizeof esp_fake);
}

/* ---- I2C ---- */

i2c_master_dev_handle_t esp_fake_i2c_device(uint16_t addr)
{
    g_dev.addr = addr;
    return &g_dev;
}

static int chip_off(void)
{
    return (g_gpio.pin[0] != GPIO_NUM_NC && !g_gpio.level[0]) || (g_gpio.pin[1] != GPIO_NUM_NC && !g_gpio.level[1]);
}

esp_err_t i2c_master_transmit(i2c_master_dev_handle_t i2c_dev, const uint8_t *write_buffer, size_t write_size,
                              int xfer_timeout_ms)
{
    if (!i2c_dev || !write_buffer || write_size == 0 || xfer_timeout_ms < -1 || !g_sim) {
        esp_fake.i2c_bad_arg++;
        return ESP_ERR_INVALID_ARG;
    }
    esp_fake.i2c_tx++;
    if (chip_off() || trustm_sim_i2c_write(g_sim, (uint8_t)i2c_dev->addr, write_buffer, write_size) != TRUSTM_SIM_ACK) {
        esp_fake.i2c_nack++;
        return ESP_ERR_INVALID_STATE;
    }
    return ESP_OK;
}

esp_err_t i2c_master_receive(i2c_master_dev_handle_t i2c_dev, uint8_t *read_buffer, size_t read_size,
                             int xfer_timeout_ms)
{
    if (!i2c_dev || !read_buffer || read_size == 0 || xfer_timeout_ms < -1 || !g_sim) {
        esp_fake.i2c_bad_arg++;
        return ESP_ERR_INVALID_ARG;
    }
    esp_fake.i2c_rx++;
    if (chip_off() || trustm_sim_i2c_read(g_sim, (uint8_t)i2c_dev->addr, read_buffer, read_size) != TRUSTM_SIM_ACK) {
        esp_fake.i2c_nack++;
        return ESP_ERR_INVALID_STATE;
    }
    return ESP_OK;
}

/* ---- GPIO ---- */

void esp_fake_gpio_wire(gpio_num_t rst, gpio_num_t vcc)
{
    g_gpio.pin[0] = rst;
    g_gpio.pin[1] = vcc;
    g_gpio.level[0] = g_gpio.level[1] = 1;
}

esp_err_t gpio_set_level(gpio_num_t gpio_num, uint32_t level)
{
    int i;
    for (i = 0; i < 2; i++) {
        if (g_gpio.pin[i] == GPIO_NUM_NC || g_gpio.pin[i] != gpio_num) {
            continue;
        }
        level = level ? 1u : 0u;
        if (g_gpio.level[i] && !level) {
            g_gpio.low_since[i] = now_us();
        } else if (!g_gpio.level[i] && level) {
            uint64_t low = now_us() - g_gpio.low_since[i];
            g_gpio.level[i] = 1;
            if (i == 0) {
                if (low < ESP_FAKE_RST_MIN_US) {
                    esp_fake.short_rst++;
                } else if (!chip_off() && g_sim) {
                    esp_fake.warm_resets++;
                    (void)trustm_sim_reset(g_sim, TRUSTM_RESET_WARM);
                }
            } else {
                if (low < ESP_FAKE_VCC_OFF_MIN_US) {
                    esp_fake.short_vcc++;
                } else if (g_sim) {
                    esp_fake.cold_resets++;
                    (void)trustm_sim_reset(g_sim, TRUSTM_RESET_COLD);
                }
            }
        }
        g_gpio.level[i] = level;
        return ESP_OK;
    }
    return ESP_ERR_INVALID_ARG;
}

/* ---- FreeRTOS mutex ---- */

QueueHandle_t xQueueCreateMutex(const uint8_t ucQueueType)
{
    if (ucQueueType != queueQUEUE_TYPE_MUTEX) {
        return NULL;
    }
    esp_fake.mutex_created++;
    g_mutex.held = 0;
    return &g_mutex;
}

BaseType_t xQueueSemaphoreTake(QueueHandle_t xQueue, TickType_t xTicksToWait)
{
    (void)xTicksToWait;
    esp_fake.mutex_take++;
    if (!xQueue || xQueue->held) {
        esp_fake.mutex_errors++;
        return pdFALSE;
    }
    xQueue->held = 1;
    return pdTRUE;
}

BaseType_t xQueueGenericSend(QueueHandle_t xQueue, const void *const pvItemToQueue, TickType_t xTicksToWait,
                             const BaseType_t xCopyPosition)
{
    (void)xTicksToWait;
    esp_fake.mutex_give++;
    if (!xQueue || !xQueue->held || pvItemToQueue != NULL || xCopyPosition != queueSEND_TO_BACK) {
        esp_fake.mutex_errors++;
        return pdFALSE;
    }
    xQueue->held = 0;
    return pdTRUE;
}

/* ---- partition ---- */

static void violation(const char *what, size_t off, size_t len)
{
    struct esp_fake_flash *f = &esp_fake_flash;
    if (f->violations++ == 0) {
        snprintf(f->why, sizeof f->why, "%s at 0x%zx len %zu (op %llu)", what, off, len, (unsigned long long)f->ops);
    }
}

static uint32_t frand(void)
{
    uint32_t x = esp_fake_flash.rng ? esp_fake_flash.rng : 0x2545F491u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return esp_fake_flash.rng = x;
}

/* key stream byte for flash offset off: a keyed function of its 16-byte block */
static uint8_t ks(size_t off)
{
    uint32_t x = esp_fake_flash.key ^ (uint32_t)(off & ~(size_t)15u) * 0x9E3779B9u ^ (uint32_t)(off & 15u) * 0x85EBCA6Bu;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return (uint8_t)x;
}

void esp_fake_flash_create(const char *label, uint32_t sectors, bool encrypted, uint32_t key)
{
    struct esp_fake_flash *f = &esp_fake_flash;
    esp_fake_flash_destroy();
    memset(f, 0, sizeof *f);
    f->size = sectors * ESP_FAKE_SECTOR;
    f->raw = malloc(f->size);
    if (!f->raw) {
        abort();
    }
    memset(f->raw, 0xFF, f->size);
    f->encrypted = encrypted;
    f->key = key;
    f->cut_at = ESP_FAKE_NO_CUT;
    f->rng = key | 1u;
    memset(&g_part, 0, sizeof g_part);
    g_part.type = ESP_PARTITION_TYPE_DATA;
    g_part.subtype = (esp_partition_subtype_t)0x40;
    g_part.address = 0x110000u;
    g_part.size = f->size;
    g_part.erase_size = ESP_FAKE_SECTOR;
    snprintf(g_part.label, sizeof g_part.label, "%s", label);
    g_part.encrypted = encrypted;
    g_part_ok = true;
}

void esp_fake_flash_destroy(void)
{
    free(esp_fake_flash.raw);
    esp_fake_flash.raw = NULL;
    g_part_ok = false;
}

void esp_fake_flash_power_on(void)
{
    esp_fake_flash.dead = false;
    esp_fake_flash.cut_at = ESP_FAKE_NO_CUT;
}

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type, esp_partition_subtype_t subtype,
                                                const char *label)
{
    if (!g_part_ok || (type != ESP_PARTITION_TYPE_ANY && type != g_part.type) ||
        (subtype != ESP_PARTITION_SUBTYPE_ANY && subtype != g_part.subtype) ||
        (label && strcmp(label, g_part.label) != 0)) {
        return NULL;
    }
    return &g_part;
}

static esp_err_t check(const esp_partition_t *p, size_t off, const void *buf, size_t size)
{
    if (p != &g_part || !g_part_ok || !buf) {
        return ESP_ERR_INVALID_ARG;
    }
    if (off > g_part.size) {
        return ESP_ERR_INVALID_ARG;
    }
    if (size > g_part.size - off) {
        return ESP_ERR_INVALID_SIZE;
    }
    return esp_fake_flash.dead ? ESP_FAIL : ESP_OK;
}

esp_err_t esp_partition_read_raw(const esp_partition_t *partition, size_t src_offset, void *dst, size_t size)
{
    esp_err_t err = check(partition, src_offset, dst, size);
    if (err != ESP_OK) {
        return err;
    }
    esp_fake_flash.raw_reads++;
    memcpy(dst, esp_fake_flash.raw + src_offset, size);
    return ESP_OK;
}

esp_err_t esp_partition_read(const esp_partition_t *partition, size_t src_offset, void *dst, size_t size)
{
    esp_err_t err = check(partition, src_offset, dst, size);
    size_t i;
    if (err != ESP_OK) {
        return err;
    }
    esp_fake_flash.reads++;
    for (i = 0; i < size; i++) {
        uint8_t b = esp_fake_flash.raw[src_offset + i];
        ((uint8_t *)dst)[i] = esp_fake_flash.encrypted ? (uint8_t)(b ^ ks(src_offset + i)) : b;
    }
    return ESP_OK;
}

esp_err_t esp_partition_write(const esp_partition_t *partition, size_t dst_offset, const void *src, size_t size)
{
    struct esp_fake_flash *f = &esp_fake_flash;
    const uint8_t *s = src;
    size_t i, unit = f->encrypted ? 16u : 1u, cut_unit = 0;
    esp_err_t err = check(partition, dst_offset, src, size);
    if (err != ESP_OK || size == 0) {
        return err;
    }
    if (f->encrypted && ((dst_offset & 15u) || (size & 15u))) {
        violation("encrypted write not in 16-byte blocks", dst_offset, size);
        return ESP_ERR_INVALID_ARG;
    }
    for (i = 0; i < size; i += unit) {
        size_t k;
        for (k = 0; k < unit; k++) {
            if (f->raw[dst_offset + i + k] != 0xFFu) {
                violation(f->encrypted ? "write to a block not erased" : "write to a byte not erased", dst_offset + i,
                          unit);
                break;
            }
        }
    }
    if (f->ops++ == f->cut_at) {
        f->dead = true; /* units before cut_unit complete, that one partial, the rest untouched */
        cut_unit = (size_t)frand() % (size / unit);
    }
    for (i = 0; i < size; i++) {
        uint8_t c = f->encrypted ? (uint8_t)(s[i] ^ ks(dst_offset + i)) : s[i];
        if (f->dead && i / unit > cut_unit) {
            break;
        }
        if (f->dead && i / unit == cut_unit) {
            c |= (uint8_t)frand(); /* some of its bits programmed */
        }
        f->raw[dst_offset + i] &= c;
    }
    if (f->dead) {
        return ESP_FAIL;
    }
    f->writes++;
    return ESP_OK;
}

esp_err_t esp_partition_erase_range(const esp_partition_t *partition, size_t offset, size_t size)
{
    struct esp_fake_flash *f = &esp_fake_flash;
    size_t n = size;
    esp_err_t err = check(partition, offset, f->raw, size);
    if (err != ESP_OK) {
        return err;
    }
    if (offset % ESP_FAKE_SECTOR || size % ESP_FAKE_SECTOR) {
        violation("erase not sector-aligned", offset, size);
        return ESP_ERR_INVALID_ARG;
    }
    if (f->ops++ == f->cut_at) {
        f->dead = true;
        n = size ? (size_t)frand() % size : 0; /* a prefix erased, the rest as it was */
    }
    memset(f->raw + offset, 0xFF, n);
    if (f->dead) {
        return ESP_FAIL;
    }
    f->erases++;
    return ESP_OK;
}
