#include "src/netspec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/config.h"

__attribute__((format(printf, 2, 3))) static int fail(char *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, NETSPEC_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A node id 1..n at *pp, advancing it. 0 if there is none or it is out of
 * range (*bad set to the value read, or -1 if no digits). */
static int node_at(const char **pp, int n, long *bad)
{
    const char *p = skip_ws(*pp);
    if (!isdigit((unsigned char)*p)) {
        *bad = -1;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    *pp = end;
    if (errno || v < 1 || v > n) {
        *bad = errno ? -2 : v;
        return 0;
    }
    return (int)v;
}

static void clear(struct net_links *out, int n)
{
    memset(out, 0, sizeof *out);
    out->n = n;
}

/* One endpoint of a link item: a node id or '*'. *lo..*hi is what it names. */
static int endpoint(const char **pp, int n, int *lo, int *hi, const char *text, char *err)
{
    const char *p = skip_ws(*pp);
    if (*p == '*') {
        *lo = 1;
        *hi = n;
        *pp = p + 1;
        return 0;
    }
    long bad;
    int k = node_at(&p, n, &bad);
    if (!k)
        return bad == -1   ? fail(err, "expected a node id or '*' at '%.40s' in '%.80s'", p, text)
               : bad == -2 ? fail(err, "a node id in '%.80s' is not in 1..%d", text, n)
                           : fail(err, "node %ld is not in 1..%d (in '%.80s')", bad, n, text);
    *lo = *hi = k;
    *pp = p;
    return 0;
}

/* "A->B", "A<->B" items separated by commas. */
static int link_items(const char *text, int n, struct net_links *out, char *err)
{
    const char *p = text;
    for (;;) {
        int alo, ahi, blo, bhi;
        if (endpoint(&p, n, &alo, &ahi, text, err) < 0)
            return -EINVAL;
        p = skip_ws(p);
        bool both;
        if (strncmp(p, "<->", 3) == 0) {
            both = true;
            p += 3;
        } else if (strncmp(p, "->", 2) == 0) {
            both = false;
            p += 2;
        } else {
            return fail(err, "expected '->' or '<->' after a node at '%.40s' in '%.80s'", p, text);
        }
        if (endpoint(&p, n, &blo, &bhi, text, err) < 0)
            return -EINVAL;
        for (int a = alo; a <= ahi; a++)
            for (int b = blo; b <= bhi; b++) {
                if (a == b)
                    continue;
                out->on[a][b] = 1;
                if (both)
                    out->on[b][a] = 1;
            }
        p = skip_ws(p);
        if (!*p)
            return 0;
        if (*p != ',')
            return fail(err, "expected ',' or the end at '%.40s' in '%.80s'", p, text);
        p++;
    }
}

/* "1,2/3-5": side of each node (0 = not listed). Returns the number of
 * sides. */
static int sides(const char *text, int n, uint8_t *side, char *err)
{
    memset(side, 0, (size_t)n + 1);
    const char *p = text;
    int g = 1;
    for (;;) {
        long bad;
        int lo = node_at(&p, n, &bad);
        if (!lo)
            return bad == -1   ? fail(err, "expected a node id at '%.40s' in '%.80s'", p, text)
                   : bad == -2 ? fail(err, "a node id in '%.80s' is not in 1..%d", text, n)
                               : fail(err, "node %ld is not in 1..%d (in '%.80s')", bad, n, text);
        int hi = lo;
        p = skip_ws(p);
        if (*p == '-' && p[1] != '>') {
            p++;
            hi = node_at(&p, n, &bad);
            if (!hi || hi < lo)
                return fail(err, "expected a range like 1-3 within 1..%d in '%.80s'", n, text);
        }
        for (int k = lo; k <= hi; k++) {
            if (side[k])
                return fail(err, "node %d is listed twice in '%.80s'", k, text);
            side[k] = (uint8_t)g;
        }
        p = skip_ws(p);
        if (!*p)
            break;
        if (*p == '/') {
            if (g >= 255)
                return fail(err, "too many sides in '%.80s'", text);
            g++;
        } else if (*p != ',') {
            return fail(err, "expected ',', '/' or the end at '%.40s' in '%.80s'", p, text);
        }
        p++;
    }
    return g;
}

int netspec_partition(const char *text, int n, struct net_links *out, char *err)
{
    if (n < 2 || n > DL_MAX_NODES)
        return fail(err, "a partition needs 2 to %d nodes (the run has %d)", DL_MAX_NODES, n);
    clear(out, n);
    const char *t = skip_ws(text);
    if (!*t)
        return fail(err, "expected sides like '1,2/3,4,5' or links like '1->3', got nothing");
    if (strchr(t, '>')) {
        if (strchr(t, '/'))
            return fail(err, "'%.80s' mixes sides ('/') and links ('->'): use one form", text);
        if (link_items(t, n, out, err) < 0)
            return -EINVAL;
    } else {
        uint8_t side[DL_MAX_NODES + 1];
        int g = sides(t, n, side, err);
        if (g < 0)
            return -EINVAL;
        if (g < 2)
            return fail(err, "'%.80s' has one side: a partition needs two or more separated by "
                             "'/' (like 1,2/3,4,5), or links like 1->3",
                        text);
        int next = g;
        for (int k = 1; k <= n; k++)
            if (!side[k])
                side[k] = (uint8_t)(++next > 255 ? 255 : next);
        for (int a = 1; a <= n; a++)
            for (int b = 1; b <= n; b++)
                if (a != b && side[a] != side[b])
                    out->on[a][b] = 1;
    }
    if (!netspec_count(out))
        return fail(err, "'%.80s' cuts no link", text);
    return 0;
}

int netspec_links(const char *text, int n, struct net_links *out, char *err)
{
    if (n < 1 || n > DL_MAX_NODES)
        return fail(err, "a link list needs 1 to %d nodes (the run has %d)", DL_MAX_NODES, n);
    clear(out, n);
    const char *t = skip_ws(text);
    size_t len = strlen(t);
    while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
        len--;
    if (!len || (len == 3 && strncmp(t, "all", 3) == 0) || (len == 1 && *t == '*')) {
        for (int a = 1; a <= n; a++)
            for (int b = 1; b <= n; b++)
                out->on[a][b] = a != b;
        return 0;
    }
    if (!strstr(t, "->"))
        return fail(err, "expected 'all' or links like '1->3,2<->4' or '3->*', got '%.80s'", text);
    if (link_items(t, n, out, err) < 0)
        return -EINVAL;
    /* "1->1": a link from a node to itself is no link. */
    if (!netspec_count(out))
        return fail(err, "'%.80s' names no link (a node's messages to itself are never lost)",
                    text);
    return 0;
}

int netspec_assign(const char *text, struct net_params *p, char *err)
{
    const char *eq = strchr(text, '=');
    if (!eq)
        return -ENOENT;
    /* Blanks around the key and the value are no part of them. */
    text = skip_ws(text);
    size_t klen = (size_t)(eq - text);
    while (klen && (text[klen - 1] == ' ' || text[klen - 1] == '\t'))
        klen--;
    char vbuf[64];
    const char *v = skip_ws(eq + 1);
    size_t vlen = strlen(v);
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (vlen >= sizeof vbuf)
        vlen = sizeof vbuf - 1; /* long enough to be refused below all the same */
    memcpy(vbuf, v, vlen);
    vbuf[vlen] = '\0';
    v = vbuf;
    if (klen == 4 && strncmp(text, "loss", 4) == 0) {
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (end != v && *end == '%' && end[1] == '\0') {
            x /= 100;
            end++;
        }
        if (end == v || *end || errno || !isfinite(x) || !(x >= 0 && x <= 1) ||
            !(isdigit((unsigned char)*v) || *v == '.'))
            return fail(err, "loss: expected a probability from 0 to 1 (or 0%% to 100%%), got '%.40s'",
                        v);
        p->loss = x == 0 ? 0 : x; /* no -0 */
        p->has_loss = true;
        return 0;
    }
    bool delay = klen == 5 && strncmp(text, "delay", 5) == 0;
    bool jitter = klen == 6 && strncmp(text, "jitter", 6) == 0;
    if (!delay && !jitter)
        return fail(err, "expected loss=, delay= or jitter=, got '%.40s'", text);
    int64_t us;
    if (config_parse_duration(v, &us) < 0 || us < 0 || us > NETSPEC_MAX_DELAY_US)
        return fail(err, "%s: expected a duration from 0 to 60s (like 5ms), got '%.40s'",
                    delay ? "delay" : "jitter", v);
    if (delay) {
        p->delay_us = us;
        p->has_delay = true;
    } else {
        p->jitter_us = us;
        p->has_jitter = true;
    }
    return 0;
}

int netspec_count(const struct net_links *l)
{
    int c = 0;
    for (int a = 1; a <= l->n; a++)
        for (int b = 1; b <= l->n; b++)
            c += l->on[a][b] != 0;
    return c;
}

/* Appends to buf at *len, keeping room for "..." */
static bool put(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t l = strlen(s);
    if (*len + l + 4 > cap) {
        if (*len + 4 <= cap) {
            memcpy(buf + *len, "...", 4);
            *len += 3;
        }
        return false;
    }
    memcpy(buf + *len, s, l + 1);
    *len += l;
    return true;
}

/* Is l exactly "every link between different sides" for some sides? The
 * sides are then the classes of "not cut" (symmetric, transitive). */
static bool as_sides(const struct net_links *l, uint8_t *side)
{
    int n = l->n, g = 0;
    memset(side, 0, (size_t)n + 1);
    for (int a = 1; a <= n; a++) {
        if (side[a])
            continue;
        side[a] = (uint8_t)(++g > 255 ? 255 : g);
        for (int b = a + 1; b <= n; b++)
            if (!l->on[a][b] && !l->on[b][a])
                side[b] = side[a];
    }
    if (g < 2 || g > 254)
        return false;
    for (int a = 1; a <= n; a++)
        for (int b = 1; b <= n; b++)
            if (a != b && (l->on[a][b] != 0) != (side[a] != side[b]))
                return false;
    return true;
}

void netspec_describe(const struct net_links *l, char *buf, size_t cap)
{
    if (!cap)
        return;
    buf[0] = '\0';
    size_t len = 0;
    char item[32];
    uint8_t side[DL_MAX_NODES + 1];
    int n = l->n;
    if (as_sides(l, side)) {
        bool first_side = true;
        for (int g = 1; g <= 255; g++) {
            bool any = false;
            for (int k = 1; k <= n; k++) {
                if (side[k] != g)
                    continue;
                /* a run of consecutive members as a range */
                int hi = k;
                while (hi + 1 <= n && side[hi + 1] == g)
                    hi++;
                if (hi > k + 1)
                    snprintf(item, sizeof item, "%s%s%d-%d", any ? "," : "",
                             !any && !first_side ? " | " : "", k, hi);
                else
                    snprintf(item, sizeof item, "%s%s%d", any ? "," : "",
                             !any && !first_side ? " | " : "", k);
                if (!put(buf, cap, &len, item))
                    return;
                any = true;
                if (hi > k + 1)
                    k = hi;
            }
            if (any)
                first_side = false;
            else
                break;
        }
        return;
    }
    bool first = true;
    for (int a = 1; a <= n; a++)
        for (int b = 1; b <= n; b++) {
            if (!l->on[a][b] || (b < a && l->on[b][a]))
                continue;
            bool both = b > a && l->on[b][a];
            snprintf(item, sizeof item, "%s%d%s%d", first ? "" : ",", a, both ? "<->" : "->", b);
            if (!put(buf, cap, &len, item))
                return;
            first = false;
        }
    if (first)
        put(buf, cap, &len, "none");
}
