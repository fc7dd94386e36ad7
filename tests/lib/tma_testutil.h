/* Helpers that tests and fuzz targets share. Header only, so a fuzz target
 * that links no test library can use them too.
 *
 * tma_test_crc32(): CRC-32 as IEEE 802.3 and zlib define it (reflected,
 * polynomial 0xEDB88320, start and end inverted), chained: start with 0,
 * pass the result of one call to the next. The tests build images with it
 * that the code under test must accept, so it is written apart from the
 * product's table-driven CRCs, bit by bit; iothub_outbox checks it against
 * the standard check value of "123456789" (0xCBF43926).
 *
 * tma_test_xorshift32() / tma_test_xorshift64(): Marsaglia's xorshift
 * generators (shifts 13/17/5 and 13/7/17): seeded, repeatable, never 0 from
 * a state that is not 0. */
#ifndef TMA_TESTUTIL_H
#define TMA_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t tma_test_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    size_t i;
    int k;
    crc = ~crc;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static inline uint32_t tma_test_xorshift32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static inline uint64_t tma_test_xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
