/* Small OS helpers shared by every module: clocks, error text, I/O loops.
 * Functions return 0 on success and a negative errno-style code on failure;
 * where a caller passes an error buffer, a readable message is written to it. */
#ifndef DL_IPC_UTIL_H
#define DL_IPC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DL_ERRLEN 512

/* CLOCK_MONOTONIC in microseconds: one clock shared by every process on the
 * machine, which is what lets traces from different nodes be merged. */
int64_t dl_mono_us(void);
/* CLOCK_REALTIME in microseconds (for names and wall-clock stamps only). */
int64_t dl_real_us(void);

/* snprintf into an error buffer (which may be NULL); returns -err. */
int dl_seterr(char *errbuf, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* write()/read() the whole buffer, retrying on EINTR and short counts. */
int dl_write_all(int fd, const void *buf, size_t len);
int dl_read_all(int fd, void *buf, size_t len);

/* Write a whole file atomically (temp file + rename): a crash at any
 * moment leaves the old content or the new, never a torn file. With sync,
 * the data is on disk (fdatasync, and the directory entry fsynced) before
 * it returns. */
int dl_write_file(const char *path, const char *data, size_t len, char *errbuf);
int dl_write_file_sync(const char *path, const void *data, size_t len, bool sync, char *errbuf);
/* Read a whole file into a malloc'd, NUL-terminated buffer. */
int dl_read_file(const char *path, char **out, size_t *len, char *errbuf);

/* Does path not exist, or is it an empty directory? */
bool dl_dir_is_empty(const char *path);

/* mkdir -p */
int dl_mkdirs(const char *path, char *errbuf);

/* The bytes of s (a field of cap bytes, perhaps without a NUL) as text safe
 * to print to a terminal or to put in JSON: control characters, bidirectional
 * overrides, backslashes and bytes that are not UTF-8 become \xNN escapes
 * (a backslash becomes two); other UTF-8 passes. out holds up to outcap
 * bytes, DL_PRINTABLE_CAP(cap) for all of it. Returns out. */
const char *dl_printable(char *out, size_t outcap, const char *s, size_t cap);
#define DL_PRINTABLE_CAP(cap) (4 * (cap) + 1)

/* The length (1 to 4) of the well-formed UTF-8 sequence at s, which has
 * len bytes, and its code point in *cp; 0 when s starts with a byte that
 * begins no well-formed sequence (overlong, a surrogate, past U+10FFFF,
 * cut short). */
size_t dl_utf8_seq(const char *s, size_t len, uint32_t *cp);

#endif
