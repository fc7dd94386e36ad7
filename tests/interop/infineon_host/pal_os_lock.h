/* Our stand-in for the library's pal_os_lock.h: the critical section its
 * command layer enters, implemented in pal_glue.c. */
#ifndef INTEROP_PAL_OS_LOCK_H
#define INTEROP_PAL_OS_LOCK_H
void pal_os_lock_enter_critical_section(void);
void pal_os_lock_exit_critical_section(void);
#endif
