/*
 * Socket activation (sd_listen_fds(3)) for the pod: when systemd (or systemd-socket-activate)
 * started `skiff run` with listening sockets, they arrive as fds 3… with LISTEN_FDS=N,
 * LISTEN_PID=<our pid> (stage0 and the launcher exec stage1 in place, so the pid is still the
 * one systemd set) and LISTEN_FDNAMES. They go to exactly one process: the pod's first app,
 * as systemd-nspawn hands them to the container's init (the rkt/nspawn semantics: one service,
 * one set of sockets); the other apps, PID 1 after that app started, the host hooks and `enter`
 * hold none of them.
 *
 * The fds' life: stage1 makes them CLOEXEC at start (no host hook inherits one); PID 1 inherits
 * them by fork; the first app's child, after the close_range(CLOEXEC) that guards every app
 * against leaked fds, clears CLOEXEC on these and only these, and sets LISTEN_FDS, LISTEN_FDNAMES
 * and LISTEN_PID = its own pid as it sees it (its pid in the pod's pid namespace) in the app's
 * environment; the supervisor closes its copies once PID 1 is forked, PID 1 once the app exec'd.
 * As with sd_listen_fds, a LISTEN_PID that is not ours means the fds were meant for another
 * process: nothing is passed. They are never in a stage1 config or a run plan (an invocation's,
 * not a pod's), so a replayed run takes them exactly as the CLI does.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_FDS_START 3
/* More than any unit plausibly has, and few enough that a bad value cannot make us walk the fd table. */
#define LISTEN_FDS_MAX 256

static int n_listen;
static char *listen_names; /* LISTEN_FDNAMES as given, or NULL */

int listen_fds_take(int lock_fd, struct s1_error *err)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
	char *end;
	long n;

	if (pid == NULL || fds == NULL || strtol(pid, &end, 10) != (long) getpid() || *end != '\0')
		return 0;
	errno = 0;
	n = strtol(fds, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0 || n > LISTEN_FDS_MAX)
		return s1_fail(err, EINVAL, "listen-fds", "LISTEN_FDS", "'%s' is not a count of 0-%d fds", fds, LISTEN_FDS_MAX);
	if (lock_fd >= LISTEN_FDS_START && lock_fd < LISTEN_FDS_START + n)
		return s1_fail(err, EINVAL, "listen-fds", "LISTEN_FDS", "the pod lock fd %d is one of the %ld passed", lock_fd, n);
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return s1_fail(err, errno, "listen-fds", "fcntl(F_SETFD)", "fd %d of LISTEN_FDS=%ld", fd, n);
	n_listen = (int) n;
	if (names != NULL && (listen_names = strdup(names)) == NULL)
		return s1_fail(err, ENOMEM, "listen-fds", "strdup", NULL);
	return 0;
}

void listen_fds_close(void)
{
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n_listen; fd++)
		close(fd);
	n_listen = 0;
}

static char *env_entry(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *env_entry(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

char *const *listen_fds_give(char *const *env, const char *step, struct s1_error *err)
{
	size_t n_env = 0, out = 0, ours;
	char **with;

	if (n_listen == 0)
		return env;
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n_listen; fd++)
		if (fcntl(fd, F_SETFD, 0) < 0)
			return s1_fail(err, errno, step, "fcntl(F_SETFD)", "listen fd %d", fd), NULL;
	while (env[n_env] != NULL)
		n_env++;
	with = calloc(n_env + 4, sizeof *with);
	if (with == NULL)
		return s1_fail(err, ENOMEM, step, "calloc", "listen env"), NULL;
	/* The app's own LISTEN_* (from its image or flags) would contradict what it is given. */
	for (size_t i = 0; i < n_env; i++)
		if (strncmp(env[i], "LISTEN_", 7) != 0)
			with[out++] = env[i];
	ours = out;
	/* Our pid as the app will see it: the fork's child in the pod's pid namespace, exec keeps it. */
	with[out++] = env_entry("LISTEN_PID=%d", (int) getpid());
	with[out++] = env_entry("LISTEN_FDS=%d", n_listen);
	if (listen_names != NULL)
		with[out++] = env_entry("LISTEN_FDNAMES=%s", listen_names);
	for (size_t i = ours; i < out; i++)
		if (with[i] == NULL)
			return s1_fail(err, ENOMEM, step, "vasprintf", "listen env"), NULL;
	return with;
}
