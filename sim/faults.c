/*
 * Seeded fault injector. Each fault kind has a probability per opportunity
 * (the places in bus.c/sim.c that call sim_fault_hit); the generator is a
 * xorshift64* seeded from the configuration, so a run is reproducible.
 * Configuration is a flat JSON object parsed here (numbers only).
 */
#include <math.h> /* isfinite (a macro: no libm needed) */
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

static const char *const names[SIM_FAULT_COUNT] = {
    "bitflip_rx", "bitflip_tx", "lost_ack", "nak_storm", "spurious_resync",
    "truncate", "oversize", "busy_nack", "reset_mid_command", "corrupt_mac",
    "byte_rx", "byte_tx",
};

const char *sim_fault_name(enum sim_fault k)
{
    return (unsigned)k < SIM_FAULT_COUNT ? names[k] : "?";
}

void sim_faults_init(struct sim_faults *f)
{
    memset(f, 0, sizeof(*f));
    f->rng = 0x2545F4914F6CDD1Dull;
    f->nak_storm_len = 3;
    f->arm_oid = -1;
    f->armed = true;
}

bool sim_faults_seen_read(struct sim_faults *f, int32_t oid)
{
    if (f->armed || oid < 0 || oid != f->arm_oid) {
        return false;
    }
    f->armed = true;
    return true;
}

static uint64_t next(struct sim_faults *f)
{
    uint64_t x = f->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    f->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

size_t sim_fault_bytes(struct sim_faults *f, enum sim_fault k, uint8_t *p, size_t n)
{
    size_t hit = 0;
    if (f->prob[k] == 0) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (sim_fault_hit(f, k)) {
            /* any other value: XOR with 1..255 */
            p[i] ^= (uint8_t)(1u + sim_fault_rand(f, 255));
            hit++;
        }
    }
    return hit;
}

uint32_t sim_fault_rand(struct sim_faults *f, uint32_t bound)
{
    if (bound == 0) {
        return 0;
    }
    return (uint32_t)((next(f) >> 32) % bound);
}

bool sim_fault_hit(struct sim_faults *f, enum sim_fault k)
{
    if (f->prob[k] == 0 || !f->armed || (f->max_faults && f->since_config >= f->max_faults)) {
        return false;
    }
    if ((uint32_t)(next(f) >> 32) >= f->prob[k] && f->prob[k] != 0xFFFFFFFFu) {
        return false;
    }
    f->injected++;
    f->since_config++;
    f->count[k]++;
    return true;
}

/* ---- minimal JSON: { "key": number, ... } ------------------------------- */
struct cur {
    const char *p;
    const char *end;
};

static void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static bool lit(struct cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool key(struct cur *c, char *out, size_t cap)
{
    if (!lit(c, '"')) {
        return false;
    }
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || n + 1 >= cap) {
            return false;
        }
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) {
        return false;
    }
    c->p++;
    out[n] = 0;
    return true;
}

static bool number(struct cur *c, double *out)
{
    char buf[40];
    size_t n = 0;
    ws(c);
    while (c->p < c->end && n + 1 < sizeof(buf) && strchr("0123456789+-.eE", *c->p) && *c->p) {
        buf[n++] = *c->p++;
    }
    if (n == 0 || n + 1 >= sizeof(buf)) {
        return false;
    }
    buf[n] = 0;
    char *e = NULL;
    double v = strtod(buf, &e);
    if (!e || *e != 0 || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

tma_status sim_faults_config(struct sim_faults *f, const char *json, size_t len)
{
    struct sim_faults nf;
    struct cur c = {json, json + len};
    if (!json) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    sim_faults_init(&nf);
    /* The statistics count since start, across configurations: the total
     * stays the sum of the per-kind counts. max_faults counts from here. */
    memcpy(nf.count, f->count, sizeof(nf.count));
    nf.injected = f->injected;
    nf.since_config = 0;
    if (!lit(&c, '{')) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_MALFORMED);
    }
    if (!lit(&c, '}')) {
        for (;;) {
            char k[40];
            double v;
            if (!key(&c, k, sizeof(k)) || !lit(&c, ':') || !number(&c, &v)) {
                return TMA_ERR(TMA_LAYER_SIM, TMA_C_MALFORMED);
            }
            bool found = false;
            for (int i = 0; i < SIM_FAULT_COUNT; i++) {
                if (strcmp(k, names[i]) == 0) {
                    if (v < 0.0 || v > 1.0) {
                        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
                    }
                    nf.prob[i] = v >= 1.0 ? 0xFFFFFFFFu : (uint32_t)(v * 4294967296.0);
                    found = true;
                }
            }
            if (!found) {
                if (v < 0.0 || v > 1.8e19 || (double)(uint64_t)v != v) {
                    return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
                }
                if (strcmp(k, "seed") == 0) {
                    nf.rng = (uint64_t)v ^ 0x9E3779B97F4A7C15ull;
                    if (nf.rng == 0) {
                        nf.rng = 1;
                    }
                } else if (strcmp(k, "arm_oid") == 0 && v >= 1 && v <= 65535) {
                    /* faults wait for a GetDataObject data read of this object */
                    nf.arm_oid = (int32_t)v;
                    nf.armed = false;
                } else if (strcmp(k, "max_faults") == 0) {
                    nf.max_faults = (uint64_t)v;
                } else if (strcmp(k, "nak_storm_len") == 0 && v >= 1 && v <= 1000) {
                    nf.nak_storm_len = (unsigned)v;
                } else {
                    return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
                }
            }
            if (lit(&c, '}')) {
                break;
            }
            if (!lit(&c, ',')) {
                return TMA_ERR(TMA_LAYER_SIM, TMA_C_MALFORMED);
            }
        }
    }
    ws(&c);
    if (c.p != c.end && !(c.p + 1 == c.end && *c.p == 0)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_MALFORMED);
    }
    *f = nf;
    return TMA_OK;
}
