/*
 * Running skiff-stage1 from a sealed memfd copy of its binary, never from the host's file (see
 * stage1/self-clone.c for why). Shared by stage1 (which re-execs itself when started from a
 * file) and the launcher (which execs the copy straight away, saving stage1 that second exec).
 */
#ifndef SKIFF_COMMON_SEALED_EXEC_H
#define SKIFF_COMMON_SEALED_EXEC_H

/* Whether FD (e.g. /proc/self/exe) is a memfd with every seal sealed_copy() sets. */
int is_sealed_copy(int fd);

/*
 * A memfd (CLOEXEC) holding the bytes of FD, sealed against every change; -1 with errno, and
 * `failed` (may be NULL) naming the call.
 */
int sealed_copy(int fd, const char **failed);

/* execveat() of a sealed copy of the file at PATH; returns only on failure (-1, errno, `failed`). */
int exec_sealed_copy(const char *path, char *const argv[], char *const envp[], const char **failed);

#endif
