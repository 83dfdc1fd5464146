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
