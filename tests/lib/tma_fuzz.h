/* For fuzz targets: CHECK(x) stops the run (abort, which libFuzzer and the
 * replay driver both report with the input) when x is false. */
#ifndef TMA_FUZZ_H
#define TMA_FUZZ_H

#include <stdlib.h>

#define CHECK(x) \
    do { \
        if (!(x)) { \
            abort(); \
        } \
    } while (0)

#endif
