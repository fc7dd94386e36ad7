/*
 * Board glue of the QEMU mps2-an386 (Cortex-M4) firmware: the functions
 * port/baremetal/trustm_port_baremetal.c asks for, on top of
 *  - CMSDK UART0 (0x40004000), which QEMU connects to trustm-sim's Unix
 *    socket: board_i2c_write/read speak the simulator's socket protocol
 *    (docs/sim-socket-protocol.md) over it;
 *  - SysTick (1 ms, 25 MHz processor clock) for g_ms_ticks;
 *  - ARM semihosting for the console, the command line, files and the exit
 *    code.
 */
#ifndef QEMU_BOARD_H
#define QEMU_BOARD_H

#include <stddef.h>
#include <stdint.h>

#define BOARD_CPU_HZ 25000000u

void board_init(void);
/** Microseconds since board_init() (SysTick based, 40 ns steps). */
uint32_t board_now_us(void);
/** Statistics op 0x05 is host-side; this counts the firmware's own requests. */
extern uint32_t board_sim_requests;
/** 1 when DWT CYCCNT counts (real silicon), 0 when it does not (QEMU). */
extern int board_dwt_counts;

/* console (semihosting) */
void con_str(const char *s);
void con_hex(const uint8_t *p, size_t n);
void con_u32(uint32_t v);
void con_flush(void);
/** Output lines of the firmwares: "KEY VALUE" (decimal or text), "KEY=HEX". */
void con_kv_u32(const char *k, uint32_t v);
void con_kv_str(const char *k, const char *v);
void con_kv_hex(const char *k, const uint8_t *p, size_t n);
/** SYS_GET_CMDLINE: 0 and a NUL-terminated line, or -1. */
int semi_cmdline(char *buf, size_t cap);
/** Read up to cap bytes of a host file; returns bytes read or -1. */
int semi_read_file(const char *path, uint8_t *buf, size_t cap);
__attribute__((noreturn)) void semi_exit(uint32_t code);

#endif
