/* Application, data object, metadata, counter and protected-update commands. */
#include <string.h>

#include "apdu.h"

static const uint8_t aid[16] = {0xD2, 0x76, 0x00, 0x00, 0x04, 0x47, 0x65, 0x6E,
                                0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

tma_status trustm_open_app(struct trustm *t, uint8_t protect, const uint8_t *handle)
{
    struct apdu a;
    apdu_begin(&a, CMD_OPEN_APP, handle != NULL);
    apdu_put(&a, aid, sizeof(aid));
    if (handle != NULL) {
        apdu_put(&a, handle, 8);
    }
    return apdu_exec(t, protect, &a, NULL, 0, NULL);
}

tma_status trustm_close_app(struct trustm *t, uint8_t protect, uint8_t *out_handle)
{
    struct apdu a;
    size_t n = 0;
    tma_status st;

    apdu_begin(&a, CMD_CLOSE_APP, out_handle != NULL);
    st = apdu_exec(t, protect, &a, out_handle, out_handle != NULL ? 8u : 0u, &n);
    if (st == TMA_OK && out_handle != NULL && n != 8) {
        st = CMD_ERR(TMA_C_MALFORMED);
    }
    return st;
}

/* GetDataObject: Param 0 data (OID, offset, length) or 1 metadata (OID). */
static tma_status get(struct trustm *t, uint8_t protect, uint8_t param, uint16_t oid,
                      size_t offset, size_t want, uint8_t *buf, size_t *out_len)
{
    struct apdu a;
    apdu_begin(&a, CMD_GET_DATA, param);
    apdu_u16(&a, oid);
    if (param == 0) {
        apdu_u16(&a, (unsigned)offset);
        apdu_u16(&a, (unsigned)want);
    }
    return apdu_exec(t, protect, &a, buf, want, out_len);
}

tma_status trustm_read_data(struct trustm *t, uint8_t protect, uint16_t oid, uint16_t offset,
                            uint8_t *buf, size_t cap, size_t *out_len)
{
    size_t done = 0;
    tma_status st = TMA_OK;

    if (out_len == NULL || (buf == NULL && cap != 0)) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    *out_len = 0;
    if (cap > 0xFFFFu - offset) {
        cap = 0xFFFFu - offset; /* objects are addressed with 16-bit offsets */
    }
    while (done < cap) {
        size_t want = cap - done;
        size_t n = 0;
        if (want > TRUSTM_READ_CHUNK) {
            want = TRUSTM_READ_CHUNK;
        }
        st = get(t, protect, 0, oid, offset + done, want, buf + done, &n);
        if (st != TMA_OK) {
            /* Past the end on a follow-up chunk: the data simply ended. */
            if (done > 0 && st == TMA_CHIP_ERROR(0x08)) {
                st = TMA_OK;
            }
            break;
        }
        done += n;
        if (n < want) {
            break;
        }
    }
    *out_len = done;
    return st;
}

static tma_status set(struct trustm *t, uint8_t protect, uint8_t param, uint16_t oid,
                      size_t offset, const uint8_t *data, size_t len)
{
    struct apdu a;
    apdu_begin(&a, CMD_SET_DATA, param);
    apdu_u16(&a, oid);
    apdu_u16(&a, (unsigned)offset);
    apdu_put(&a, data, len);
    return apdu_exec(t, protect, &a, NULL, 0, NULL);
}

tma_status trustm_write_data(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t mode,
                             uint16_t offset, const uint8_t *data, size_t len)
{
    size_t done = 0;
    tma_status st;

    if ((data == NULL && len != 0) || len > 0xFFFFu - offset ||
        (mode != TRUSTM_WRITE && mode != TRUSTM_WRITE_ERASE)) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    do {
        size_t n = len - done;
        if (n > TRUSTM_WRITE_CHUNK) {
            n = TRUSTM_WRITE_CHUNK;
        }
        st = set(t, protect, done == 0 ? mode : TRUSTM_WRITE, oid, offset + done,
                 data == NULL ? NULL : data + done, n);
        done += n;
    } while (st == TMA_OK && done < len);
    return st;
}

tma_status trustm_erase_data(struct trustm *t, uint8_t protect, uint16_t oid)
{
    return set(t, protect, TRUSTM_WRITE_ERASE, oid, 0, NULL, 0);
}

tma_status trustm_read_metadata(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t *buf,
                                size_t cap, size_t *out_len)
{
    if (buf == NULL || out_len == NULL) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    return get(t, protect, 1, oid, 0, cap, buf, out_len);
}

tma_status trustm_write_metadata(struct trustm *t, uint8_t protect, uint16_t oid,
                                 const uint8_t *md, size_t len)
{
    if (md == NULL || len < 2 || md[0] != 0x20 || md[1] != len - 2) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    return set(t, protect, 0x01, oid, 0, md, len);
}

tma_status trustm_set_lcso(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t lcs)
{
    uint8_t md[5];
    if (lcs != 0x01 && lcs != 0x03 && lcs != 0x07 && lcs != 0x0F) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    md[0] = 0x20;
    md[1] = 0x03;
    md[2] = 0xC0;
    md[3] = 0x01;
    md[4] = lcs;
    return set(t, protect, 0x01, oid, 0, md, sizeof(md));
}

tma_status trustm_counter_add(struct trustm *t, uint8_t protect, uint16_t oid, uint8_t step)
{
    if (step == 0) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    return set(t, protect, 0x02, oid, 0, &step, 1);
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
    st = get(t, protect, 0, oid, 0, sizeof(b), b, &n);
    if (st == TMA_OK && n != sizeof(b)) {
        st = CMD_ERR(TMA_C_MALFORMED);
    }
    if (st == TMA_OK) {
        *out_value = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
        *out_threshold =
            ((uint32_t)b[4] << 24) | ((uint32_t)b[5] << 16) | ((uint32_t)b[6] << 8) | b[7];
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
    apdu_begin(&a, CMD_SET_PROTECTED, 0x01);
    apdu_tlv(&a, tag, data, len);
    return apdu_exec(t, protect, &a, NULL, 0, NULL);
}

tma_status trustm_protected_update(struct trustm *t, uint8_t protect, const uint8_t *manifest,
                                   size_t manifest_len, const uint8_t *payload,
                                   size_t payload_len)
{
    size_t done = 0;
    tma_status st;

    if (payload == NULL || payload_len == 0) {
        return CMD_ERR(TMA_C_BAD_PARAM);
    }
    st = trustm_set_object_protected(t, protect, TRUSTM_UPD_MANIFEST, manifest, manifest_len);
    while (st == TMA_OK && done < payload_len) {
        size_t n = payload_len - done;
        uint8_t tag = TRUSTM_UPD_FINAL;
        if (n > TRUSTM_UPD_FRAGMENT) {
            n = TRUSTM_UPD_FRAGMENT;
            tag = TRUSTM_UPD_CONTINUE;
        }
        st = trustm_set_object_protected(t, protect, tag, payload + done, n);
        done += n;
    }
    return st;
}
