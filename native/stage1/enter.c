/*
 * `skiff-stage1 enter POD_DIR PID1 [--app NAME] [--] CMD [ARG...]`: runs a
 * command inside a running pod.
 *
 * The pod dir is the source of truth: POD_DIR/pid must name PID1 (so a
 * recycled PID is never entered by mistake) and POD_DIR/stage1.conf gives
 * the pod's cgroups (joined first, so the command counts against the pod's
 * limits and sees the pod's cgroup namespace root) and the app's env.
 *
 * With per-app roots, PID 1's root is the pod root, which holds the apps'
 * roots: the command gets the root of the `--app` (of the first app without
 * one) exactly as the app got it, in a mount namespace of its own pivoted
 * into that root (app-roots.c).
 *
 * setns(pid) only moves our children, so we fork: the child is in every
 * namespace of the pod and execs CMD; we wait and pass its status through
 * (128+N for signal N; 127/126 when CMD cannot be run, as shells do). From
 * a terminal (stdin is one) CMD gets a pty of the pod's own (enter-pty.c);
 * otherwise stdin, stdout and stderr are passed through.
 *
 * The child never holds more than the pod's apps: with --app it takes that
 * app's identity through the very code the app went through
 * (app_identity_apply: rlimits, capabilities, groups/gid/uid, no_new_privs)
 * and its working dir; without --app it is root with Docker's default 14
 * capabilities and no_new_privs, never stage1's full set. Only the parent,
 * which execs nothing, keeps stage1's privileges (to signal the child).
 *
 * Nothing of the host is reachable from the pod through the child while it
 * still runs this binary: see the top of enter_run().
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP "enter"

extern char **environ;

static int usage(const char *msg)
{
	fprintf(stderr, "skiff-stage1: enter: %s\nusage: skiff-stage1 enter POD_DIR PID1 [--app NAME] [--] CMD [ARG...]\n", msg);
	return EXIT_USAGE;
}

static int fail(const struct s1_error *err)
{
	char line[4096];

	s1_error_format(err, line, sizeof line);
	fprintf(stderr, "skiff-stage1: %s\n", line);
	return EXIT_STAGE1_FAILURE;
}

/* The env without --app: a PATH, HOME, and the caller's TERM so a shell can draw. */
static char **default_env(char *buf, size_t len)
{
	static char *env[4];
	const char *term = getenv("TERM");
	size_t n = 0;

	env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	env[n++] = "HOME=/root";
	if (term != NULL) {
		snprintf(buf, len, "TERM=%s", term);
		env[n++] = buf;
	}
	env[n] = NULL;
	return env;
}

/* Without --app: root, but only as much as an app with no `caps` and no `no-new-privs` key gets. */
static int default_identity(struct app *who, struct s1_error *err)
{
	*who = (struct app) { .name = "", .working_dir = "/", .uid = 0, .gid = 0, .no_new_privs = true };
	return caps_parse(CAPS_DEFAULT, &who->caps, err);
}

/* In the forked child: becomes `who`, then execs CMD; returns only on failure, with the exit status. */
static int child_exec(const struct app *who, int cap_last, char *const *cmd, char *const *envp, struct s1_error *err)
{
	if (signals_reset() < 0)
		return s1_fail(err, errno, STEP, "sigprocmask", NULL), EXIT_STAGE1_FAILURE;
	if (app_identity_apply(who, cap_last, STEP, err) < 0)
		return EXIT_STAGE1_FAILURE;
	/* As the app's user; a working dir removed since the app started is no reason to refuse. */
	if (chdir(who->working_dir) < 0 && ((errno != ENOENT && errno != ENOTDIR) || chdir("/") < 0))
		return s1_fail(err, errno, STEP, "chdir", "%s", who->working_dir), EXIT_STAGE1_FAILURE;
	exec_in_env(cmd[0], cmd, envp, STEP, err);
	return err->errnum == ENOENT ? 127 : 126;
}

static int wait_child(pid_t child, const sigset_t *set)
{
	int status;

	for (;;) {
		siginfo_t si;

		if (sigwaitinfo(set, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			/* Terminal signals already reached the child (same process group). */
			if (si.si_code != SI_KERNEL)
				kill(child, si.si_signo);
			continue;
		}
		if (waitpid(child, &status, WNOHANG) == child)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	}
}

int enter_run(int argc, char **argv)
{
	struct s1_error err = { 0 };
	struct config cfg;
	struct app root_identity;
	struct enter_pty pty = { -1, -1 };
	const bool tty = isatty(STDIN_FILENO);
	const struct app *who = &root_identity;
	const char *pod_dir, *app_name = NULL, *root_app;
	char path[4096], pidtext[32], term[256];
	char *const default_cmd[] = { "/bin/sh", NULL }, *const no_env[] = { NULL };
	char *const *cmd, *const *envp;
	long pid1;
	char *end;
	int i = 4, r, cap_last, userns = -1;
	sigset_t set;
	pid_t child;

	/*
	 * Nothing of the caller's reaches the pod, not even for a moment. The
	 * child we fork is in the pod's pid namespace from its first instruction
	 * until it execs CMD, still running this binary: a root process in the
	 * pod watching /proc could open /proc/CHILD/fd/N (a host file the caller
	 * held: CLOEXEC only closes at exec) or /proc/CHILD/exe (this binary on
	 * the host). So every fd but stdio is closed here, before anything else,
	 * and the process is made non-dumpable (as runc's `runc init`): its
	 * /proc entries then need CAP_SYS_PTRACE, which pods do not get by
	 * default. The child inherits both; its execve of CMD makes it an
	 * ordinary dumpable process of the pod, running the pod's binary.
	 */
	if (close_range(3, ~0U, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail((s1_fail(&err, errno, STEP, "close_range/prctl(PR_SET_DUMPABLE)", NULL), &err));
	if (argc < 4)
		return usage("needs POD_DIR and PID1");
	pod_dir = argv[2];
	pid1 = strtol(argv[3], &end, 10);
	if (*end != '\0' || pid1 <= 0)
		return usage("PID1 is not a process id");
	if (i + 1 < argc && strcmp(argv[i], "--app") == 0) {
		app_name = argv[i + 1];
		i += 2;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	cmd = i < argc ? argv + i : default_cmd;

	/* POD_DIR/stage1.conf is the longer of the two paths built from it. */
	if ((size_t) snprintf(path, sizeof path, "%s/stage1.conf", pod_dir) >= sizeof path)
		return usage("POD_DIR is too long");
	snprintf(path, sizeof path, "%s/pid", pod_dir);
	if (read_small_file(path, pidtext, sizeof pidtext) < 0)
		return fail((s1_fail(&err, errno, STEP, "open", "%s", path), &err));
	if (strtol(pidtext, NULL, 10) != pid1)
		return fail((s1_fail_msg(&err, STEP, "%s names PID %ld, not %ld: is the pod still running?", path,
					 strtol(pidtext, NULL, 10), pid1), &err));
	snprintf(path, sizeof path, "%s/stage1.conf", pod_dir);
	if (config_read(path, &cfg, &err) < 0)
		return fail(&err);
	envp = default_env(term, sizeof term);
	if (app_name != NULL) {
		size_t k;

		for (k = 0; k < cfg.n_apps && strcmp(cfg.apps[k].name, app_name) != 0; k++)
			;
		if (k == cfg.n_apps)
			return config_free(&cfg), usage("--app names no app of this pod");
		who = &cfg.apps[k];
		envp = who->env.v != NULL ? (char *const *) who->env.v : no_env;
	} else if (default_identity(&root_identity, &err) < 0) {
		return config_free(&cfg), fail(&err);
	}
	/* Without --app, the first app's root: the pod root itself holds nothing to run. */
	root_app = app_name != NULL ? app_name : cfg.apps[0].name;
	/* private-users: the namespace the apps joined, from PID 1's fd of it (userns.c); opened on the host's side. */
	if (cfg.users != NULL && (userns = userns_of_pid1((pid_t) pid1, &err)) < 0)
		return config_free(&cfg), fail(&err);
	/* Read on the host's /proc: a pod root of per-app roots has none. */
	if ((cap_last = caps_last_cap(&err)) < 0 || ns_join_cgroups(&cfg.cgroups, STEP, &err) < 0 ||
	    ns_enter_pod((pid_t) pid1, &err) < 0 || (cfg.per_app_rootfs && app_root_enter(root_app, STEP, &err) < 0))
		return config_free(&cfg), fail(&err);
	/* In a shared root an app with --readonly-rootfs got a read-only view of its own: so does its enter. */
	if (!cfg.per_app_rootfs && app_name != NULL && who->readonly_rootfs && app_readonly_view(STEP, &err) < 0)
		return config_free(&cfg), fail(&err);
	if (tty && enter_pty_open(&pty, &err) < 0)
		return config_free(&cfg), fail(&err);

	signals_forwarded(&set);
	sigaddset(&set, SIGQUIT);
	if (tty)
		sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	child = fork();
	if (child < 0)
		return config_free(&cfg), fail((s1_fail(&err, errno, STEP, "fork", NULL), &err));
	if (child == 0) {
		/* Into the user namespace last, as an app (app.c): the parent keeps the host's privileges to relay and signal. */
		if ((tty && enter_pty_child(&pty, &err) < 0) || (userns >= 0 && userns_join(userns, STEP, &err) < 0))
			r = EXIT_STAGE1_FAILURE;
		else
			r = child_exec(who, cap_last, cmd, envp, &err);
		fail(&err);
		_exit(r);
	}
	r = tty ? enter_pty_relay(&pty, child, &set) : wait_child(child, &set);
	config_free(&cfg);
	return r;
}
