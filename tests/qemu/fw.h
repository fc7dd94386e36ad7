/* Shared by the QEMU firmware's scenarios (fw_main.c, fw_flash.c). */
#ifndef QEMU_FW_H
#define QEMU_FW_H

#include <stddef.h>
#include <stdint.h>

#include "stackpaint.h"
#include "tma/status.h"

/** Name of the running phase, the first word of every output line. */
extern const char *fw_phase;

/** Print "stack PHASE NAME DEPTH" (unless depth is 0: not measured) and
 *  "ok PHASE NAME", or on an error "ERROR PHASE NAME: STATUS" and exit with
 *  code 2. */
void fw_step_done(const char *name, tma_status st, uint32_t depth);

/** Print "PHASE.NAME=HEX". */
void fw_out(const char *name, const uint8_t *p, size_t n);

/* Run one library call with a freshly painted stack and report its
 * high-water mark: bytes below the caller's stack pointer (the call's own
 * frame and everything under it, plus at most one SysTick exception frame). */
#define STEP(name, call)                                                                     \
    do {                                                                                     \
        uint32_t sp0_ = stack_sp();                                                          \
        tma_status st_;                                                                      \
        stack_paint();                                                                       \
        st_ = (call);                                                                        \
        fw_step_done(name, st_, sp0_ - stack_low());                                         \
    } while (0)

/** The MCU flash log scenario (fw_flash.c); returns the exit code. */
int fw_flash_run(void);

#endif
