/* Small helpers: atomic state files, mkdir -p, times and signal names, messages. */
#include "stage1.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * temp + rename (../common/io.c): a reader (stage0's status, enter, stop) sees
 * the old file or the whole new one, never a half-written one. No fsync:
 * these files describe a running pod and mean nothing after a host crash.
 */
int write_file_atomic(const char *path, const char *content, struct s1_error *err, const char *step)
{
	const char *call = "open";

	if (write_atomic(path, content, strlen(content), 0644, &call) < 0)
		return s1_fail(err, errno, step, call, "%s", path);
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
		if (mkdir_ok(buf, mode) < 0)
			return s1_fail(err, errno, step, "mkdir", "%s%s", shown, buf);
		*c = saved;
		if (saved == '\0')
			break;
	}
	return 0;
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

/* The signals the supervisor, PID 1 and enter read (from a signalfd or sigwaitinfo) and pass on. */
void signals_forwarded(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD), sigaddset(set, SIGTERM), sigaddset(set, SIGINT), sigaddset(set, SIGHUP);
}

/* One record per write: below PIPE_BUF, so it is atomic and never interleaved. */
int msg_send(int fd, const struct s1_msg *msg)
{
	return write_all(fd, (const char *) msg, sizeof *msg);
}

int claim_file_write(const char *dir, const char *uuid, const char *step, char *tmp, size_t len, struct s1_error *err)
{
	char line[64];
	int fd;

	if (mkdir_p(dir, 0700, step, "", err) < 0)
		return -1;
	snprintf(tmp, len, "%s/.claim-%s", dir, uuid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return s1_fail(err, errno, step, "open", "%s", tmp);
	snprintf(line, sizeof line, "%s\n", uuid);
	if (write_all(fd, line, strlen(line)) < 0) {
		s1_fail(err, errno, step, "write", "%s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return 0;
}
