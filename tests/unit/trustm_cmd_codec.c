/* Pure codecs: metadata builder/parser and access conditions (spec 4.9, 7.5,
 * 8.3 examples), UID decode (spec 7.2), certificate objects (515-byte E0E0
 * layout), DER signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tma_test.h"
#include "trustm/certobj.h"
#include "trustm/cmd.h"
#include "trustm/der.h"
#include "trustm/metadata.h"
#include "trustm/uid.h"

#define MALFORMED TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED)
#define BAD_PARAM TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM)

static size_t hex(const char *h, uint8_t *out, size_t cap)
{
    long n = tma_test_hex(h, out, cap);
    assert_true(n >= 0);
    return (size_t)n;
}

static void expect_bytes(const uint8_t *got, size_t n, const char *want_hex)
{
    uint8_t w[256];
    size_t wn = hex(want_hex, w, sizeof(w));
    assert_int_equal(tma_test_memcmp("bytes", got, n, w, wn), 0);
}

static void cond(struct trustm_ac *ac, unsigned tok, uint8_t id, uint8_t op, uint16_t arg)
{
    struct trustm_ac_cond *c = &ac->cond[tok][ac->ncond[tok]++];
    if (tok + 1 > ac->ntok) {
        ac->ntok = (uint8_t)(tok + 1);
    }
    c->id = id;
    c->op = op;
    c->arg = arg;
}

static void render_is(const char *ac_hex, const char *words)
{
    uint8_t ac[64];
    char out[128];
    size_t n = hex(ac_hex, ac, sizeof(ac));
    assert_int_equal(trustm_ac_render(ac, n, out, sizeof(out)), TMA_OK);
    assert_string_equal(out, words);
}

/* Spec 4.9: the pairing example's metadata, built and parsed back. */
static void pairing_metadata_builds_byte_exact(void **state)
{
    uint8_t buf[64];
    size_t n;
    struct trustm_md_builder b;
    struct trustm_ac change = {0};
    struct trustm_ac read = {0};
    struct trustm_ac exe = {0};
    struct trustm_md md;
    char words[80];
    (void)state;
    cond(&change, 0, TRUSTM_AC_LCSO, TRUSTM_AC_LT, TRUSTM_LCS_OPERATIONAL);
    cond(&change, 1, TRUSTM_AC_CONF, 0, 0xE140);
    cond(&read, 0, TRUSTM_AC_LCSO, TRUSTM_AC_LT, TRUSTM_LCS_OPERATIONAL);
    cond(&exe, 0, TRUSTM_AC_ALW, 0, 0);
    trustm_md_begin(&b, buf, sizeof(buf));
    trustm_md_add_u8(&b, TRUSTM_MD_LCSO, 0x01);
    trustm_md_add_ac(&b, TRUSTM_MD_CHANGE, &change);
    trustm_md_add_ac(&b, TRUSTM_MD_READ, &read);
    trustm_md_add_ac(&b, TRUSTM_MD_EXECUTE, &exe);
    trustm_md_add_u8(&b, TRUSTM_MD_TYPE, 0x22);
    assert_int_equal(trustm_md_end(&b, &n), TMA_OK);
    expect_bytes(buf, n, "20 17 C0 01 01 D0 07 E1 FC 07 FE 20 E1 40 D1 03 E1 FC 07 D3 01 00 E8 01 22");

    assert_int_equal(trustm_md_decode(buf, n, &md), TMA_OK);
    assert_int_equal(md.lcso, 1);
    assert_int_equal(md.type, 0x22);
    assert_int_equal(trustm_ac_render(md.change.ptr, md.change.len, words, sizeof(words)),
                     TMA_OK);
    assert_string_equal(words, "LcsO < op || Conf(0xE140)");
    assert_int_equal(trustm_ac_render(md.execute.ptr, md.execute.len, words, sizeof(words)),
                     TMA_OK);
    assert_string_equal(words, "ALW");
    assert_string_equal(trustm_md_type_name(md.type), "PTFBIND");
}

/* Spec 7.5: real chip dumps decode, and rebuild to the same bytes. */
static void real_chip_metadata_round_trips(void **state)
{
    static const char *dumps[] = {
        "20 17 C0 01 01 C4 02 06 C0 C5 02 02 03 D0 01 FF D1 01 00 D3 01 00 E8 01 12",
        "20 19 C0 01 01 C4 02 06 C0 C5 02 06 C0 D0 03 E1 FC 07 D1 01 00 D3 01 00 E8 01 12",
        "20 19 C0 01 01 C4 02 04 B0 C5 02 04 B0 D0 03 E1 FC 07 D1 01 00 D3 01 00 E8 01 11",
        "20 0F C0 01 01 D0 01 FF D3 01 00 E0 01 03 E1 01 01",
        "20 11 C0 01 01 D0 03 E1 FC 07 D3 01 00 E0 01 16 E1 01 30",
        "20 0B C0 01 01 D0 03 E1 FC 07 D3 01 00",
        "20 17 C0 01 01 C4 01 08 C5 01 08 D0 03 E1 FC 07 D1 01 00 D3 01 00 E8 01 01",
        "20 1D C0 01 01 C4 01 40 C5 01 40 D0 07 E1 FC 07 FE 20 E1 40 D1 03 E1 FC 07 D3 01 00 E8 01 22",
        "20 09 C0 01 01 D0 01 FF D3 01 00",
        "20 11 C0 01 01 C4 01 8C C5 01 64 D0 03 E1 FC 07 D1 01 00",
        "20 13 C0 01 01 C4 02 05 DC C5 02 05 DC D0 03 E1 FC 07 D1 01 00",
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]); i++) {
        uint8_t in[64];
        uint8_t out[64];
        size_t n = hex(dumps[i], in, sizeof(in));
        size_t m;
        size_t pos = 0;
        uint8_t tag;
        struct tma_span v;
        struct trustm_md md;
        struct trustm_md_builder b;
        assert_int_equal(trustm_md_decode(in, n, &md), TMA_OK);
        assert_int_equal(md.unknown_tags, 0);
        /* rebuild tag by tag: the builder reproduces the chip's encoding */
        trustm_md_begin(&b, out, sizeof(out));
        while (trustm_md_next(in, n, &pos, &tag, &v) == TMA_OK) {
            if (tag == TRUSTM_MD_MAX_SIZE || tag == TRUSTM_MD_USED_SIZE) {
                trustm_md_add_u16(&b, tag, (uint16_t)(tag == TRUSTM_MD_MAX_SIZE ? md.max_size
                                                                                : md.used_size));
            } else if (tag >= TRUSTM_MD_CHANGE && tag <= TRUSTM_MD_MUPD) {
                struct trustm_ac ac;
                assert_int_equal(trustm_ac_decode(v.ptr, v.len, &ac), TMA_OK);
                trustm_md_add_ac(&b, tag, &ac);
            } else {
                trustm_md_add(&b, tag, v.ptr, v.len);
            }
        }
        assert_int_equal(trustm_md_end(&b, &m), TMA_OK);
        assert_int_equal(tma_test_memcmp(dumps[i], out, m, in, n), 0);
    }
    {
        uint8_t in[64];
        struct trustm_md md;
        size_t n = hex(dumps[0], in, sizeof(in));
        assert_int_equal(trustm_md_decode(in, n, &md), TMA_OK);
        assert_int_equal(md.max_size, 1728);
        assert_int_equal(md.used_size, 515);
        assert_int_equal(md.present & TRUSTM_MDF_ALGORITHM, 0);
        assert_int_equal(md.change.len, 1);
        assert_int_equal(md.change.ptr[0], 0xFF);
        n = hex(dumps[4], in, sizeof(in));
        assert_int_equal(trustm_md_decode(in, n, &md), TMA_OK);
        assert_int_equal(md.algorithm, TRUSTM_ALG_BP512);
        assert_int_equal(md.key_usage, 0x30);
        {
            char w[40];
            assert_int_equal(trustm_key_usage_render(md.key_usage, w, sizeof(w)), TMA_OK);
            assert_string_equal(w, "Sign,KeyAgree");
            assert_int_equal(trustm_key_usage_render(0x41, w, sizeof(w)), TMA_OK);
            assert_string_equal(w, "Auth,0x40");
        }
        assert_string_equal(trustm_alg_name(md.algorithm), "brainpoolP512r1");
    }
}

/* Spec 8.3 examples and complex conditions. */
static void access_conditions_render_in_words(void **state)
{
    (void)state;
    render_is("E1 FB 03 FE 70 FC 04", "LcsO > in || LcsG < 0x04");
    render_is("20 E1 40 FD 23 F1 D0", "Conf(0xE140) && Auto(0xF1D0)");
    render_is("E1 FC 07 FE 20 E1 40 FD 23 F1 D0", "LcsO < op || Conf(0xE140) && Auto(0xF1D0)");
    render_is("40 E1 20", "Luc(0xE120)");
    render_is("21 E0 EF", "Int(0xE0EF)");
    render_is("20 E1 40", "Conf(0xE140)");
    render_is("10 20", "SecStaG(0x20)");
    render_is("90 20", "SecStaA(0x20)");
    render_is("E0 FB 03", "LcsA > in");
    render_is("E1 FA 0F", "LcsO == te");
    render_is("FF", "NEV");
    render_is("00", "ALW");
}

static void malformed_access_conditions_are_rejected(void **state)
{
    static const char *bad[] = {
        "",                      /* empty */
        "00 FD 20 E1 40",        /* ALW inside a complex condition */
        "FF FE 20 E1 40",        /* NEV inside a complex condition */
        "E1 FC",                 /* truncated */
        "E1 F0 07",              /* not a comparison operator */
        "20 E1 40 FD",           /* dangling operator */
        "20 E1 40 20 E1 41",     /* missing operator */
        "55",                    /* unknown identifier */
        "20 E1 40 FE 20 E1 41 FE 20 E1 42 FE 20 E1 43", /* 4 tokens */
        "10 01 FD 10 02 FD 10 03 FD 10 04 FD 10 05 FD 10 06 FD 10 07 FD 10 08", /* 8 conds */
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t ac[64];
        struct trustm_ac d;
        char w[64];
        size_t n = hex(bad[i], ac, sizeof(ac));
        assert_int_equal(trustm_ac_decode(ac, n, &d), MALFORMED);
        assert_int_equal(trustm_ac_render(ac, n, w, sizeof(w)), MALFORMED);
        assert_string_equal(w, "invalid");
    }
    /* 3 tokens of 7 conditions are the limit and decode */
    {
        uint8_t ac[64];
        struct trustm_ac d;
        size_t n = hex("10 01 FD 10 02 FD 10 03 FD 10 04 FD 10 05 FD 10 06 FD 10 07 FE 20 E1 40 "
                       "FE 23 F1 D0",
                       ac, sizeof(ac));
        assert_int_equal(trustm_ac_decode(ac, n, &d), TMA_OK);
        assert_int_equal(d.ntok, 3);
        assert_int_equal(d.ncond[0], 7);
    }
}

static void encoder_refuses_what_chip_refuses(void **state)
{
    struct trustm_ac ac = {0};
    uint8_t out[64];
    size_t n;
    (void)state;
    cond(&ac, 0, TRUSTM_AC_ALW, 0, 0);
    cond(&ac, 0, TRUSTM_AC_CONF, 0, 0xE140);
    assert_int_equal(trustm_ac_encode(&ac, out, sizeof(out), &n), BAD_PARAM);
    memset(&ac, 0, sizeof(ac));
    cond(&ac, 0, TRUSTM_AC_LCSO, 0x12, 7);
    assert_int_equal(trustm_ac_encode(&ac, out, sizeof(out), &n), BAD_PARAM);
    memset(&ac, 0, sizeof(ac));
    cond(&ac, 0, TRUSTM_AC_CONF, 0, 0xE140);
    assert_int_equal(trustm_ac_encode(&ac, out, 2, &n), TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL));
}

static void malformed_metadata_is_rejected(void **state)
{
    static const char *bad[] = {
        "20",                    /* no length */
        "21 00",                 /* not a container */
        "20 04 C0 01 01",        /* length disagrees */
        "20 03 C0 02 01",        /* truncated tag */
        "20 06 C0 01 01 C0 01 03", /* repeated tag */
        "20 04 C0 02 01 02",     /* LcsO is one byte */
        "20 03 C4 00",           /* empty size */
        "20 05 D0 03 E1 F0 07",  /* bad AC */
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t md[64];
        struct trustm_md d;
        size_t n = hex(bad[i], md, sizeof(md));
        assert_int_equal(trustm_md_decode(md, n, &d), MALFORMED);
    }
    /* unknown tags are counted, not fatal */
    {
        uint8_t md[16];
        struct trustm_md d;
        size_t n = hex("20 06 C0 01 07 77 01 00", md, sizeof(md));
        assert_int_equal(trustm_md_decode(md, n, &d), TMA_OK);
        assert_int_equal(d.unknown_tags, 1);
        assert_int_equal(d.lcso, 7);
    }
}

static void builder_limits(void **state)
{
    uint8_t buf[64];
    size_t n;
    struct trustm_md_builder b;
    uint8_t v[20];
    (void)state;
    memset(v, 0x20, sizeof(v));
    trustm_md_begin(&b, buf, sizeof(buf));
    trustm_md_add_u8(&b, TRUSTM_MD_LCSO, 7);
    trustm_md_add_u8(&b, TRUSTM_MD_LCSO, 7);
    assert_int_equal(trustm_md_end(&b, &n), BAD_PARAM);
    /* more than 44 bytes does not fit the chip */
    trustm_md_begin(&b, buf, sizeof(buf));
    trustm_md_add(&b, TRUSTM_MD_CHANGE, v, 20);
    trustm_md_add(&b, TRUSTM_MD_READ, v, 20);
    assert_int_equal(trustm_md_end(&b, &n), TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL));
    /* version always 2 bytes, sizes minimal */
    trustm_md_begin(&b, buf, sizeof(buf));
    trustm_md_add_u16(&b, TRUSTM_MD_VERSION, 3);
    trustm_md_add_u16(&b, TRUSTM_MD_MAX_SIZE, 140);
    trustm_md_add_u16(&b, TRUSTM_MD_USED_SIZE, 1500);
    trustm_md_add_u8(&b, TRUSTM_MD_RESET_TYPE, 0x11);
    assert_int_equal(trustm_md_end(&b, &n), TMA_OK);
    expect_bytes(buf, n, "20 0E C1 02 00 03 C4 01 8C C5 02 05 DC F0 01 11");
    /* MUPD, example of spec 8.2 */
    {
        struct trustm_ac ac = {0};
        cond(&ac, 0, TRUSTM_AC_INT, 0, 0xE0EF);
        trustm_md_begin(&b, buf, sizeof(buf));
        trustm_md_add_ac(&b, TRUSTM_MD_MUPD, &ac);
        assert_int_equal(trustm_md_end(&b, &n), TMA_OK);
        expect_bytes(buf, n, "20 05 D8 03 21 E0 EF");
    }
    assert_string_equal(trustm_md_tag_name(0xD8), "MUPD");
    assert_string_equal(trustm_lcs_name(0x07), "op");
    assert_null(trustm_lcs_name(0x02));
}

/* Spec 7.2: the V1 and V3 examples. */
static void uid_examples_decode(void **state)
{
    uint8_t u[32];
    struct trustm_uid uid;
    const char *prod;
    const char *fw;
    size_t n;
    (void)state;
    n = hex("CD 16 33 82 01 00 1C 00 05 00 00 0A 09 1B 5C 00 07 00 20 00 8E 80 10 10 71 08 09", u,
            sizeof(u));
    assert_int_equal(trustm_uid_decode(u, n, &uid), TMA_OK);
    assert_int_equal(uid.cim_id, 0xCD);
    assert_int_equal(uid.platform_id, 0x16);
    assert_int_equal(uid.model_id, 0x33);
    assert_int_equal(uid.rom_code, 0x8201);
    assert_int_equal(uid.batch[3], 0x5C);
    assert_int_equal(uid.pos_x, 0x20);
    assert_int_equal(uid.pos_y, 0x8E);
    assert_int_equal(uid.fw_id, 0x80101071u);
    assert_int_equal(uid.esw_build, 0x0809);
    assert_int_equal(trustm_uid_firmware(uid.esw_build, &prod, &fw), 0);
    assert_string_equal(prod, "OPTIGA Trust M V1");
    assert_string_equal(fw, "1.30.809");
    n = hex("CD 16 33 93 01 00 1C 00 05 00 00 0A 09 A4 13 00 0A 00 7D 00 3B 80 10 10 71 24 40", u,
            sizeof(u));
    assert_int_equal(trustm_uid_decode(u, n, &uid), TMA_OK);
    assert_int_equal(uid.rom_code, 0x9301);
    assert_int_equal(uid.chip_type[1], 0x1C);
    assert_int_equal(uid.pos_x, 0x7D);
    assert_int_equal(uid.pos_y, 0x3B);
    assert_int_equal(trustm_uid_firmware(uid.esw_build, &prod, &fw), 0);
    assert_string_equal(prod, "OPTIGA Trust M V3");
    assert_string_equal(fw, "3.00.2440");
    assert_int_equal(trustm_uid_decode(u, 26, &uid), MALFORMED);
    assert_int_equal(trustm_uid_firmware(0x1234, &prod, &fw), -1);
    assert_null(prod);
}

/* A DER SEQUENCE of total size n (content filled with a pattern). */
static void fake_cert(uint8_t *c, size_t n, uint8_t fill)
{
    size_t body = n - 4;
    c[0] = 0x30;
    c[1] = 0x82;
    c[2] = (uint8_t)(body >> 8);
    c[3] = (uint8_t)body;
    memset(c + 4, fill, body);
}

static void certificate_object_515_byte_layout(void **state)
{
    static uint8_t cert[506], ca[300], obj[2000];
    struct tma_span certs[2];
    struct trustm_certobj o;
    struct tma_span got;
    size_t n;
    (void)state;
    fake_cert(cert, sizeof(cert), 0x11);
    fake_cert(ca, sizeof(ca), 0x22);
    certs[0].ptr = cert;
    certs[0].len = sizeof(cert);
    certs[1].ptr = ca;
    certs[1].len = sizeof(ca);
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_TLS, certs, 1, obj, sizeof(obj), &n),
                     TMA_OK);
    assert_int_equal(n, 515);
    expect_bytes(obj, 13, "C0 02 00 00 01 FD 00 01 FA 30 82 01 F6");
    assert_int_equal(trustm_certobj_parse(obj, n, &o), TMA_OK);
    assert_int_equal(o.format, TRUSTM_CERTOBJ_TLS);
    assert_int_equal(o.count, 1);
    assert_int_equal(o.used, 515);
    assert_int_equal(trustm_certobj_cert(&o, 0, &got), TMA_OK);
    assert_ptr_equal(got.ptr, obj + 9);
    assert_int_equal(got.len, 506);
    assert_int_equal(trustm_certobj_cert(&o, 1, &got), TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND));
    /* stale bytes after the structure are tolerated and reported */
    obj[515] = 0x99;
    assert_int_equal(trustm_certobj_parse(obj, 600, &o), TMA_OK);
    assert_int_equal(o.used, 515);

    /* chain of two */
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_TLS, certs, 2, obj, sizeof(obj), &n),
                     TMA_OK);
    assert_int_equal(n, 6 + 3 + 506 + 3 + 300);
    assert_int_equal(trustm_certobj_parse(obj, n, &o), TMA_OK);
    assert_int_equal(o.count, 2);
    assert_int_equal(trustm_certobj_cert(&o, 1, &got), TMA_OK);
    assert_memory_equal(got.ptr, ca, sizeof(ca));
    /* USB Type-C form and raw DER */
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_USBC, certs, 2, obj, sizeof(obj), &n),
                     TMA_OK);
    assert_int_equal(n, 3 + 806);
    assert_int_equal(trustm_certobj_parse(obj, n, &o), TMA_OK);
    assert_int_equal(o.count, 2);
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_DER, certs, 1, obj, sizeof(obj), &n),
                     TMA_OK);
    assert_int_equal(n, 506);
    assert_int_equal(trustm_certobj_parse(obj, n, &o), TMA_OK);
    assert_int_equal(o.count, 1);
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_DER, certs, 2, obj, sizeof(obj), &n),
                     BAD_PARAM);
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_TLS, certs, 1, obj, 514, &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL));
    /* a "certificate" that is not one DER SEQUENCE is refused */
    certs[0].len = 505;
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_TLS, certs, 1, obj, sizeof(obj), &n),
                     BAD_PARAM);
    /* so is an empty one, in every format and place (it used to pass and
     * gave objects that trustm_certobj_parse() refuses) */
    certs[0].len = 0;
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_USBC, certs, 1, obj, sizeof(obj), &n),
                     BAD_PARAM);
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_DER, certs, 1, obj, sizeof(obj), &n),
                     BAD_PARAM);
    certs[0].len = 506;
    certs[1].len = 0;
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_TLS, certs, 2, obj, sizeof(obj), &n),
                     BAD_PARAM);
}

static void malformed_certificate_objects(void **state)
{
    static uint8_t cert[506], obj[600];
    struct tma_span c = {cert, sizeof(cert)};
    struct trustm_certobj o;
    size_t n;
    (void)state;
    fake_cert(cert, sizeof(cert), 0x33);
    assert_int_equal(trustm_certobj_build(TRUSTM_CERTOBJ_TLS, &c, 1, obj, sizeof(obj), &n),
                     TMA_OK);
    assert_int_equal(trustm_certobj_parse(obj, 514, &o), MALFORMED); /* truncated */
    obj[5] ^= 1; /* list length */
    assert_int_equal(trustm_certobj_parse(obj, n, &o), MALFORMED);
    obj[5] ^= 1;
    obj[8] ^= 1; /* certificate length */
    assert_int_equal(trustm_certobj_parse(obj, n, &o), MALFORMED);
    obj[8] ^= 1;
    obj[9] = 0x31; /* not a SEQUENCE */
    assert_int_equal(trustm_certobj_parse(obj, n, &o), MALFORMED);
    obj[0] = 0x00; /* fresh object */
    assert_int_equal(trustm_certobj_parse(obj, n, &o), TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND));
    assert_int_equal(trustm_certobj_parse(obj, 0, &o), TMA_ERR(TMA_LAYER_CMD, TMA_C_NOT_FOUND));
    obj[0] = 0x42;
    assert_int_equal(trustm_certobj_parse(obj, n, &o), MALFORMED);
    cert[3] ^= 1; /* raw DER with a length past the end */
    assert_int_equal(trustm_certobj_parse(cert, sizeof(cert), &o), MALFORMED);
    {
        /* TLS chains with an empty entry: alone (it was taken as a 0-byte
         * certificate) and after a good one */
        static const uint8_t empty[] = {0xC0, 0x00, 0x06, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00};
        static const uint8_t after[] = {0xC0, 0x00, 0x0C, 0x00, 0x00, 0x09, 0x00, 0x00,
                                        0x03, 0x30, 0x01, 0x05, 0x00, 0x00, 0x00};
        assert_int_equal(trustm_certobj_parse(empty, sizeof(empty), &o), MALFORMED);
        assert_int_equal(trustm_certobj_parse(after, sizeof(after), &o), MALFORMED);
        /* the same chain without the empty entry parses */
        static const uint8_t good[] = {0xC0, 0x00, 0x09, 0x00, 0x00, 0x06,
                                       0x00, 0x00, 0x03, 0x30, 0x01, 0x05};
        assert_int_equal(trustm_certobj_parse(good, sizeof(good), &o), TMA_OK);
        assert_int_equal(o.count, 1);
    }
}

static void der_signature_conversions(void **state)
{
    uint8_t buf[160];
    uint8_t rs[132];
    uint8_t rs2[132];
    size_t n;
    size_t off;
    size_t len;
    (void)state;
    /* chip form with a redundant zero in r and a needed zero in s */
    n = hex("02 03 00 12 34 02 03 00 80 01", buf, sizeof(buf));
    assert_int_equal(trustm_der_sig_from_chip(buf, n, sizeof(buf), &n), TMA_OK);
    expect_bytes(buf, n, "30 09 02 02 12 34 02 03 00 80 01");
    assert_int_equal(trustm_der_sig_to_rs(buf, n, 4, rs), TMA_OK);
    expect_bytes(rs, 8, "00 00 12 34 00 00 80 01");
    assert_int_equal(trustm_der_sig_from_rs(rs, 4, rs2, sizeof(rs2), &len), TMA_OK);
    assert_int_equal(tma_test_memcmp("rs->der", rs2, len, buf, n), 0);
    assert_int_equal(trustm_der_sig_body(buf, n, &off, &len), TMA_OK);
    assert_int_equal(off, 2);
    assert_int_equal(len, 9);
    /* P-521 sized: long-form SEQUENCE length */
    memset(rs, 0xFF, 132);
    assert_int_equal(trustm_der_sig_from_rs(rs, 66, buf, sizeof(buf), &n), TMA_OK);
    assert_int_equal(n, 3 + 2 * (2 + 67));
    expect_bytes(buf, 3, "30 81 8A");
    assert_int_equal(trustm_der_sig_to_rs(buf, n, 66, rs2), TMA_OK);
    assert_memory_equal(rs, rs2, 132);
    /* component too long for the curve */
    assert_int_equal(trustm_der_sig_to_rs(buf, n, 32, rs2), MALFORMED);
    /* negative, empty, trailing bytes */
    n = hex("02 01 80 02 01 01", buf, sizeof(buf));
    assert_int_equal(trustm_der_sig_from_chip(buf, n, sizeof(buf), &n), MALFORMED);
    n = hex("02 00 02 01 01", buf, sizeof(buf));
    assert_int_equal(trustm_der_sig_from_chip(buf, n, sizeof(buf), &n), MALFORMED);
    n = hex("02 01 01 02 01 01 00", buf, sizeof(buf));
    assert_int_equal(trustm_der_sig_from_chip(buf, n, sizeof(buf), &n), MALFORMED);
    n = hex("30 06 02 01 01 02 01 01 00", buf, sizeof(buf));
    assert_int_equal(trustm_der_sig_body(buf, n, &off, &len), MALFORMED);
    n = hex("30 80 02 01 01 02 01 01 00 00", buf, sizeof(buf));
    assert_int_equal(trustm_der_sig_body(buf, n, &off, &len), MALFORMED);
    /* BIT STRING public key */
    n = hex("03 04 00 04 AA BB", buf, sizeof(buf));
    assert_int_equal(trustm_der_bitstring(buf, n, &off, &len), TMA_OK);
    assert_int_equal(off, 3);
    assert_int_equal(len, 3);
    n = hex("03 04 01 04 AA BB", buf, sizeof(buf));
    assert_int_equal(trustm_der_bitstring(buf, n, &off, &len), MALFORMED);
    n = hex("03 81 05 00 04 AA BB CC", buf, sizeof(buf)); /* non-minimal length */
    assert_int_equal(trustm_der_bitstring(buf, n, &off, &len), MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pairing_metadata_builds_byte_exact),
        cmocka_unit_test(real_chip_metadata_round_trips),
        cmocka_unit_test(access_conditions_render_in_words),
        cmocka_unit_test(malformed_access_conditions_are_rejected),
        cmocka_unit_test(encoder_refuses_what_chip_refuses),
        cmocka_unit_test(malformed_metadata_is_rejected),
        cmocka_unit_test(builder_limits),
        cmocka_unit_test(uid_examples_decode),
        cmocka_unit_test(certificate_object_515_byte_layout),
        cmocka_unit_test(malformed_certificate_objects),
        cmocka_unit_test(der_signature_conversions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
