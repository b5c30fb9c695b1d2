/*
 * Small file helpers shared by stage1 and the `skiff` launcher: errno only
 * (no s1_error), so either binary reports failures its own way (stage1's
 * stage1/util.c wraps them into its errors).
 */
#ifndef SKIFF_COMMON_IO_H
#define SKIFF_COMMON_IO_H

#include <stddef.h>
#include <sys/types.h>

/* write(2) until done, retrying EINTR and waiting out EAGAIN (poll); -1 with errno. */
int write_all(int fd, const void *data, size_t len);

/*
 * temp + rename, no fsync: a reader sees the old file or the whole new one,
 * never a half-written one (the CLI writes a running pod's files the same
 * way, runtime/atomic-file.ts). The file gets exactly `mode` (not umasked).
 * -1 with errno; `failed` (may be NULL) then names the call that failed.
 */
int write_atomic(const char *path, const void *data, size_t len, mode_t mode, const char **failed);

/* Reads up to len - 1 bytes of a small file into buf, NUL-terminated; the length read, or -1 with errno. */
int read_small_file(const char *path, char *buf, size_t len);

/* mkdir(2) where an existing entry is fine; -1 with errno. */
int mkdir_ok(const char *path, mode_t mode);

#endif
