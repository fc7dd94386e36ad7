/* trustm CLI: info, data, metadata, lock, current-limit, random, counter. */
#include "trustm.h"

#include "trustm/metadata.h"
#include "trustm/uid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --help: usage on stdout, exit 0; a missing sub-command: usage on
 * stderr, exit 2 (every command names its flag 'help'). */
#define HELP(text)                               \
    do {                                         \
        fputs(text, help ? stdout : stderr);     \
        return help ? 0 : 2;                     \
    } while (0)

static int read_u8(struct dev *d, uint16_t oid, uint8_t *out)
{
    size_t n = 0;
    tma_status st = trustm_read_data(&d->chip, d->protect, oid, 0, out, 1, &n);
    if (st != TMA_OK || n != 1) {
        return fail_st(st != TMA_OK ? st : TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED),
                       "cannot read 0x%04X", oid);
    }
    return 0;
}

static const char *lcs_word(uint8_t v)
{
    const char *n = trustm_lcs_name(v);
    return n != NULL ? n : "?";
}

/* The reset type (tag F0, SRM Tab. 50) in words: what a protected metadata
 * update with a reset does to the content, and the LcsO it sets. */
static void reset_type_words(uint8_t v, char *out, size_t cap)
{
    unsigned content = v & 0xF0u, lcs = v & 0x0Fu;
    snprintf(out, cap, "0x%02X (content %s%s%s)", v,
             content == 0x00u ? "kept" : content == 0x10u ? "zeroed" : content == 0x20u ? "randomised" : "?",
             lcs != 0u ? ", LcsO " : "", lcs != 0u ? lcs_word((uint8_t)lcs) : "");
}

/* ---- info ------------------------------------------------------------------ */

static const uint16_t listed[] = {0xE0E0, 0xE0E1, 0xE0E2, 0xE0E3, 0xE0E8, 0xE0E9, 0xE0EF,
                                  0xE0F0, 0xE0F1, 0xE0F2, 0xE0F3, 0xE0FC, 0xE0FD, 0xE140,
                                  0xF1D0, 0xF1D1, 0xF1D2, 0xF1D3, 0xF1D4, 0xF1D5, 0xF1D6,
                                  0xF1D7, 0xF1D8, 0xF1D9, 0xF1DA, 0xF1DB, 0xF1E0, 0xF1E1};

int cmd_info(int argc, char **argv)
{
    bool help = false, json = false;
    const struct opt opts[] = {{"--json", 0, NULL, &json}, {NULL, 0, NULL, NULL}};
    int np;
    struct dev d;
    uint8_t uidb[TRUSTM_UID_LEN];
    size_t n = 0, i;
    struct trustm_uid uid;
    uint8_t lcsg = 0, lcsa = 0, sec = 0, cur = 0;
    uint8_t cbuf[2] = {0, 0};
    tma_status st;
    const char *product = NULL, *fw = NULL;
    char freelist[400] = "", shielded[120] = "", plain[120] = "";
    bool bound = false;
    int rc = 1;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm info [--json]\n"
             "Coprocessor UID fields, global/application life cycle, security event counter,\n"
             "current limit, maximum communication buffer, and the objects still free\n"
             "(certificate, trust-anchor and data objects with used size 0, or a\n"
             "certificate or trust-anchor object holding the one 0x00 byte Infineon's\n"
             "trustm_cert -c leaves; key slots without a key); whether the chip is bound\n"
             "(0xE140 holds a locked platform-binding secret) and which keys are bound to\n"
             "it (Execute 'Conf(0xE140)': used only over the shielded connection) or\n"
             "usable without it.\n");
    if (dev_open(&d) != 0) return 1;
    st = trustm_read_data(&d.chip, d.protect, TRUSTM_OID_UID, 0, uidb, sizeof(uidb), &n);
    if (st != TMA_OK || trustm_uid_decode(uidb, n, &uid) != TMA_OK) {
        fail_st(st != TMA_OK ? st : TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED),
                "cannot read the coprocessor UID");
        goto out;
    }
    if (read_u8(&d, 0xE0C0, &lcsg) || read_u8(&d, 0xF1C0, &lcsa) || read_u8(&d, 0xE0C5, &sec) ||
        read_u8(&d, 0xE0C4, &cur)) {
        goto out;
    }
    st = trustm_read_data(&d.chip, d.protect, 0xE0C6, 0, cbuf, 2, &n);
    if (st != TMA_OK) {
        fail_st(st, "cannot read 0xE0C6");
        goto out;
    }
    (void)trustm_uid_firmware(uid.esw_build, &product, &fw);
    for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
        uint8_t md[64];
        size_t ml = 0;
        struct trustm_md m;
        bool free_obj;
        if (trustm_read_metadata(&d.chip, d.protect, listed[i], md, sizeof(md), &ml) != TMA_OK ||
            trustm_md_decode(md, ml, &m) != TMA_OK) {
            continue;
        }
        if (listed[i] == 0xE140) {
            /* bound: a platform-binding secret written and locked (bind) */
            bound = (m.present & TRUSTM_MDF_TYPE) && m.type == 0x22 && (m.present & TRUSTM_MDF_LCSO) &&
                    m.lcso >= TRUSTM_LCS_OPERATIONAL && (m.present & TRUSTM_MDF_USED_SIZE) &&
                    m.used_size > 0;
        }
        if (tool_oid_is_key(listed[i]) && (m.present & TRUSTM_MDF_ALGORITHM)) {
            /* a key: usable only under the binding (Execute exactly
             * Conf(0xE140)), or by a plaintext command too */
            bool conf = m.execute.ptr != NULL && m.execute.len == 3 && m.execute.ptr[0] == 0x20 &&
                        m.execute.ptr[1] == 0xE1 && m.execute.ptr[2] == 0x40;
            char *lst = conf ? shielded : plain;
            size_t l = strlen(lst);
            snprintf(lst + l, sizeof(shielded) - l, "%s%s0x%04X%s", l ? "," : "", json ? "\"" : "",
                     listed[i], json ? "\"" : "");
        }
        if (tool_oid_is_key(listed[i])) {
            free_obj = !(m.present & TRUSTM_MDF_ALGORITHM);
        } else {
            free_obj = (m.present & TRUSTM_MDF_USED_SIZE) && m.used_size == 0;
            /* One 0x00 byte in a certificate or trust-anchor object is no
             * certificate ('cert read' says so): it is how Infineon's
             * trustm_cert -c clears one. A data object's 0x00 is data. */
            if ((tool_oid_is_cert(listed[i]) || tool_oid_is_ta(listed[i])) &&
                (m.present & TRUSTM_MDF_USED_SIZE) && m.used_size == 1) {
                uint8_t b = 0xFF;
                size_t bn = 0;
                free_obj = trustm_read_data(&d.chip, d.protect, listed[i], 0, &b, 1, &bn) == TMA_OK &&
                           bn == 1 && b == 0x00;
            }
        }
        if (free_obj) {
            size_t l = strlen(freelist);
            snprintf(freelist + l, sizeof(freelist) - l, "%s%s0x%04X%s", l ? "," : "",
                     json ? "\"" : "", listed[i], json ? "\"" : "");
        }
    }
    if (json) {
        printf("{\"uid\":\"");
        for (i = 0; i < TRUSTM_UID_LEN; i++) printf("%02x", uidb[i]);
        printf("\",\"cim_id\":\"%02x\",\"platform_id\":\"%02x\",\"model_id\":\"%02x\","
               "\"rom_code\":\"%04x\",\"batch\":\"%02x%02x%02x%02x%02x%02x\","
               "\"x\":%u,\"y\":%u,\"firmware_id\":\"%08x\",\"esw_build\":\"%04x\","
               "\"product\":\"%s\",\"firmware\":\"%s\",\"lcs_global\":\"%s\","
               "\"lcs_application\":\"%s\",\"security_event_counter\":%u,"
               "\"current_limit_ma\":%u,\"max_com_buffer\":%u,\"free_objects\":[%s],"
               "\"shielded\":%s,\"bound\":%s,\"keys_shielded_only\":[%s],"
               "\"keys_plaintext_usable\":[%s]}\n",
               uid.cim_id, uid.platform_id, uid.model_id, uid.rom_code, uid.batch[0],
               uid.batch[1], uid.batch[2], uid.batch[3], uid.batch[4], uid.batch[5], uid.pos_x,
               uid.pos_y, (unsigned)uid.fw_id, uid.esw_build, product ? product : "unknown",
               fw ? fw : "unknown", lcs_word(lcsg), lcs_word(lcsa), sec, cur,
               (unsigned)(cbuf[0] << 8 | cbuf[1]), freelist, d.protect ? "true" : "false",
               bound ? "true" : "false", shielded, plain);
    } else {
        printf("device:                 %s%s\n", d.what, d.protect ? " (shielded connection)" : "");
        printf("coprocessor UID:        ");
        print_hex(uidb, TRUSTM_UID_LEN);
        printf("  CIM / platform / model: %02X / %02X / %02X\n", uid.cim_id, uid.platform_id,
               uid.model_id);
        printf("  ROM code:             %04X\n", uid.rom_code);
        printf("  batch:                %02X%02X%02X%02X%02X%02X, wafer position %u,%u\n",
               uid.batch[0], uid.batch[1], uid.batch[2], uid.batch[3], uid.batch[4],
               uid.batch[5], uid.pos_x, uid.pos_y);
        printf("  firmware:             %08X build %04X (%s %s)\n", (unsigned)uid.fw_id,
               uid.esw_build, product ? product : "unknown", fw ? fw : "");
        printf("life cycle:             global %s, application %s\n", lcs_word(lcsg),
               lcs_word(lcsa));
        printf("security event counter: %u\n", sec);
        printf("current limit:          %u mA\n", cur);
        printf("max com buffer:         %u bytes\n", (unsigned)(cbuf[0] << 8 | cbuf[1]));
        printf("free objects:           %s\n", freelist[0] ? freelist : "none");
        printf("platform binding:       %s\n",
               bound ? "bound (secret in 0xE140, locked)" : "not bound (0xE140 holds no locked secret)");
        printf("keys bound to it:       %s%s\n", shielded[0] ? shielded : "none",
               shielded[0] ? " (Execute Conf(0xE140): used only over the shielded connection)" : "");
        printf("keys usable unshielded: %s\n", plain[0] ? plain : "none");
    }
    rc = 0;
out:
    dev_close(&d);
    return rc;
}

/* ---- data ------------------------------------------------------------------ */

int cmd_data(int argc, char **argv)
{
    bool help = false, erase = false;
    const char *oid_s = NULL, *in = NULL, *hex = NULL, *out = NULL, *off_s = NULL, *len_s = NULL;
    const struct opt opts[] = {{"--oid", 1, &oid_s, NULL},   {"--in", 1, &in, NULL},
                               {"--hex", 1, &hex, NULL},     {"--out", 1, &out, NULL},
                               {"--offset", 1, &off_s, NULL}, {"--length", 1, &len_s, NULL},
                               {"--erase", 0, NULL, &erase}, {NULL, 0, NULL, NULL}};
    const char *pos[1];
    int np, rc = 1;
    uint16_t oid;
    unsigned long off = 0, len = 0;
    struct dev d;
    size_t max_size = 0, used = 0;

    if (parse_opts(argc, argv, opts, pos, 1, &np, &help) != 0) return 1;
    if (help || np == 0)
        HELP("usage: trustm data read  --oid 0xF1D0 [--offset N] [--length N] [--out FILE]\n"
             "       trustm data write --oid 0xF1D0 (--in FILE | --hex HEX) [--offset N] [--erase]\n"
             "read prints hex unless --out is given (raw bytes to FILE, '-' = stdout).\n"
             "write refuses data that does not fit the object (checked before writing),\n"
             "and reads the object back afterwards. --erase clears the object first.\n");
    if (strcmp(pos[0], "read") != 0 && strcmp(pos[0], "write") != 0) {
        return fail("data: unknown action '%s' (read or write)", pos[0]);
    }
    if (oid_s == NULL || parse_oid(oid_s, &oid) != 0) {
        return fail("data: --oid must be an object id 0xE000..0xFFFF (e.g. --oid 0xF1D0)");
    }
    /* Key objects are not refused here: the chip is the one that refuses
     * (access condition NEV), and 'data read' shows it. */
    if (off_s != NULL && parse_uint(off_s, 0, 0x7FFF, &off) != 0) {
        return fail("data: bad --offset '%s'", off_s);
    }
    if (len_s != NULL && parse_uint(len_s, 1, 0x7FFF, &len) != 0) {
        return fail("data: bad --length '%s'", len_s);
    }
    if (!strcmp(pos[0], "read")) {
        uint8_t *buf;
        size_t n = 0;
        tma_status st;
        if (in != NULL || hex != NULL || erase) {
            return fail("data read: --in/--hex/--erase belong to 'data write'");
        }
        if (dev_open(&d) != 0) return 1;
        buf = malloc(0x8000);
        if (buf == NULL) {
            dev_close(&d);
            return fail("out of memory");
        }
        st = trustm_read_data(&d.chip, d.protect, oid, (uint16_t)off, buf,
                              len ? len : 0x8000 - off, &n);
        if (st == TMA_CHIP_ERROR(0x08) && off == 0) {
            n = 0;
            st = TMA_OK;
        }
        if (st != TMA_OK) {
            fail_st(st, "data read: cannot read 0x%04X", oid);
        } else {
            rc = write_or_hex(out, buf, n);
        }
        free(buf);
        dev_close(&d);
        return rc;
    }
    if (!strcmp(pos[0], "write")) {
        uint8_t *data = NULL;
        size_t dl = 0;
        uint8_t *old;
        size_t ol = 0;
        tma_status st;
        if ((in == NULL) == (hex == NULL)) {
            return fail("data write: give exactly one of --in FILE or --hex HEX");
        }
        if (in != NULL) {
            if (read_file(in, &data, &dl, 0x8000) != 0) return 1;
        } else {
            long l;
            data = malloc(strlen(hex) / 2 + 1);
            if (data == NULL) return fail("out of memory");
            l = parse_hex(hex, data, strlen(hex) / 2 + 1);
            if (l < 0) {
                free(data);
                return fail("data write: --hex is not valid hex");
            }
            dl = (size_t)l;
        }
        if (dev_open(&d) != 0) {
            free(data);
            return 1;
        }
        if (obj_sizes(&d, oid, &max_size, &used) != 0) goto wout;
        if (off + dl > max_size) {
            fail("data write: %zu bytes at offset %lu do not fit 0x%04X (%zu bytes); nothing written",
                 dl, off, oid, max_size);
            goto wout;
        }
        if (dl == 0 && !erase) {
            fail("data write: nothing to write");
            goto wout;
        }
        old = malloc(max_size + 1);
        if (old == NULL) {
            fail("out of memory");
            goto wout;
        }
        if (obj_read(&d, oid, old, max_size, &ol) != 0) {
            free(old);
            goto wout;
        }
        if (erase || off == 0) {
            /* Whole-object replacement (or erase): with rollback. */
            if (erase || dl >= ol) {
                rc = obj_replace(&d, oid, data, dl, old, ol);
            } else {
                st = trustm_write_data(&d.chip, d.protect, oid, TRUSTM_WRITE, 0, data, dl);
                rc = st == TMA_OK ? 0 : fail_st(st, "data write: cannot write 0x%04X", oid);
            }
        } else {
            st = trustm_write_data(&d.chip, d.protect, oid, TRUSTM_WRITE, (uint16_t)off, data, dl);
            rc = st == TMA_OK ? 0 : fail_st(st, "data write: cannot write 0x%04X", oid);
        }
        free(old);
        if (rc == 0) printf("wrote %zu bytes to 0x%04X at offset %lu\n", dl, oid, off);
    wout:
        free(data);
        dev_close(&d);
        return rc;
    }
    return fail("data: unknown action '%s' (read or write)", pos[0]);
}

/* ---- metadata ---------------------------------------------------------- */

static void render_ac(const struct tma_span *s, char *out, size_t cap)
{
    if (s->ptr == NULL) {
        snprintf(out, cap, "NEV (absent)");
    } else if (trustm_ac_render(s->ptr, s->len, out, cap) != TMA_OK) {
        snprintf(out, cap, "invalid");
    }
}

int cmd_metadata(int argc, char **argv)
{
    bool help = false, json = false;
    const char *oid_s = NULL, *chg = NULL, *rd = NULL, *ex = NULL, *type_s = NULL, *raw = NULL,
               *ku_s = NULL;
    const struct opt opts[] = {{"--oid", 1, &oid_s, NULL},     {"--json", 0, NULL, &json},
                               {"--change", 1, &chg, NULL},    {"--read", 1, &rd, NULL},
                               {"--execute", 1, &ex, NULL},    {"--type", 1, &type_s, NULL},
                               {"--key-usage", 1, &ku_s, NULL}, {"--raw", 1, &raw, NULL},
                               {NULL, 0, NULL, NULL}};
    const char *pos[1];
    int np, rc = 1;
    uint16_t oid;
    struct dev d;

    if (parse_opts(argc, argv, opts, pos, 1, &np, &help) != 0) return 1;
    if (help || np == 0)
        HELP("usage: trustm metadata show --oid 0xE0E1 [--json]\n"
             "       trustm metadata set  --oid 0xF1D0 [--change AC] [--read AC] [--execute AC]\n"
             "                            [--type 0xNN] [--key-usage 0xNN] | --raw 20LL...\n"
             "show decodes the metadata into words: life cycle, sizes, access conditions,\n"
             "algorithm, key usage, object type, version, the metadata-update condition (D8)\n"
             "and the reset type (F0).\n"
             "AC in the words 'show' prints: ALW, NEV, 'LcsO < op', 'Conf(0xE140)', Int(..),\n"
             "Auto(..), Luc(..), SecStaG(..), joined by && and ||; or the condition bytes in\n"
             "hex (e.g. E1FC07).\n"
             "Locking (LcsO = op) is done with 'trustm lock', never here.\n");
    if (strcmp(pos[0], "show") != 0 && strcmp(pos[0], "set") != 0) {
        return fail("metadata: unknown action '%s' (show or set)", pos[0]);
    }
    if (oid_s == NULL || parse_oid(oid_s, &oid) != 0) {
        return fail("metadata: --oid must be an object id 0xE000..0xFFFF (e.g. --oid 0xE0E1)");
    }
    if (!strcmp(pos[0], "show")) {
        uint8_t md[64];
        size_t n = 0;
        struct trustm_md m;
        char c[128], r[128], e[128], mu[128] = "", rt[64] = "", ku[64] = "";
        tma_status st;
        if (dev_open(&d) != 0) return 1;
        st = trustm_read_metadata(&d.chip, d.protect, oid, md, sizeof(md), &n);
        if (st != TMA_OK) {
            fail_st(st, "metadata show: cannot read the metadata of 0x%04X", oid);
            goto sout;
        }
        if (trustm_md_decode(md, n, &m) != TMA_OK) {
            fail("metadata show: metadata of 0x%04X does not decode", oid);
            goto sout;
        }
        render_ac(&m.change, c, sizeof(c));
        render_ac(&m.read, r, sizeof(r));
        render_ac(&m.execute, e, sizeof(e));
        if (m.present & TRUSTM_MDF_KEY_USAGE) (void)trustm_key_usage_render(m.key_usage, ku, sizeof(ku));
        if (m.present & TRUSTM_MDF_MUPD) render_ac(&m.mupd, mu, sizeof(mu));
        if (m.present & TRUSTM_MDF_RESET_TYPE) reset_type_words(m.reset_type, rt, sizeof(rt));
        if (json) {
            size_t i;
            printf("{\"oid\":\"0x%04X\",\"raw\":\"", oid);
            for (i = 0; i < n; i++) printf("%02x", md[i]);
            printf("\",\"lcso\":\"%s\"", (m.present & TRUSTM_MDF_LCSO) ? lcs_word(m.lcso) : "op (absent)");
            if (m.present & TRUSTM_MDF_MAX_SIZE) printf(",\"max_size\":%u", m.max_size);
            if (m.present & TRUSTM_MDF_USED_SIZE) printf(",\"used_size\":%u", m.used_size);
            printf(",\"change\":\"%s\",\"read\":\"%s\",\"execute\":\"%s\"", c, r, e);
            if (m.present & TRUSTM_MDF_ALGORITHM) printf(",\"algorithm\":\"%s\"", trustm_alg_name(m.algorithm) ? trustm_alg_name(m.algorithm) : "?");
            if (m.present & TRUSTM_MDF_KEY_USAGE) printf(",\"key_usage\":\"%s\"", ku);
            if (m.present & TRUSTM_MDF_TYPE) printf(",\"type\":\"%s\"", trustm_md_type_name(m.type) ? trustm_md_type_name(m.type) : "?");
            if (m.present & TRUSTM_MDF_VERSION) printf(",\"version\":%u", m.version);
            if (m.present & TRUSTM_MDF_MUPD) printf(",\"metadata_update\":\"%s\"", mu);
            if (m.present & TRUSTM_MDF_RESET_TYPE) printf(",\"reset_type\":\"%s\"", rt);
            printf("}\n");
        } else {
            printf("object 0x%04X metadata: ", oid);
            print_hex(md, n);
            printf("  life cycle (LcsO): %s\n", (m.present & TRUSTM_MDF_LCSO) ? lcs_word(m.lcso) : "op (absent)");
            if (m.present & TRUSTM_MDF_MAX_SIZE) printf("  max size:          %u\n", m.max_size);
            if (m.present & TRUSTM_MDF_USED_SIZE) printf("  used size:         %u\n", m.used_size);
            printf("  change:            %s\n  read:              %s\n  execute:           %s%s\n", c, r, e,
                   m.execute.ptr != NULL && m.execute.len == 3 && m.execute.ptr[0] == 0x20 &&
                           m.execute.ptr[1] == 0xE1 && m.execute.ptr[2] == 0x40
                       ? " (only a protected command under the platform binding; bound key)"
                       : "");
            if (m.present & TRUSTM_MDF_ALGORITHM) printf("  algorithm:         %s\n", trustm_alg_name(m.algorithm) ? trustm_alg_name(m.algorithm) : "?");
            if (m.present & TRUSTM_MDF_KEY_USAGE) printf("  key usage:         %s\n", ku);
            if (m.present & TRUSTM_MDF_TYPE) printf("  type:              %s\n", trustm_md_type_name(m.type) ? trustm_md_type_name(m.type) : "?");
            if (m.present & TRUSTM_MDF_VERSION) printf("  version:           %u\n", m.version);
            if (m.present & TRUSTM_MDF_MUPD) printf("  metadata update:   %s (protected metadata update)\n", mu);
            if (m.present & TRUSTM_MDF_RESET_TYPE) printf("  reset type:        %s\n", rt);
        }
        rc = 0;
    sout:
        dev_close(&d);
        return rc;
    }
    if (!strcmp(pos[0], "set")) {
        uint8_t md[TRUSTM_MD_MAX + 8];
        size_t ml = 0;
        if (raw != NULL) {
            long l;
            struct trustm_md m;
            if (chg || rd || ex || type_s || ku_s) {
                return fail("metadata set: --raw excludes the other options");
            }
            l = parse_hex(raw, md, sizeof(md));
            if (l <= 0 || trustm_md_decode(md, (size_t)l, &m) != TMA_OK) {
                return fail("metadata set: --raw is not a valid metadata container (20 LL ...)");
            }
            if ((m.present & TRUSTM_MDF_LCSO) && m.lcso == TRUSTM_LCS_OPERATIONAL) {
                return fail("metadata set: locking goes through 'trustm lock --yes'");
            }
            ml = (size_t)l;
        } else {
            struct trustm_md_builder b;
            uint8_t ac[32];
            size_t al;
            unsigned long v;
            if (!chg && !rd && !ex && !type_s && !ku_s) {
                return fail("metadata set: nothing to set (see --help)");
            }
            trustm_md_begin(&b, md, sizeof(md));
            if (chg) {
                if (parse_ac_arg(chg, ac, sizeof(ac), &al) != 0) return fail("metadata set: bad --change '%s'", chg);
                trustm_md_add(&b, TRUSTM_MD_CHANGE, ac, al);
            }
            if (rd) {
                if (parse_ac_arg(rd, ac, sizeof(ac), &al) != 0) return fail("metadata set: bad --read '%s'", rd);
                trustm_md_add(&b, TRUSTM_MD_READ, ac, al);
            }
            if (ex) {
                if (parse_ac_arg(ex, ac, sizeof(ac), &al) != 0) return fail("metadata set: bad --execute '%s'", ex);
                trustm_md_add(&b, TRUSTM_MD_EXECUTE, ac, al);
            }
            if (type_s) {
                if (parse_uint(type_s, 0, 0xFF, &v) != 0 || trustm_md_type_name((uint8_t)v) == NULL)
                    return fail("metadata set: bad --type '%s' (e.g. 0x00 BSTR, 0x11 TA, 0x12 DEVCERT)", type_s);
                trustm_md_add_u8(&b, TRUSTM_MD_TYPE, (uint8_t)v);
            }
            if (ku_s) {
                if (parse_uint(ku_s, 1, 0xFF, &v) != 0) return fail("metadata set: bad --key-usage '%s'", ku_s);
                trustm_md_add_u8(&b, TRUSTM_MD_KEY_USAGE, (uint8_t)v);
            }
            if (trustm_md_end(&b, &ml) != TMA_OK) {
                return fail("metadata set: metadata longer than %u bytes", TRUSTM_MD_MAX);
            }
        }
        if (dev_open(&d) != 0) return 1;
        {
            tma_status st = trustm_write_metadata(&d.chip, d.protect, oid, md, ml);
            if (st != TMA_OK) {
                fail_st(st, "metadata set: 0x%04X refused the change", oid);
            } else {
                printf("metadata of 0x%04X updated\n", oid);
                rc = 0;
            }
        }
        dev_close(&d);
        return rc;
    }
    return fail("metadata: unknown action '%s' (show or set)", pos[0]);
}

/* ---- lock ------------------------------------------------------------------ */

int cmd_lock(int argc, char **argv)
{
    bool help = false, yes = false;
    const char *oids = NULL;
    const struct opt opts[] = {{"--oid", 1, &oids, NULL}, {"--yes", 0, NULL, &yes},
                               {NULL, 0, NULL, NULL}};
    uint16_t list[16];
    int nl = 0, np, i, rc = 0;
    struct dev d;
    char tmp[200];
    char *tok, *save = NULL;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm lock --oid 0xE0E1[,0xE0E8,...] --yes\n"
             "Moves each object's life cycle (LcsO) to operational. Access conditions written\n"
             "as 'LcsO < op' then freeze for good: this cannot be undone, hence --yes.\n");
    if (oids == NULL || strlen(oids) >= sizeof(tmp)) {
        return fail("lock: --oid is required (comma-separated list)");
    }
    strcpy(tmp, oids);
    /* Every item an object id: an empty list or item (',', '0xE0E1,,') is
     * refused, not skipped, so nothing locks less than what was asked. */
    if (tmp[0] == '\0' || tmp[0] == ',' || tmp[strlen(tmp) - 1] == ',' || strstr(tmp, ",,") != NULL) {
        return fail("lock: --oid needs object ids separated by single commas, not '%s'", oids);
    }
    for (tok = strtok_r(tmp, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (nl >= 16 || parse_oid(tok, &list[nl]) != 0) {
            return fail("lock: bad object id '%s'", tok);
        }
        nl++;
    }
    if (!yes) {
        return fail("lock: this is irreversible; add --yes to lock %s", oids);
    }
    if (dev_open(&d) != 0) return 1;
    for (i = 0; i < nl; i++) {
        tma_status st = trustm_set_lcso(&d.chip, d.protect, list[i], TRUSTM_LCS_OPERATIONAL);
        if (st != TMA_OK) {
            rc = fail_st(st, "lock: 0x%04X could not be locked", list[i]);
            break;
        }
        if (!g.quiet) printf("0x%04X locked (LcsO = op)\n", list[i]);
    }
    dev_close(&d);
    return rc;
}

/* ---- current-limit --------------------------------------------------------- */

int cmd_current_limit(int argc, char **argv)
{
    bool help = false;
    const char *set = NULL;
    const struct opt opts[] = {{"--set", 1, &set, NULL}, {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    unsigned long v = 0;
    struct dev d;
    uint8_t cur;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm current-limit [--set MA]\n"
             "Shows the chip's current limitation (0xE0C4), or sets it (6..15 mA).\n");
    if (set != NULL && parse_uint(set, 6, 15, &v) != 0) {
        return fail("current-limit: --set takes 6..15 (mA), got '%s'", set);
    }
    if (dev_open(&d) != 0) return 1;
    if (set != NULL) {
        uint8_t b = (uint8_t)v;
        tma_status st = trustm_write_data(&d.chip, d.protect, 0xE0C4, TRUSTM_WRITE, 0, &b, 1);
        if (st != TMA_OK) {
            fail_st(st, "current-limit: cannot set");
            goto out;
        }
    }
    if (read_u8(&d, 0xE0C4, &cur) == 0) {
        printf("%u mA\n", cur);
        rc = 0;
    }
out:
    dev_close(&d);
    return rc;
}

/* ---- random ---------------------------------------------------------------- */

int cmd_random(int argc, char **argv)
{
    bool help = false;
    const char *len_s = NULL, *out = NULL;
    const struct opt opts[] = {{"--length", 1, &len_s, NULL}, {"--out", 1, &out, NULL},
                               {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    unsigned long len = 32;
    struct dev d;
    uint8_t buf[256];
    tma_status st;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm random [--length N] [--out FILE]\n"
             "N random bytes (8..256, default 32) from the chip's TRNG, as hex, or raw\n"
             "into FILE.\n");
    if (len_s != NULL && parse_uint(len_s, 8, 256, &len) != 0) {
        return fail("random: --length takes 8..256, got '%s'", len_s);
    }
    if (dev_open(&d) != 0) return 1;
    st = trustm_get_random(&d.chip, d.protect, TRUSTM_RNG_TRNG, buf, len);
    if (st != TMA_OK) {
        fail_st(st, "random: GetRandom failed");
    } else {
        rc = write_or_hex(out, buf, len);
    }
    dev_close(&d);
    return rc;
}

/* ---- counter --------------------------------------------------------------- */

int cmd_counter(int argc, char **argv)
{
    bool help = false;
    const char *oid_s = NULL, *step_s = NULL;
    const struct opt opts[] = {{"--oid", 1, &oid_s, NULL}, {"--step", 1, &step_s, NULL},
                               {NULL, 0, NULL, NULL}};
    const char *pos[1];
    int np, rc = 1;
    uint16_t oid;
    unsigned long step = 1;
    struct dev d;
    uint32_t v = 0, th = 0;
    tma_status st;

    if (parse_opts(argc, argv, opts, pos, 1, &np, &help) != 0) return 1;
    if (help || np == 0)
        HELP("usage: trustm counter read --oid 0xE120\n"
             "       trustm counter add  --oid 0xE120 [--step N]\n"
             "Monotonic counters 0xE120..0xE123: value and threshold; add advances by N\n"
             "(1..255) and fails once the threshold is reached.\n");
    if (strcmp(pos[0], "read") != 0 && strcmp(pos[0], "add") != 0) {
        return fail("counter: unknown action '%s' (read or add)", pos[0]);
    }
    if (oid_s == NULL || parse_oid(oid_s, &oid) != 0 || oid < 0xE120 || oid > 0xE123) {
        return fail("counter: --oid must be 0xE120..0xE123");
    }
    if (step_s != NULL && parse_uint(step_s, 1, 255, &step) != 0) {
        return fail("counter: --step takes 1..255");
    }
    if (strcmp(pos[0], "read") != 0 && strcmp(pos[0], "add") != 0) {
        return fail("counter: unknown action '%s' (read or add)", pos[0]);
    }
    if (dev_open(&d) != 0) return 1;
    if (!strcmp(pos[0], "add")) {
        st = trustm_counter_add(&d.chip, d.protect, oid, (uint8_t)step);
        if (st != TMA_OK) {
            fail_st(st, "counter add: 0x%04X", oid);
            goto out;
        }
    }
    st = trustm_counter_read(&d.chip, d.protect, oid, &v, &th);
    if (st != TMA_OK) {
        fail_st(st, "counter read: 0x%04X", oid);
        goto out;
    }
    printf("value %u threshold %u\n", (unsigned)v, (unsigned)th);
    rc = 0;
out:
    dev_close(&d);
    return rc;
}
