/* CHECK for the test programs that do not use cmocka (they run many checks
 * and report every failure, not the first): a false condition is printed
 * with its place and counted in the program's own `static int failures`. */
#ifndef TMA_CHECK_H
#define TMA_CHECK_H

#include <stdio.h>

#include "tma/status.h"

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

/* EXPECT(cond, printf-style message) and EXPECT_ST(expression, wanted
 * status): the same, with the program's own words or both statuses named. */
#define EXPECT(cond, ...)                                   \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                   \
            fputc('\n', stderr);                            \
            failures++;                                     \
        }                                                   \
    } while (0)

#define EXPECT_ST(expr, want)                                                    \
    do {                                                                         \
        tma_status got_ = (expr);                                                \
        EXPECT(got_ == (want), "%s -> %s, want %s", #expr, tma_status_str(got_), \
               tma_status_str(want));                                            \
    } while (0)

#endif
