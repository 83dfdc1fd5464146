/* Key-value commands and answers as text and JSON (kvtext.h). */
#include "src/kvtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/util.h"

json_t *kvtext_json(const uint8_t *p, size_t len, int *escaped)
{
    if (escaped)
        *escaped = 0;
    json_t *v = len == 0            ? json_string("")
                : memchr(p, 0, len) ? NULL
                                    : json_stringn((const char *)p, len);
    if (v)
        return v;
    size_t cap = DL_PRINTABLE_CAP(len), o = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    /* dl_printable stops at a NUL: escape each NUL here, and the bytes
     * between them there. */
    out[0] = 0;
    for (size_t i = 0; i < len;) {
        const uint8_t *z = memchr(p + i, 0, len - i);
        size_t seg = z ? (size_t)(z - (p + i)) : len - i;
        dl_printable(out + o, cap - o, (const char *)p + i, seg);
        o += strlen(out + o);
        i += seg;
        if (z) {
            memcpy(out + o, "\\x00", 5);
            o += 4;
            i++;
        }
    }
    v = json_string(out);
    free(out);
    if (escaped)
        *escaped = 1;
    return v;
}

const char *kvtext_quote(char *out, size_t cap, const uint8_t *p, size_t len, size_t max)
{
    size_t show = max && len > max ? max : len;
    bool quote = show == 0 || memchr(p, ' ', show) != NULL;
    size_t at = 0;
    if (cap == 0)
        return out;
    out[0] = 0;
    if (quote && at + 1 < cap)
        out[at++] = '"';
    for (size_t i = 0; i < show && at + 5 < cap; i++) {
        unsigned char ch = p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '"')
            out[at++] = (char)ch;
        else
            at += (size_t)snprintf(out + at, cap - at, "\\x%02x", ch);
    }
    if (quote && at + 1 < cap)
        out[at++] = '"';
    out[at < cap ? at : cap - 1] = 0;
    if (show < len)
        snprintf(out + at, cap - at, "...(%zu bytes)", len);
    return out;
}

const char *kvtext_cmd(char *out, size_t cap, const struct kv_cmd *c, size_t max)
{
    char k[4 * KV_MAX_KEY + 32], a[4 * 64 + 32], b[4 * 64 + 32];
    size_t vmax = max ? max : 64;
    kvtext_quote(k, sizeof k, c->key, c->klen, 0);
    const char *name = kv_op_name(c->op);
    if (c->op == KV_GET)
        snprintf(out, cap, "%s %s", name, k);
    else if (c->op == KV_CAS)
        snprintf(out, cap, "%s %s %s %s", name, k, kvtext_quote(a, sizeof a, c->a, c->alen, vmax),
                 kvtext_quote(b, sizeof b, c->b, c->blen, vmax));
    else
        snprintf(out, cap, "%s %s %s", name ? name : "?", k,
                 kvtext_quote(a, sizeof a, c->a, c->alen, vmax));
    return out;
}

static void set(json_t *o, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(o, key, v);
}

void kvtext_cmd_fields(json_t *o, const struct kv_cmd *c)
{
    set(o, "op", json_string(kv_op_name(c->op)));
    set(o, "key", kvtext_json(c->key, c->klen, NULL));
    if (c->op == KV_PUT || c->op == KV_APPEND)
        set(o, "value", kvtext_json(c->a, c->alen, NULL));
    else if (c->op == KV_CAS) {
        set(o, "value", kvtext_json(c->b, c->blen, NULL));
        set(o, "expect", kvtext_json(c->a, c->alen, NULL));
    }
    if (c->tlen)
        set(o, "tag", kvtext_json(c->tag, c->tlen, NULL));
}

void kvtext_answer_fields(json_t *o, int op, const uint8_t *ans, size_t len)
{
    if (len < 1 || ans[0] >= KV_STATUS_COUNT) {
        set(o, "status", json_string("malformed"));
        return;
    }
    set(o, "status", json_string(kv_status_name(ans[0])));
    if (ans[0] == KV_OK && op == KV_GET)
        set(o, "value", kvtext_json(ans + 1, len - 1, NULL));
    else if (ans[0] == KV_MISMATCH)
        set(o, "current", kvtext_json(ans + 1, len - 1, NULL));
}
