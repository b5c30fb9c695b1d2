/*
 * `skiff-stage1 run CONFIG`: the pod's supervisor, in stage0's process.
 *
 * It holds the pod lock (never closed: the lock lives exactly as long as
 * this process), forks the pod's PID 1 into a new pid namespace, turns PID
 * 1's messages into the pod dir's state files, stops the pod when an app
 * fails (SIGTERM, then SIGKILL after stop-timeout), forwards SIGTERM, SIGINT
 * and SIGHUP, and once PID 1 is gone tears down what lives on the host:
 * cgroups, the netns bind mount, files. The pod's mounts need no teardown:
 * they live in its mount namespace, which dies with PID 1.
 *
 * Single-threaded: one poll() over a signalfd and the message pipe.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CGROUP_RMDIR_TRIES 100
#define CGROUP_RMDIR_WAIT_NS 10000000L

struct app_state {
	bool started, exited;
	struct timespec started_at;
};

struct supervisor {
	const struct config *cfg;
	pid_t pid1;
	int sfd, msg_fd;
	bool failed;          /* stage1 itself failed: exit 254 */
	int first_failure;    /* status of the first failing app, -1 if none */
	bool stopping, killed;
	struct timespec kill_at;
	struct app_state *apps;
	struct host_ns host; /* the host's namespaces, for the host hooks */
};

static void report(const struct config *cfg, const struct s1_error *err)
{
	char line[4096], path[PATH_MAX];
	struct s1_error ignored;

	s1_error_format(err, line, sizeof line);
	fprintf(stderr, "skiff-stage1: %s\n", line);
	/* A config refused for its pod-dir's length may name one too long for this. */
	if (cfg == NULL || cfg->pod_dir == NULL ||
	    (size_t) snprintf(path, sizeof path, "%s/stage1-error", cfg->pod_dir) >= sizeof path)
		return;
	strncat(line, "\n", sizeof line - strlen(line) - 1);
	if (write_file_atomic(path, line, &ignored, "state") < 0) {
		s1_error_format(&ignored, line, sizeof line);
		fprintf(stderr, "skiff-stage1: %s\n", line);
	}
}

/* Writes POD_DIR/REL; a state file we cannot write is reported, not fatal. */
static void write_state(const struct config *cfg, const char *rel, const char *app, const char *content)
{
	char path[PATH_MAX], line[4096];
	struct s1_error err;

	if (app != NULL)
		snprintf(path, sizeof path, "%s/apps/%s/%s", cfg->pod_dir, app, rel);
	else
		snprintf(path, sizeof path, "%s/%s", cfg->pod_dir, rel);
	if (write_file_atomic(path, content, &err, "state") < 0) {
		s1_error_format(&err, line, sizeof line);
		fprintf(stderr, "skiff-stage1: %s\n", line);
	}
}

static void write_exit(struct supervisor *s, size_t i, int code, int sig, const struct timespec *finished)
{
	char started[64], done[64], sigbuf[32], name[40], json[512];

	time_rfc3339(&s->apps[i].started_at, started, sizeof started);
	time_rfc3339(finished, done, sizeof done);
	if (sig > 0)
		snprintf(name, sizeof name, "\"%s\"", signal_name(sig, sigbuf, sizeof sigbuf));
	else
		snprintf(name, sizeof name, "null");
	snprintf(json, sizeof json, "{\"code\":%d,\"signal\":%s,\"started\":\"%s\",\"finished\":\"%s\"}\n", code, name,
		 started, done);
	write_state(s->cfg, "exit", s->cfg->apps[i].name, json);
	s->apps[i].exited = true;
	if (code != 0 && s->first_failure < 0)
		s->first_failure = code;
}

static void begin_stop(struct supervisor *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	sd_notify_send("STOPPING=1");
	kill(s->pid1, SIGTERM); /* PID 1 forwards it to the apps */
	clock_gettime(CLOCK_MONOTONIC, &s->kill_at);
	s->kill_at.tv_sec += s->cfg->stop_timeout;
}

static bool all_started(const struct supervisor *s)
{
	for (size_t i = 0; i < s->cfg->n_apps; i++)
		if (!s->apps[i].started)
			return false;
	return true;
}

static void handle_msg(struct supervisor *s, const struct s1_msg *m)
{
	char text[64];
	bool is_app = m->app >= 0 && (size_t) m->app < s->cfg->n_apps;

	switch (m->type) {
	case MSG_ERROR:
		if (!s->failed)
			report(s->cfg, &m->err);
		s->failed = true;
		begin_stop(s);
		break;
	case MSG_READY:
		snprintf(text, sizeof text, "%d\n", (int) s->pid1);
		write_state(s->cfg, "pid", NULL, text);
		break;
	case MSG_APP_STARTED:
		if (!is_app)
			break;
		s->apps[m->app].started = true;
		s->apps[m->app].started_at = m->time;
		time_rfc3339(&m->time, text, sizeof text - 1);
		strcat(text, "\n");
		write_state(s->cfg, "started", s->cfg->apps[m->app].name, text);
		/* With `sd-notify app` READY=1 is the apps' to say (sd-notify.c). */
		if (all_started(s) && !s->stopping && !s->cfg->sd_notify_app) {
			snprintf(text, sizeof text, "READY=1\nMAINPID=%d\n", (int) getpid());
			sd_notify_send(text);
		}
		break;
	case MSG_APP_EXITED:
		if (!is_app)
			break;
		if (WIFSIGNALED(m->status))
			write_exit(s, (size_t) m->app, 128 + WTERMSIG(m->status), WTERMSIG(m->status), &m->time);
		else
			write_exit(s, (size_t) m->app, WEXITSTATUS(m->status), 0, &m->time);
		/* The first failing app stops the pod. */
		if (s->first_failure >= 0)
			begin_stop(s);
		break;
	}
}

static int poll_timeout(const struct supervisor *s)
{
	struct timespec now;
	long long ms;

	if (!s->stopping || s->killed)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (s->kill_at.tv_sec - now.tv_sec) * 1000LL + (s->kill_at.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int) ms;
}

/* Runs until PID 1 is reaped and its pipe is drained; returns PID 1's wait status. */
static int supervise(struct supervisor *s)
{
	int pid1_status = 0;
	bool reaped = false;

	while (!reaped || s->msg_fd >= 0) {
		/* The relay's fd is -1 (ignored by poll) unless the apps notify (sd-notify.c). */
		struct pollfd fds[3] = { { .fd = s->sfd, .events = POLLIN }, { .fd = sd_notify_relay_fd(), .events = POLLIN },
					 { .fd = s->msg_fd, .events = POLLIN } };
		int timeout = poll_timeout(s), n = poll(fds, s->msg_fd >= 0 ? 3 : 2, timeout);

		if (n < 0 && errno != EINTR)
			break;
		if (n == 0 && timeout >= 0) {
			kill(s->pid1, SIGKILL); /* the whole pid namespace dies with it */
			s->killed = true;
		}
		if (fds[1].revents & POLLIN)
			sd_notify_relay_read();
		if (s->msg_fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP))) {
			struct s1_msg m;
			ssize_t got = read(s->msg_fd, &m, sizeof m);

			if (got == (ssize_t) sizeof m)
				handle_msg(s, &m);
			else if (got == 0 || (got < 0 && errno != EINTR))
				close(s->msg_fd), s->msg_fd = -1;
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(s->sfd, &si, sizeof si) != (ssize_t) sizeof si)
				continue;
			if (si.ssi_signo == SIGCHLD) {
				if (!reaped && waitpid(s->pid1, &pid1_status, WNOHANG) == s->pid1)
					reaped = true;
			} else if (si.ssi_code != SI_KERNEL) {
				/* Terminal signals (SI_KERNEL) already reached the whole foreground group. */
				kill(s->pid1, (int) si.ssi_signo);
			}
		}
	}
	/* What the apps sent just before they exited is in the relay's queue still (sd-notify.c). */
	while (sd_notify_relay_read())
		;
	return pid1_status;
}

/* After PID 1: the kernel SIGKILLed whatever was left, so unreported apps died that way. */
static void account_pid1_exit(struct supervisor *s, int status)
{
	struct timespec now;
	struct s1_error err;

	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < s->cfg->n_apps; i++)
		if (s->apps[i].started && !s->apps[i].exited)
			write_exit(s, i, 128 + SIGKILL, SIGKILL, &now);
	if (!s->failed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && s->first_failure < 0) {
		s1_fail_msg(&err, "init", "the pod's PID 1 %s %d before its apps ran",
			    WIFSIGNALED(status) ? "was killed by signal" : "exited with status",
			    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		report(s->cfg, &err);
		s->failed = true;
	}
}

static void teardown_error(int errnum, const char *syscall, const char *path)
{
	fprintf(stderr, "skiff-stage1: teardown: %s %s: %s\n", syscall, path, s1_errno_name(errnum));
}

/* Every step idempotent ("already gone" is success); a failed step does not stop the others. */
static void teardown(const struct config *cfg, struct host_ns *host)
{
	/* First, while the pod's netns is still ours (the supervisor is in it). */
	host_hooks_down(cfg, host);
	host_ns_close(host);
	/* After the downs: the port is free only once its rules are gone. */
	port_claims_release(cfg);
	for (size_t i = 0; i < cfg->cgroup_cleanup.n; i++) {
		const char *dir = cfg->cgroup_cleanup.v[i];

		/* A cgroup stays busy for a moment while the kernel moves its dead tasks out. */
		for (int tries = 1; rmdir(dir) < 0 && errno != ENOENT; tries++) {
			if (errno != EBUSY || tries == CGROUP_RMDIR_TRIES) {
				teardown_error(errno, "rmdir", dir);
				break;
			}
			nanosleep(&(struct timespec) { .tv_nsec = CGROUP_RMDIR_WAIT_NS }, NULL);
		}
	}
	for (size_t i = 0; i < cfg->netns_cleanup.n; i++) {
		const char *path = cfg->netns_cleanup.v[i];

		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			teardown_error(errno, "umount2", path);
		if (unlink(path) < 0 && errno != ENOENT)
			teardown_error(errno, "unlink", path);
	}
	for (size_t i = 0; i < cfg->file_cleanup.n; i++)
		if (unlink(cfg->file_cleanup.v[i]) < 0 && errno != ENOENT)
			teardown_error(errno, "unlink", cfg->file_cleanup.v[i]);
	net_release(cfg);
	/* Last: the range is free once nothing of the pod runs in it. */
	userns_release(cfg);
}

/* apps/NAME/ for each app; existing dirs are fine (stage0 may have made them). */
static int make_app_dirs(const struct config *cfg, struct s1_error *err)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < cfg->n_apps; i++) {
		snprintf(path, sizeof path, "%s/apps/%s", cfg->pod_dir, cfg->apps[i].name);
		if (mkdir_p(path, 0755, "state", "", err) < 0)
			return -1;
	}
	return 0;
}

static int start_pod(struct supervisor *s, struct s1_error *err)
{
	const struct config *cfg = s->cfg;
	int msg[2];
	sigset_t set;

	/* First: no host hook may inherit a listening socket (listen-fds.c). */
	if (listen_fds_take(cfg->lock_fd, err) < 0 || sd_notify_relay_open(cfg, err) < 0)
		return -1;
	/* The lock stays ours for life, but no app may inherit it. */
	if (fcntl(cfg->lock_fd, F_SETFD, FD_CLOEXEC) < 0)
		return s1_fail(err, errno, "lock", "fcntl(F_SETFD)", "fd %d", cfg->lock_fd);
	/* Before anything is wired: a host port another pod forwards stops us here. */
	if (port_claims_take(cfg, err) < 0 || host_ns_open(cfg, &s->host, err) < 0)
		return -1;
	/* Before PID 1 exists: nothing of the pod ever runs with every device. */
	if (make_app_dirs(cfg, err) < 0 || devices_restrict(cfg, err) < 0)
		return -1;
	signals_reset();
	signal(SIGPIPE, SIG_IGN); /* a closed stderr must be an EPIPE, not our death */
	signals_forwarded(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return s1_fail(err, errno, "signals", "sigprocmask", NULL);
	s->sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (s->sfd < 0)
		return s1_fail(err, errno, "signals", "signalfd", NULL);
	if (pipe2(msg, O_CLOEXEC) < 0)
		return s1_fail(err, errno, "init", "pipe2", NULL);
	/* The user namespace first: it owns the netns made with it, and its maps exist before anything of the pod runs. */
	if (cfg->users != NULL && userns_make(cfg, err) < 0)
		return -1;
	/* Before PID 1: it and every app inherit the netns the networks are attached to. */
	if (cfg->own_netns && (cfg->n_nets > 0 ? net_attach(cfg, err) : ns_new_netns(cfg, err)) < 0)
		return -1;
	/* Host side, networks attached, no app started yet (host-hooks.c). */
	if (host_hooks_up(cfg, &s->host, err) < 0)
		return -1;
	/* Nothing of the pod runs while the helper that made the user namespace lives (userns.c). */
	userns_reap(cfg);
	/* Our next child is the new pid namespace's PID 1. */
	if (unshare(CLONE_NEWPID) < 0)
		return s1_fail(err, errno, "namespaces", "unshare(CLONE_NEWPID)", NULL);
	s->pid1 = fork();
	if (s->pid1 < 0)
		return s1_fail(err, errno, "init", "fork", NULL);
	if (s->pid1 == 0) {
		close(msg[0]);
		close(s->sfd);
		pod_init(cfg, msg[1]);
	}
	close(msg[1]);
	/* PID 1 has them (for the first app): ours would only keep the sockets open (listen-fds.c). */
	listen_fds_close();
	s->msg_fd = msg[0];
	return 0;
}

int supervisor_run(const char *config_path)
{
	struct config cfg;
	struct s1_error err = { 0 };
	struct supervisor s = { .cfg = &cfg, .sfd = -1, .msg_fd = -1, .first_failure = -1, .host = { -1, -1 } };
	int status;

	/* Before any namespace changes: see sd-notify.c. */
	sd_notify_open();
	if (config_read(config_path, &cfg, &err) < 0) {
		report(&cfg, &err);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	s.apps = calloc(cfg.n_apps, sizeof *s.apps);
	if (s.apps == NULL || start_pod(&s, &err) < 0) {
		if (s.apps == NULL)
			s1_fail(&err, ENOMEM, "init", "calloc", NULL);
		report(&cfg, &err);
		teardown(&cfg, &s.host);
		return EXIT_STAGE1_FAILURE;
	}
	status = supervise(&s);
	account_pid1_exit(&s, status);
	teardown(&cfg, &s.host);
	status = s.failed ? EXIT_STAGE1_FAILURE : s.first_failure >= 0 ? s.first_failure : EXIT_OK;
	free(s.apps);
	config_free(&cfg);
	return status;
}
