/* CHECK for the test programs that do not use cmocka (they run many checks
 * and report every failure, not the first): a false condition is printed
 * with its place and counted in the program's own `static int failures`. */
#ifndef TMA_CHECK_H
#define TMA_CHECK_H

#include <stdio.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

#endif
