/*
 * One app, in the child PID 1 forked for it: from root with every capability
 * to the app's identity, then execve.
 *
 * Order (each step needs what the next one takes away):
 *   the app's own root       (per-app roots) a mount namespace of its own,
 *                            pivoted into it: needs CAP_SYS_ADMIN
 *   per-app read-only root   (one pod root) needs CAP_SYS_ADMIN
 *   stdin                    /dev/null unless interactive
 *   app_identity_apply():
 *     rlimits                clamped to our hard limits: we may lack CAP_SYS_RESOURCE
 *     bounding set           needs CAP_SETPCAP
 *     groups, gid, uid       needs CAP_SETGID/SETUID; KEEPCAPS keeps permitted
 *     capset + ambient       root: `caps`; non-root: `ambient-caps` (none by default)
 *     seccomp filter         without no_new_privs: first, while we hold CAP_SYS_ADMIN
 *                            (seccomp(2) needs it or no_new_privs); with it: last
 *     no_new_privs, umask
 *   chdir                    as the app's user, so permissions are its own
 *   signals                  last, right before execve
 * `enter` runs the same app_identity_apply() (enter.c), so a command entered
 * into a pod never holds more than the app it is entered as.
 * A failure fills err; PID 1 reads it from the exec-status pipe.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Node leaves SIGPIPE and SIGXFSZ ignored, and ignored dispositions survive execve. */
int signals_reset(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails for SIGKILL, SIGSTOP and glibc's internal ones: fine */
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

static int set_rlimits(const struct app *app, const char *step, struct s1_error *err)
{
	for (size_t i = 0; i < app->n_rlimits; i++) {
		const struct app_rlimit *r = &app->rlimits[i];
		struct rlimit cur, want;

		if (getrlimit(r->resource, &cur) < 0)
			return s1_fail(err, errno, step, "getrlimit", "%s", r->name);
		/* Raising a hard limit needs CAP_SYS_RESOURCE; never ask for more than we have. */
		want.rlim_max = r->hard < cur.rlim_max ? r->hard : cur.rlim_max;
		want.rlim_cur = r->soft < want.rlim_max ? r->soft : want.rlim_max;
		if (setrlimit(r->resource, &want) < 0)
			return s1_fail(err, errno, step, "setrlimit", "%s", r->name);
	}
	return 0;
}

int app_identity_apply(const struct app *app, int cap_last, const char *step, struct s1_error *err)
{
	/*
	 * seccomp(2) wants no_new_privs or CAP_SYS_ADMIN. With no_new_privs the
	 * filter goes on last (as runc: it then need not allow our own set-up
	 * calls); without it, before the capabilities go, so its filter allows
	 * the identity calls too (seccomp.c).
	 */
	if (!app->no_new_privs && seccomp_apply(&app->seccomp, app->caps, true, step, err) < 0)
		return -1;
	if (set_rlimits(app, step, err) < 0 || caps_drop_bounding(app->caps, cap_last, step, err) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return s1_fail(err, errno, step, "prctl(PR_SET_KEEPCAPS)", NULL);
	if (setgroups(app->n_groups, app->groups) < 0)
		return s1_fail(err, errno, step, "setgroups", NULL);
	if (setresgid(app->gid, app->gid, app->gid) < 0)
		return s1_fail(err, errno, step, "setresgid", "%u", (unsigned int) app->gid);
	if (setresuid(app->uid, app->uid, app->uid) < 0)
		return s1_fail(err, errno, step, "setresuid", "%u", (unsigned int) app->uid);
	if (app->uid == 0 ? caps_set(app->caps, false, step, err) < 0 : caps_set(app->ambient_caps, true, step, err) < 0)
		return -1;
	if (app->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return s1_fail(err, errno, step, "prctl(PR_SET_NO_NEW_PRIVS)", NULL);
	umask(022);
	if (app->no_new_privs && seccomp_apply(&app->seccomp, app->caps, false, step, err) < 0)
		return -1;
	return 0;
}

/*
 * execvpe() would search the PATH of *this* process's environment; the app's
 * own PATH is the one that counts. Like execvp: a name with a slash is used
 * as is, EACCES is remembered while the search goes on, ENOENT is the default.
 */
int exec_in_env(const char *file, char *const argv[], char *const envp[], const char *step, struct s1_error *err)
{
	const char *path = DEFAULT_PATH;
	char candidate[PATH_MAX];
	int saved = ENOENT;

	if (strchr(file, '/') != NULL) {
		execve(file, argv, envp);
		return s1_fail(err, errno, step, "execve", "%s", file);
	}
	for (size_t i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (const char *dir = path, *end;; dir = end + 1) {
		size_t len;

		end = strchrnul(dir, ':');
		len = (size_t) (end - dir);
		/* An empty PATH element means the current directory, as in execvp. */
		if (snprintf(candidate, sizeof candidate, "%.*s%s%s", (int) len, dir, len ? "/" : "", file) <
		    (int) sizeof candidate) {
			execve(candidate, argv, envp);
			if (errno == EACCES)
				saved = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				return s1_fail(err, errno, step, "execve", "%s", candidate);
		}
		if (*end == '\0')
			break;
	}
	return s1_fail(err, saved, step, "execve", "%s (searched PATH=%s)", file, path);
}

int app_readonly_view(const char *step, struct s1_error *err)
{
	/* Only this app's view: a mount namespace of its own, copied from the pod's. */
	if (unshare(CLONE_NEWNS) < 0)
		return s1_fail(err, errno, step, "unshare(CLONE_NEWNS)", NULL);
	return rootfs_make_readonly(step, "/", err);
}

static int stdin_null(const char *step, struct s1_error *err)
{
	cleanup_fd int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return s1_fail(err, errno, step, "open", "/dev/null");
	if (dup2(fd, 0) < 0)
		return s1_fail(err, errno, step, "dup2", "/dev/null");
	return 0;
}

void app_exec(const struct pod_ctx *ctx, const struct app *app, struct s1_error *err)
{
	char step[S1_ERR_STEP];
	cleanup_free char **argv = calloc(app->args.n + 2, sizeof *argv);
	const char *const empty_env[] = { NULL };
	char *const *envp;

	snprintf(step, sizeof step, "app %s", app->name);
	if (argv == NULL) {
		s1_fail(err, ENOMEM, step, "calloc", NULL);
		return;
	}
	argv[0] = (char *) app->exec;
	for (size_t i = 0; i < app->args.n; i++)
		argv[i + 1] = (char *) app->args.v[i];
	/* Per-app roots: the root, read-only or not, was made in the pod's namespace (app-roots.c). */
	if (ctx->cfg->per_app_rootfs) {
		if (app_root_enter(app->name, step, err) < 0)
			return;
	} else if (app->readonly_rootfs && !ctx->root_readonly && app_readonly_view(step, err) < 0) {
		return;
	}
	if (!app->interactive && stdin_null(step, err) < 0)
		return;
	/* Last of what needs the host's privileges (userns.c): the app's capabilities hold in its user namespace only. */
	if (ctx->cfg->users != NULL && userns_join(ctx->cfg->users->userns_fd, step, err) < 0)
		return;
	if (app_identity_apply(app, ctx->cap_last, step, err) < 0)
		return;
	if (chdir(app->working_dir) < 0) {
		s1_fail(err, errno, step, "chdir", "%s", app->working_dir);
		return;
	}
	if (signals_reset() < 0) {
		s1_fail(err, errno, step, "sigprocmask", NULL);
		return;
	}
	envp = app->env.v != NULL ? (char *const *) app->env.v : (char *const *) empty_env;
	/* Socket activation's fds go to the first app only (listen-fds.c). */
	if (app == &ctx->cfg->apps[0] && (envp = listen_fds_give(envp, step, err)) == NULL)
		return;
	/* With `sd-notify app`, every app may tell systemd, through the relay (sd-notify.c). */
	if ((envp = sd_notify_relay_env(envp, step, err)) == NULL)
		return;
	exec_in_env(app->exec, argv, envp, step, err);
}
