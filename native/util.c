/* Small helpers: atomic state files, mkdir -p, times and signal names, messages. */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int write_all(int fd, const void *data, size_t len)
{
	const char *buf = data;

	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

/*
 * temp + rename: a reader (stage0's status, enter, stop) sees the old file or
 * the whole new one, never a half-written one. No fsync: these files describe
 * a running pod and mean nothing after a host crash.
 */
int write_file_atomic(const char *path, const char *content, struct s1_error *err, const char *step)
{
	char tmp[PATH_MAX];
	cleanup_fd int fd = -1;

	if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
		return s1_fail(err, ENAMETOOLONG, step, "open", "%s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return s1_fail(err, errno, step, "open", "%s", tmp);
	if (write_all(fd, content, strlen(content)) < 0)
		return s1_fail(err, errno, step, "write", "%s", tmp);
	if (close(fd) < 0) {
		fd = -1;
		return s1_fail(err, errno, step, "close", "%s", tmp);
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		return s1_fail(err, errno, step, "rename", "%s", path);
	return 0;
}

/* mkdir -p; `shown` prefixes the path in errors (the host path of a pod path after pivot_root). */
int mkdir_p(const char *path, mode_t mode, const char *step, const char *shown, struct s1_error *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof buf)
		return s1_fail(err, ENAMETOOLONG, step, "mkdir", "%s%s", shown, path);
	memcpy(buf, path, len + 1);
	for (char *c = buf + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;

		*c = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return s1_fail(err, errno, step, "mkdir", "%s%s", shown, buf);
		*c = saved;
		if (saved == '\0')
			break;
	}
	return 0;
}

/* Reads a small text file into buf (NUL-terminated); -1 with errno on failure. */
int read_small_file(const char *path, char *buf, size_t len)
{
	cleanup_fd int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t) n;
	}
	buf[got] = '\0';
	return (int) got;
}

/* 2024-05-01T12:00:00.123456789Z */
void time_rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	char date[32];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", date, ts->tv_nsec);
}

#ifndef __GLIBC__
/* musl has no sigabbrev_np(): glibc's names (SIGPOLL, not SIGIO); none for real-time signals. */
static const char *sigabbrev_np(int sig)
{
	static const char *const names[] = {
		[SIGHUP] = "HUP", [SIGINT] = "INT", [SIGQUIT] = "QUIT", [SIGILL] = "ILL", [SIGTRAP] = "TRAP",
		[SIGABRT] = "ABRT", [SIGBUS] = "BUS", [SIGFPE] = "FPE", [SIGKILL] = "KILL", [SIGUSR1] = "USR1",
		[SIGSEGV] = "SEGV", [SIGUSR2] = "USR2", [SIGPIPE] = "PIPE", [SIGALRM] = "ALRM", [SIGTERM] = "TERM",
		[SIGSTKFLT] = "STKFLT", [SIGCHLD] = "CHLD", [SIGCONT] = "CONT", [SIGSTOP] = "STOP", [SIGTSTP] = "TSTP",
		[SIGTTIN] = "TTIN", [SIGTTOU] = "TTOU", [SIGURG] = "URG", [SIGXCPU] = "XCPU", [SIGXFSZ] = "XFSZ",
		[SIGVTALRM] = "VTALRM", [SIGPROF] = "PROF", [SIGWINCH] = "WINCH", [SIGPOLL] = "POLL", [SIGPWR] = "PWR",
		[SIGSYS] = "SYS",
	};

	return sig > 0 && (size_t) sig < sizeof names / sizeof names[0] ? names[sig] : NULL;
}
#endif

/* "SIGKILL" */
const char *signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "SIG%d", sig);
	return buf;
}

/* One record per write: below PIPE_BUF, so it is atomic and never interleaved. */
int msg_send(int fd, const struct s1_msg *msg)
{
	return write_all(fd, (const char *) msg, sizeof *msg);
}
