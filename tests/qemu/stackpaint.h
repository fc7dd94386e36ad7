/* Stack high-water measurement: paint the unused stack with a pattern, run
 * an operation, find the deepest word that changed. */
#ifndef QEMU_STACKPAINT_H
#define QEMU_STACKPAINT_H

#include <stdint.h>

#define STACK_PATTERN 0xC5ACCE55u

extern uint32_t __stack_limit, __stack_top;

static inline uint32_t stack_sp(void)
{
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Paint from the stack limit to 64 bytes below the current stack pointer,
 * interrupts off so that no exception frame lands in the painted area now. */
static inline __attribute__((always_inline)) void stack_paint(void)
{
    uint32_t *p = &__stack_limit, *end = (uint32_t *)(stack_sp() - 64u);
    __asm volatile("cpsid i" ::: "memory");
    while (p < end) {
        *p++ = STACK_PATTERN;
    }
    __asm volatile("cpsie i" ::: "memory");
}

/* Lowest address that no longer holds the pattern. */
static inline uint32_t stack_low(void)
{
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PATTERN) {
        p++;
    }
    return (uint32_t)(uintptr_t)p;
}

#endif
