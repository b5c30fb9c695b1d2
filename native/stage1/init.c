/*
 * The pod's PID 1: builds the pod, starts the apps, then stays as the
 * reaper and signal forwarder until the last app has exited.
 *
 * Design notes:
 * - PR_SET_PDEATHSIG(SIGKILL) comes first: if stage1 is SIGKILLed, PID 1
 *   dies, and the kernel kills everything else in the pid namespace with it.
 *   Inside a new pid namespace getppid() is always 0, so "did the parent
 *   die before prctl?" is asked of the message pipe instead: POLLERR on its
 *   write end means no reader is left.
 * - Signals stay blocked (inherited from the supervisor) and are read from a
 *   signalfd: the kernel drops default-action signals sent to a pid
 *   namespace's init, but it always queues blocked ones.
 * - Signals the terminal sent (si_code SI_KERNEL) already reached every
 *   process of the foreground group, the apps included: forwarding them
 *   again would deliver each Ctrl-C twice.
 * - Each app reports its exec through a CLOEXEC pipe: EOF means execve
 *   succeeded, a struct s1_error means it failed and says where.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void __attribute__((noreturn)) die(const struct pod_ctx *ctx, const struct s1_error *err)
{
	struct s1_msg msg = { .type = MSG_ERROR, .app = -1, .err = *err };

	msg_send(ctx->msg_fd, &msg);
	_exit(1);
}

static void send_msg(const struct pod_ctx *ctx, uint32_t type, int app, int status)
{
	struct s1_msg msg = { .type = type, .app = app, .status = status };

	clock_gettime(CLOCK_REALTIME, &msg.time);
	/* EPIPE: the supervisor is gone, and PDEATHSIG is about to end us too. */
	msg_send(ctx->msg_fd, &msg);
}

static int check_parent_alive(int msg_fd, struct s1_error *err)
{
	struct pollfd p = { .fd = msg_fd, .events = POLLOUT };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return s1_fail(err, errno, "init", "prctl(PR_SET_PDEATHSIG)", NULL);
	if (poll(&p, 1, 0) < 0)
		return s1_fail(err, errno, "init", "poll", "supervisor pipe");
	if (p.revents & POLLERR)
		_exit(1); /* no one left to report to */
	return 0;
}

/* One root for the whole pod: rootfs-target itself, shared by every app. */
static int build_pod_root(struct pod_ctx *ctx, struct s1_error *err)
{
	const struct config *cfg = ctx->cfg;
	const char *shown = cfg->rootfs_target;
	struct binds *binds = NULL;
	bool all_ro = true;
	int r;

	if (rootfs_make_rslave(err) < 0 || userns_prepare_root(cfg, &cfg->rootfs, err) < 0 ||
	    rootfs_mount(&cfg->rootfs, shown, err) < 0)
		return -1;
	r = binds_open(cfg, NULL, &binds, err);
	if (r == 0)
		r = rootfs_pivot(shown, "rootfs", err);
	if (r == 0)
		r = rootfs_mount_pseudo(shown, -1, err);
	if (r == 0)
		r = binds_attach(shown, binds, err);
	binds_free(binds);
	if (r < 0 || paths_mask_and_protect(cfg, shown, err) < 0 || sd_notify_relay_bind(shown, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_apps; i++)
		all_ro &= cfg->apps[i].readonly_rootfs;
	/* All apps read-only (one app: the usual case): once, for the pod, so `enter` sees it too. */
	ctx->root_readonly = all_ro;
	if (all_ro && rootfs_make_readonly("rootfs", shown, err) < 0)
		return -1;
	return 0;
}

static int build_pod(struct pod_ctx *ctx, struct s1_error *err)
{
	const struct config *cfg = ctx->cfg;

	/* The lock belongs to the supervisor; our copy must not outlive it in an app. */
	close(cfg->lock_fd);
	/*
	 * PID 1 runs this binary for the pod's whole life, inside the pod's pid
	 * namespace: dumpable, any root app could open /proc/1/exe (the host's
	 * stage1 binary, CVE-2019-5736's way in) or /proc/1/fd/N (the pipe to
	 * the supervisor, to forge exit statuses). Non-dumpable, those need
	 * CAP_SYS_PTRACE. Each app inherits this until its execve resets it, so
	 * the same holds for an app's child between fork and exec. A pod given
	 * CAP_SYS_PTRACE (--caps-retain) opens /proc/1/exe all the same, and
	 * finds a sealed memfd copy, never the host's file (self-clone.c).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return s1_fail(err, errno, "init", "prctl(PR_SET_DUMPABLE)", NULL);
	/* Device nodes and mount points get exactly the modes we ask for; apps get 022 back. */
	umask(0);
	if (check_parent_alive(ctx->msg_fd, err) < 0 || ns_join_cgroups(&cfg->cgroups, "cgroup", err) < 0 ||
	    ns_unshare_pod(cfg, err) < 0)
		return -1;
	/* Read while the host's /proc is at hand: a pod root of per-app roots has no /proc of its own. */
	if ((ctx->cap_last = caps_last_cap(err)) < 0 || etc_files_write(cfg, err) < 0)
		return -1;
	if ((cfg->per_app_rootfs ? app_roots_build(cfg, err) : build_pod_root(ctx, err)) < 0)
		return -1;
	/* Bound in the pod: the supervisor reads it, no app may inherit our copy (sd-notify.c). */
	sd_notify_relay_close();
	return 0;
}

/* Forks app i; returns its PID once it has exec'd, or -1 with err. */
static pid_t start_app(const struct pod_ctx *ctx, size_t i, struct s1_error *err)
{
	const struct app *app = &ctx->cfg->apps[i];
	int status_pipe[2];
	struct s1_error child_err;
	ssize_t n;
	pid_t pid;

	if (pipe2(status_pipe, O_CLOEXEC) < 0)
		return s1_fail(err, errno, "init", "pipe2", "app %s", app->name);
	pid = fork();
	if (pid < 0) {
		close(status_pipe[0]), close(status_pipe[1]);
		return s1_fail(err, errno, "init", "fork", "app %s", app->name);
	}
	if (pid == 0) {
		/* Nothing of ours leaks into the app, whatever stage0 left open. */
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		memset(&child_err, 0, sizeof child_err);
		app_exec(ctx, app, &child_err);
		write_all(status_pipe[1], &child_err, sizeof child_err);
		_exit(127);
	}
	close(status_pipe[1]);
	do
		n = read(status_pipe[0], &child_err, sizeof child_err);
	while (n < 0 && errno == EINTR);
	close(status_pipe[0]);
	if (n == 0)
		return pid;
	if (n != (ssize_t) sizeof child_err)
		return s1_fail(err, n < 0 ? errno : EIO, "init", "read", "exec status of app %s", app->name);
	*err = child_err;
	return -1;
}

void pod_init(const struct config *cfg, int msg_fd)
{
	struct pod_ctx ctx = { .cfg = cfg, .msg_fd = msg_fd };
	struct s1_error err = { 0 };
	cleanup_free pid_t *pids = calloc(cfg->n_apps, sizeof *pids);
	size_t running = 0;
	sigset_t set;
	int sfd;

	if (pids == NULL) {
		s1_fail(&err, ENOMEM, "init", "calloc", NULL);
		die(&ctx, &err);
	}
	if (build_pod(&ctx, &err) < 0)
		die(&ctx, &err);
	signals_forwarded(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		s1_fail(&err, errno, "init", "signalfd", NULL);
		die(&ctx, &err);
	}
	send_msg(&ctx, MSG_READY, -1, 0);

	for (size_t i = 0; i < cfg->n_apps; i++) {
		pids[i] = start_app(&ctx, i, &err);
		if (pids[i] < 0) {
			/* The supervisor stops the pod; no further app starts. */
			struct s1_msg msg = { .type = MSG_ERROR, .app = (int32_t) i, .err = err };

			pids[i] = 0;
			msg_send(msg_fd, &msg);
			break;
		}
		send_msg(&ctx, MSG_APP_STARTED, (int) i, 0);
		running++;
	}
	/* Socket activation's fds are the first app's now (listen-fds.c). */
	listen_fds_close();

	while (running > 0) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof si);
		int status;
		pid_t pid;

		if (n != (ssize_t) sizeof si)
			continue;
		if (si.ssi_signo != SIGCHLD) {
			if (si.ssi_code == SI_KERNEL)
				continue;
			for (size_t i = 0; i < cfg->n_apps; i++)
				if (pids[i] > 0)
					kill(pids[i], (int) si.ssi_signo);
			continue;
		}
		/* SIGCHLDs coalesce: reap everything that is ready, apps and orphans alike. */
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (size_t i = 0; i < cfg->n_apps; i++)
				if (pids[i] == pid) {
					pids[i] = 0;
					running--;
					send_msg(&ctx, MSG_APP_EXITED, (int) i, status);
				}
	}
	/* Our exit makes the kernel SIGKILL whatever the apps left behind. */
	_exit(0);
}
