/* Application, data object, metadata, counter and protected-update commands. */
#include "apdu.h"

static const uint8_t aid[16] = {0xD2, 0x76, 0x00, 0x00, 0x04, 0x47, 0x65, 0x6E,
                                0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

tma_status trustm_open_app(struct trustm *t, uint8_t protect, const uint8_t *handle)
{
    struct apdu a;
    apdu_begin(&a, t, protect, CMD_OPEN_APP << 8 | (handle != NULL));
    apdu_put(&a, aid, sizeof(aid));
    apdu_put(&a, handle, handle != NULL ? 8u : 0u);
    return apdu_exec(&a, NULL, 0);
}

tma_status trustm_close_app(struct trustm *t, uint8_t protect, uint8_t *out_handle)
{
    struct apdu a;
    unsigned save = out_handle != NULL;

    apdu_begin(&a, t, protect, CMD_CLOSE_APP << 8 | save);
    /* an 8-byte handle, or without saving nothing at all (else TOO_SMALL) */
    return apdu_exec_n(&a, out_handle, 8u * save);
}

tma_status trustm_read_data(struct trustm *t, uint8_t protect, uint16_t oid, uint16_t offset,
                            uint8_t *buf, size_t cap, size_t *out_len)
{
    size_t done = 0;
    tma_status st = TMA_OK;

    if (out_len == NULL || (buf == NULL && cap != 0)) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    if (cap > 0xFFFFu - offset) {
        cap = 0xFFFFu - offset; /* objects are addressed with 16-bit offsets */
    }
    while (done < cap) {
        struct apdu a;
        size_t want = cap - done;
        if (want > TRUSTM_READ_CHUNK) {
            want = TRUSTM_READ_CHUNK;
        }
        /* GetDataObject Param 0: OID, offset, length */
        apdu_begin(&a, t, protect, CMD_GET_DATA << 8);
        apdu_be(&a, (uint32_t)oid << 16 | (uint32_t)(offset + done), 4);
        apdu_be(&a, (uint32_t)want, 2);
        st = apdu_exec(&a, buf + done, want);
        if (st != TMA_OK) {
            /* Past the end on a follow-up chunk: the data simply ended. */
            if (done > 0 && st == TMA_CHIP_ERROR(0x08)) {
                st = TMA_OK;
            }
            break;
        }
        done += a.total;
        if (a.total < want) {
            break;
        }
    }
    *out_len = done;
    return st;
}

/* SetDataObject in chunks; Param = mode for the first, plain write after.
 * Same arguments as trustm_write_data(), which only checks them first. */
static tma_status set(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t mode,
                      uint16_t offset, const uint8_t *data, size_t len)
{
    size_t done = 0;
    tma_status st;

    do {
        struct apdu a;
        size_t n = len - done;
        if (n > TRUSTM_WRITE_CHUNK) {
            n = TRUSTM_WRITE_CHUNK;
        }
        apdu_begin(&a, t, protect, CMD_SET_DATA << 8 | (done == 0 ? mode : TRUSTM_WRITE));
        apdu_be(&a, (uint32_t)oid << 16 | (uint32_t)(offset + done), 4);
        apdu_put(&a, data == NULL ? NULL : data + done, n);
        st = apdu_exec(&a, NULL, 0);
        done += n;
    } while (st == TMA_OK && done < len);
    return st;
}

tma_status trustm_write_data(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t mode,
                             uint16_t offset, const uint8_t *data, size_t len)
{
    if ((data == NULL && len != 0) || len > 0xFFFFu - offset ||
        (mode != TRUSTM_WRITE && mode != TRUSTM_WRITE_ERASE)) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    return set(t, protect, oid, mode, offset, data, len);
}

tma_status trustm_erase_data(struct trustm *t, uint8_t protect, uint16_t oid)
{
    return set(t, protect, oid, TRUSTM_WRITE_ERASE, 0, NULL, 0);
}

tma_status trustm_read_metadata(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t *buf,
                                size_t cap, size_t *out_len)
{
    struct apdu a;
    tma_status st;

    if (buf == NULL || out_len == NULL) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    apdu_begin(&a, t, protect, CMD_GET_DATA << 8 | 0x01);
    apdu_be(&a, oid, 2);
    st = apdu_exec(&a, buf, cap);
    *out_len = a.total;
    return st;
}

tma_status trustm_write_metadata(struct trustm *t, uint8_t protect, uint16_t oid,
                                 const uint8_t *md, size_t len)
{
    if (md == NULL || len < 2 || md[0] != 0x20 || md[1] != len - 2) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    return set(t, protect, oid, 0x01, 0, md, len);
}

tma_status trustm_set_lcso(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t lcs)
{
    uint8_t md[5] = {0x20, 0x03, 0xC0, 0x01, 0};
    if (lcs > 0x0F || ((0x808Au >> lcs) & 1u) == 0) { /* 01, 03, 07, 0F */
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    md[4] = lcs;
    return set(t, protect, oid, 0x01, 0, md, sizeof(md));
}

tma_status trustm_counter_add(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t step)
{
    if (step == 0) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    return set(t, protect, oid, 0x02, 0, &step, 1);
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

tma_status trustm_counter_read(struct trustm *t, uint8_t protect, uint16_t oid,
                               uint32_t *out_value, uint32_t *out_threshold)
{
    uint8_t b[8];
    size_t n = 0;
    tma_status st;

    if (out_value == NULL || out_threshold == NULL) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    st = trustm_read_data(t, protect, oid, 0, b, sizeof(b), &n);
    if (st == TMA_OK && n != sizeof(b)) {
        st = CMD_ERR(TMA_C_MALFORMED);
    }
    if (st == TMA_OK) {
        *out_value = be32(b);
        *out_threshold = be32(b + 4);
    }
    return st;
}

tma_status trustm_set_object_protected(struct trustm *t, uint8_t protect, uint8_t tag,
                                       const uint8_t *data, size_t len)
{
    struct apdu a;

    if (data == NULL || len == 0 || tag < TRUSTM_UPD_MANIFEST || tag > TRUSTM_UPD_CONTINUE ||
        (tag == TRUSTM_UPD_CONTINUE && len != TRUSTM_UPD_FRAGMENT) ||
        (tag == TRUSTM_UPD_FINAL && len > TRUSTM_UPD_FRAGMENT)) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    apdu_begin(&a, t, protect, CMD_SET_PROTECTED << 8 | 0x01);
    apdu_tlv(&a, tag, data, len);
    return apdu_exec(&a, NULL, 0);
}

tma_status trustm_protected_update(struct trustm *t, uint8_t protect, const uint8_t *manifest,
                                   size_t manifest_len, const uint8_t *payload,
                                   size_t payload_len)
{
    const uint8_t *p = manifest;
    size_t n = manifest_len;
    uint8_t tag = TRUSTM_UPD_MANIFEST;
    size_t done = 0;
    tma_status st;

    if (payload == NULL || payload_len == 0) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    /* the manifest, then the payload in fragments (the last one FINAL) */
    for (;;) {
        st = trustm_set_object_protected(t, protect, tag, p, n);
        if (st != TMA_OK || done == payload_len) {
            return st;
        }
        p = payload + done;
        n = payload_len - done;
        tag = TRUSTM_UPD_FINAL;
        if (n > TRUSTM_UPD_FRAGMENT) {
            n = TRUSTM_UPD_FRAGMENT;
            tag = TRUSTM_UPD_CONTINUE;
        }
        done += n;
    }
}
