#include "ipc/wire.h"

#include <errno.h>
#include <string.h>

const char *wire_err_name(int err)
{
    static const char *const names[WIRE_ERR_COUNT] = {
        [WIRE_OK] = "ok",           [WIRE_ERR_SHORT] = "short",
        [WIRE_ERR_MAGIC] = "magic", [WIRE_ERR_VERSION] = "version",
        [WIRE_ERR_RUN] = "run",     [WIRE_ERR_FROM] = "from",
        [WIRE_ERR_TO] = "to",       [WIRE_ERR_LEN] = "length",
        [WIRE_ERR_FLAGS] = "flags", [WIRE_ERR_TYPE] = "type",
        [WIRE_ERR_BULK] = "bulk",   [WIRE_ERR_FIELD] = "field",
    };
    return err >= 0 && err < WIRE_ERR_COUNT ? names[err] : "unknown";
}

int wire_encode(void *buf, size_t cap, const struct wire_hdr *h, const void *payload)
{
    size_t total = sizeof *h + h->len;
    if (total > cap)
        return -EMSGSIZE;
    struct wire_hdr out = *h;
    out.magic = WIRE_MAGIC;
    out.version = WIRE_VERSION;
    memcpy(buf, &out, sizeof out);
    if (h->len)
        memcpy((char *)buf + sizeof out, payload, h->len);
    return (int)total;
}

int wire_decode(const void *buf, size_t size, uint32_t run_id, int self, int procs,
                struct wire_hdr *h, const uint8_t **payload)
{
    if (size < sizeof *h)
        return WIRE_ERR_SHORT;
    /* Copy out: the buffer may be unaligned and must not be trusted. */
    memcpy(h, buf, sizeof *h);
    if (h->magic != WIRE_MAGIC)
        return WIRE_ERR_MAGIC;
    if (h->version != WIRE_VERSION)
        return WIRE_ERR_VERSION;
    if (h->run_id != run_id)
        return WIRE_ERR_RUN;
    if ((int)h->from > procs || (int)h->from == self)
        return WIRE_ERR_FROM;
    if ((int)h->to != self)
        return WIRE_ERR_TO;
    if ((size_t)h->len != size - sizeof *h)
        return WIRE_ERR_LEN;
    if (h->flags & ~(WIRE_F_ALL | 0xffff0000u))
        return WIRE_ERR_FLAGS;
    if ((h->flags & WIRE_F_BULK) && h->len != sizeof(struct wire_bulk))
        return WIRE_ERR_FLAGS;
    *payload = (const uint8_t *)buf + sizeof *h;
    return WIRE_OK;
}
