/*
 * Start-up of the QEMU mps2-an386 firmware: vector table, reset (copy .data,
 * zero .bss, paint the stack), one fault handler that prints the fault
 * registers and exits with code 3.
 */
#include <stdint.h>

#include "board.h"
#include "stackpaint.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_limit, __stack_top;

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void Fault_Handler(void);

typedef void (*vector)(void);

/* Entry 0 is the initial stack pointer, not code. */
__attribute__((used, section(".isr_vector"))) const vector board_vectors[16] = {
    (vector)(uintptr_t)&__stack_top, Reset_Handler,
    Fault_Handler,    /* NMI */
    Fault_Handler,    /* HardFault */
    Fault_Handler,    /* MemManage */
    Fault_Handler,    /* BusFault */
    Fault_Handler,    /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler};

void Reset_Handler(void)
{
    uint32_t *s = &__data_load, *d = &__data_start;
    while (d < &__data_end) {
        *d++ = *s++;
    }
    for (d = &__bss_start; d < &__bss_end; d++) {
        *d = 0;
    }
    stack_paint();
    semi_exit((uint32_t)main());
}

#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)

__attribute__((noreturn)) static void fatal(const char *what, uint32_t pc)
{
    con_flush();
    con_str("\nFAULT ");
    con_str(what);
    con_str(" cfsr=");
    con_u32(SCB_CFSR);
    con_str(" hfsr=");
    con_u32(SCB_HFSR);
    con_str(" bfar=");
    con_u32(SCB_BFAR);
    con_str(" pc=");
    con_u32(pc);
    con_str("\n");
    semi_exit(3);
}

void Fault_Handler(void)
{
    fatal("exception", 0);
}

