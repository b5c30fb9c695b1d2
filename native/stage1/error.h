/*
 * Errors in stage1: an out-parameter filled at the failing call, as in crun.
 *
 * Every function that can fail takes a `struct s1_error *err`, fills it with
 * the step ("rootfs", "cgroup", "app web"), the system call, the path it acted
 * on and the errno, and returns -1. Only main() and the supervisor print it,
 * as one line: `skiff-stage1: STEP: SYSCALL PATH: ERRNO`. The struct is plain
 * data (no pointers) so that the pod's PID 1 can send it to the supervisor
 * over a pipe as is.
 */
#ifndef SKIFF_STAGE1_ERROR_H
#define SKIFF_STAGE1_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Sized so that a message carrying an error stays below PIPE_BUF (atomic writes). */
#define S1_ERR_STEP 64
#define S1_ERR_SYSCALL 64
#define S1_ERR_PATH 3072

struct s1_error {
	char step[S1_ERR_STEP];
	/* The system call ("mount"), or for errors that are no syscall's, the message. */
	char syscall[S1_ERR_SYSCALL + 192];
	char path[S1_ERR_PATH];
	/* 0 when the error is not a failed system call (a bad config value). */
	int errnum;
};

/* Fills err and returns -1, so callers can `return s1_fail(...)`. PATH is a format. */
int s1_fail(struct s1_error *err, int errnum, const char *step, const char *syscall, const char *path_fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* An error that is not a syscall's: "config: unknown key 'x'". */
int s1_fail_msg(struct s1_error *err, const char *step, const char *msg_fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "STEP: SYSCALL PATH: ERRNO" (no prefix, no newline). */
void s1_error_format(const struct s1_error *err, char *buf, size_t len);

/* "EPERM"; never NULL. */
const char *s1_errno_name(int errnum);

/* Cleanup attributes: the resource is released when the variable goes out of scope. */
void s1_closep(int *fd);
void s1_freep(void *p);
#define cleanup_fd __attribute__((cleanup(s1_closep)))
#define cleanup_free __attribute__((cleanup(s1_freep)))

#endif
