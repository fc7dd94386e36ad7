/* Board glue of the QEMU mps2-an386 firmware (see board.h). */
#include "board.h"

#include <string.h>

/* ---- what port/baremetal/trustm_port_baremetal.c asks for ---- */
volatile uint32_t g_ms_ticks;
int board_i2c_write(uint8_t addr, const uint8_t *p, uint16_t n);
int board_i2c_read(uint8_t addr, uint8_t *p, uint16_t n);
void board_rst_pin(int level);
void SysTick_Handler(void);

uint32_t board_sim_requests;
int board_dwt_counts;

/* ---- registers ---- */
#define REG(a) (*(volatile uint32_t *)(a))
#define UART0 0x40004000u /* first -serial of QEMU's mps2-an386 */
#define U_DATA REG(UART0 + 0x00u)
#define U_STATE REG(UART0 + 0x04u) /* bit 0 TX full, bit 1 RX full */
#define U_CTRL REG(UART0 + 0x08u)  /* bit 0 TX enable, bit 1 RX enable */
#define U_BAUDDIV REG(UART0 + 0x10u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_ICSR REG(0xE000ED04u)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

#define TICKS_PER_MS (BOARD_CPU_HZ / 1000u)
/* The simulator answers at once; a reply that does not come in this long
 * means the daemon or the socket is gone. */
#define SIM_REPLY_TIMEOUT_MS 5000u

void SysTick_Handler(void)
{
    g_ms_ticks++;
}

uint32_t board_now_us(void)
{
    /* SysTick reloads VAL when it wraps, and its interrupt (g_ms_ticks++)
     * runs later, so a read between the two gives a time 1 ms early
     * (337,999 us, then 337,000 us). On a core the gap is a few cycles and
     * the pending bit shows it: a pending SysTick with a VAL read after
     * the wrap (VAL is read first) means that tick is due. Under QEMU VAL
     * reloads before the interrupt is even raised (a loop of 3 M reads saw
     * 46 to 79 steps back of up to 999 us with that check alone), so the
     * result is also kept monotonic: a read that falls behind the last one
     * by at most a tick is the missed tick. Callers subtract times
     * (report_gap(), the UART pacing); a step back made those gaps wrap to
     * about 4,295 s. Not for interrupt handlers (the last value is shared). */
    static uint32_t last;
    uint32_t ms, val, pend, t;
    do {
        ms = g_ms_ticks;
        val = SYST_CVR;
        pend = SCB_ICSR & (1u << 26); /* PENDSTSET */
    } while (ms != g_ms_ticks);
    if (pend != 0u && val >= TICKS_PER_MS / 2u) {
        ms++;
    }
    t = ms * 1000u + (TICKS_PER_MS - 1u - val) / (TICKS_PER_MS / 1000u);
    if ((int32_t)(t - last) < 0 && last - t <= 1000u) {
        t += 1000u;
    }
    if ((int32_t)(t - last) < 0) {
        t = last;
    }
    last = t;
    return t;
}

void board_init(void)
{
    U_BAUDDIV = 16;
    U_CTRL = 3;
    SYST_RVR = TICKS_PER_MS - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7; /* processor clock, interrupt, enable */
    /* The port template's short waits count SysTick, not the DWT cycle
     * counter; only observe here whether CYCCNT moves (QEMU 7.2 models no
     * DWT: it reads 0), for the log. */
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CTRL |= 1u;    /* CYCCNTENA */
    {
        uint32_t c0 = DWT_CYCCNT, t0 = g_ms_ticks;
        while ((uint32_t)(g_ms_ticks - t0) < 2u) {
        }
        board_dwt_counts = DWT_CYCCNT != c0;
    }
}

/* ---- semihosting ---- */
static int32_t semi(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

static char con_buf[257];
static size_t con_fill;

void con_flush(void)
{
    if (con_fill) {
        con_buf[con_fill] = 0;
        (void)semi(0x04, con_buf); /* SYS_WRITE0 */
        con_fill = 0;
    }
}

static void con_ch(char c)
{
    con_buf[con_fill++] = c;
    if (c == '\n' || con_fill == sizeof con_buf - 1u) {
        con_flush();
    }
}

void con_str(const char *s)
{
    while (*s) {
        con_ch(*s++);
    }
}

void con_hex(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    while (n--) {
        con_ch(digits[*p >> 4]);
        con_ch(digits[*p & 15u]);
        p++;
    }
}

void con_u32(uint32_t v)
{
    char b[11];
    size_t i = sizeof b - 1u;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    con_str(&b[i]);
}

void con_kv_u32(const char *k, uint32_t v)
{
    con_str(k);
    con_str(" ");
    con_u32(v);
    con_str("\n");
}

void con_kv_str(const char *k, const char *v)
{
    con_str(k);
    con_str(" ");
    con_str(v);
    con_str("\n");
}

void con_kv_hex(const char *k, const uint8_t *p, size_t n)
{
    con_str(k);
    con_str("=");
    con_hex(p, n);
    con_str("\n");
}

int semi_cmdline(char *buf, size_t cap)
{
    uint32_t blk[2] = {(uint32_t)(uintptr_t)buf, (uint32_t)cap};
    if (semi(0x15, blk) != 0) { /* SYS_GET_CMDLINE */
        return -1;
    }
    buf[blk[1] < cap ? blk[1] : cap - 1u] = 0;
    return 0;
}

int semi_read_file(const char *path, uint8_t *buf, size_t cap)
{
    uint32_t open_blk[3] = {(uint32_t)(uintptr_t)path, 1u /* "rb" */, (uint32_t)strlen(path)};
    int32_t h = semi(0x01, open_blk), left;
    uint32_t rd_blk[3], cl_blk[1];
    if (h < 0) {
        return -1;
    }
    rd_blk[0] = (uint32_t)h;
    rd_blk[1] = (uint32_t)(uintptr_t)buf;
    rd_blk[2] = (uint32_t)cap;
    left = semi(0x06, rd_blk); /* SYS_READ: returns the bytes NOT read */
    cl_blk[0] = (uint32_t)h;
    (void)semi(0x02, cl_blk);
    return left < 0 || (uint32_t)left > cap ? -1 : (int)(cap - (uint32_t)left);
}

void semi_exit(uint32_t code)
{
    uint32_t blk[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, code};
    con_flush();
    for (;;) {
        (void)semi(0x20, blk); /* SYS_EXIT_EXTENDED */
    }
}

/* ---- the simulator's socket protocol over UART0 ---- */
static uint32_t last_us; /* end of the last bus request, for op 0x07 */

static void uart_put(uint8_t b)
{
    while (U_STATE & 1u) {
    }
    U_DATA = b;
}

static int uart_get(uint8_t *b)
{
    uint32_t start = g_ms_ticks;
    while (!(U_STATE & 2u)) {
        if ((uint32_t)(g_ms_ticks - start) > SIM_REPLY_TIMEOUT_MS) {
            return -1;
        }
    }
    *b = (uint8_t)U_DATA;
    return 0;
}

/* One request: op addr len(2) data; then the reply status len(2) data (at
 * most cap bytes kept, the rest drained). Returns the status byte, or -1 when
 * the link failed; *out_len gets the reply's length. */
static int sim_req(uint8_t op, uint8_t addr, uint16_t len, const uint8_t *data, uint8_t *rx,
                   uint16_t cap, uint16_t *out_len)
{
    uint8_t st, hi, lo, b;
    uint16_t n, i;
    board_sim_requests++;
    uart_put(op);
    uart_put(addr);
    uart_put((uint8_t)(len >> 8));
    uart_put((uint8_t)len);
    for (i = 0; data && i < len; i++) {
        uart_put(data[i]);
    }
    if (uart_get(&st) || uart_get(&hi) || uart_get(&lo)) {
        return -1;
    }
    n = (uint16_t)(hi << 8 | lo);
    for (i = 0; i < n; i++) {
        if (uart_get(&b)) {
            return -1;
        }
        if (rx && i < cap) {
            rx[i] = b;
        }
    }
    *out_len = n;
    return st;
}

/* Virtual time: the daemon's clock moves only by bus time and by the sleeps
 * a host reports (op 0x07). Before each bus request the glue reports the time
 * the MCU spent since the previous one (its waits, its computing, the link's
 * latency), so the simulated chip ages exactly as the MCU's SysTick says and
 * the library's timeouts (measured with g_ms_ticks) and the chip's busy times
 * agree, however slowly QEMU runs on a loaded machine. Gaps under 100 us are
 * covered by the guard time the daemon charges per transaction anyway. */
static void report_gap(uint8_t addr)
{
    uint32_t now = board_now_us(), gap = now - last_us;
    uint8_t d[4];
    uint16_t n;
    if (gap >= 100u) {
        d[0] = (uint8_t)(gap >> 24);
        d[1] = (uint8_t)(gap >> 16);
        d[2] = (uint8_t)(gap >> 8);
        d[3] = (uint8_t)gap;
        (void)sim_req(0x07, addr, 4, d, 0, 0, &n);
    }
}

static int status_to_port(int st)
{
    last_us = board_now_us();
    return st == 0 ? 0 : st == 1 ? 1 : -1;
}

int board_i2c_write(uint8_t addr, const uint8_t *p, uint16_t n)
{
    uint16_t len;
    report_gap(addr);
    return status_to_port(sim_req(0x01, addr, n, p, 0, 0, &len));
}

int board_i2c_read(uint8_t addr, uint8_t *p, uint16_t n)
{
    uint16_t len = 0;
    int st;
    report_gap(addr);
    st = sim_req(0x02, addr, n, 0, p, n, &len);
    if (st == 0 && len != n) {
        st = -1;
    }
    return status_to_port(st);
}

void board_rst_pin(int level)
{
    uint16_t len;
    if (level == 0) {
        (void)sim_req(0x03, 0x30, 0, 0, 0, 0, &len); /* warm reset (RST low) */
        last_us = board_now_us();
    }
}
