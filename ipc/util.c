#include "ipc/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t dl_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t dl_real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int dl_seterr(char *errbuf, int err, const char *fmt, ...)
{
    if (errbuf) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, DL_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return err > 0 ? -err : (err == 0 ? -EINVAL : err);
}

int dl_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int dl_read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

int dl_write_file(const char *path, const char *data, size_t len, char *errbuf)
{
    return dl_write_file_sync(path, data, len, false, errbuf);
}

int dl_write_file_sync(const char *path, const void *data, size_t len, bool sync, char *errbuf)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return dl_seterr(errbuf, ENAMETOOLONG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "%s: %s", tmp, strerror(errno));
    int rc = dl_write_all(fd, data, len);
    if (rc == 0 && sync && fdatasync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return dl_seterr(errbuf, -rc, "%s: %s", tmp, strerror(-rc));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return dl_seterr(errbuf, e, "%s: %s", path, strerror(e));
    }
    if (sync) {
        /* The rename itself must survive a power cut: sync the directory. */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

int dl_read_file(const char *path, char **out, size_t *len, char *errbuf)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; only a
     * regular file is read (a device or a FIFO would never end). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return dl_seterr(errbuf, errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return dl_seterr(errbuf, e, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dl_seterr(errbuf, EINVAL, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return dl_seterr(errbuf, ENOMEM, "%s: out of memory", path);
    }
    int rc = n ? dl_read_all(fd, buf, n) : 0;
    close(fd);
    if (rc < 0) {
        free(buf);
        return dl_seterr(errbuf, -rc, "%s: %s", path, strerror(-rc));
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int dl_mkdirs(const char *path, char *errbuf)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return dl_seterr(errbuf, EINVAL, "bad directory path '%s'", path);
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return dl_seterr(errbuf, errno, "%s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return dl_seterr(errbuf, errno, "%s: %s", tmp, strerror(errno));
    return 0;
}


bool dl_dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* The bytes of s (a field of cap bytes, perhaps without a NUL) as text safe
 * to print to a terminal or to put in JSON: control characters (C0, DEL,
 * C1), bidirectional overrides, backslashes and bytes that are not UTF-8
 * become \xNN escapes; other UTF-8 passes. A run's own strings (a name of
 * letters, digits, '.', '_', '-'; an algorithm; a path) come out unchanged
 * unless they hold such bytes. Returns out. */
size_t dl_utf8_seq(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    *cp = 0;
    if (len == 0)
        return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] < 0xc2 || u[0] > 0xf4)
        return 0;
    size_t want = u[0] < 0xe0 ? 2 : u[0] < 0xf0 ? 3 : 4;
    uint32_t c = u[0] & (0x3f >> (want - 1));
    size_t j = 1;
    for (; j < want && j < len && (u[j] & 0xc0) == 0x80; j++)
        c = c << 6 | (u[j] & 0x3f);
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (j < want || c < min[want] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return want;
}

const char *dl_printable(char *out, size_t outcap, const char *s, size_t cap)
{
    size_t len = strnlen(s, cap), o = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        /* The length of a valid UTF-8 sequence at i, and its code point. */
        uint32_t cp;
        size_t n = dl_utf8_seq(s + i, len - i, &cp);
        bool bad = n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
                   cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
                   (cp >= 0x2066 && cp <= 0x2069);
        if (!bad && cp == '\\') {
            if (o + 2 < outcap) {
                out[o++] = '\\';
                out[o++] = '\\';
            }
        } else if (!bad) {
            if (o + n < outcap) {
                memcpy(out + o, s + i, n);
                o += n;
            }
        } else {
            /* Every byte of the offending sequence (one if not UTF-8). */
            for (size_t j = 0; j < (n ? n : 1); j++)
                if (o + 4 < outcap)
                    o += (size_t)snprintf(out + o, outcap - o, "\\x%02x", u[i + j]);
        }
        i += n ? n : 1;
    }
    out[o < outcap ? o : outcap - 1] = '\0';
    return out;
}
