/*
 * Per-app roots (rkt's stage2 layout): every app runs in a root of its own,
 * while all apps share the pod's pid, net, uts, ipc and cgroup namespaces.
 *
 *   rootfs-target                 the pod root: a small tmpfs, PID 1's root
 *     /dev/shm                    the pod's one /dev/shm, bound into every app root
 *     /opt/stage2/NAME/rootfs     the app's overlay (or bound dir), filled as a
 *                                 single pod root is: /proc, /sys, /dev, the
 *                                 /etc files, volumes, masked and read-only
 *                                 paths, then read-only if the app asks
 *
 * Order, and why:
 * 1. The pod root and every app root are mounted, and every host source
 *    (/etc files, volumes) is opened as a detached mount per app, BEFORE the
 *    pivot: after it no host path can be reached.
 * 2. pivot_root into the pod root.
 * 3. Each app root is filled while PID 1 is chrooted into it, so the
 *    absolute symlinks of a hostile image resolve inside that app's root,
 *    never in the pod root or a sibling's; PID 1 gets back out through an fd
 *    on the pod root. All of it is built in PID 1's mount namespace, so
 *    `enter --app` sees exactly what the app sees.
 * 4. Each app (app.c) and each `enter` (enter.c) unshares a mount namespace
 *    and pivot_roots into its app's root, detaching the pod root.
 *
 * Why pivot_root in a mount namespace of its own and not chroot: a chroot
 * leaves the pod root and the sibling roots in the app's mount namespace,
 * and a process with CAP_SYS_CHROOT (in Docker's default set) leaves a
 * chroot in two calls. After pivot_root and the detach, the app's mount
 * namespace holds its own tree and nothing else: there is nowhere to escape
 * to, and /proc/self/mountinfo in the app describes its root only.
 *
 * Why one /dev/shm for the pod: the apps share the IPC namespace, so SysV shm
 * and POSIX message queues are shared already; POSIX shm (/dev/shm) is shared
 * the same way, as in a Kubernetes pod. /dev/pts stays per app, like the rest
 * of /dev.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#define STEP "rootfs"

/* PREFIX/opt/stage2/NAME/rootfs: PREFIX is rootfs-target before the pivot (and in errors), "" after. */
static int app_root_path(char *buf, size_t len, const char *prefix, const char *name, struct s1_error *err)
{
	if ((size_t) snprintf(buf, len, "%s%s/%s/rootfs", prefix, STAGE2_DIR, name) >= len)
		return s1_fail(err, ENAMETOOLONG, STEP, "mkdir", "%s%s/%s/rootfs", prefix, STAGE2_DIR, name);
	return 0;
}

/* Before the pivot: the pod root at rootfs-target, each app's root mounted in it. */
static int mount_roots(const struct config *cfg, struct s1_error *err)
{
	char dir[PATH_MAX];

	/* A tmpfs: the pod root only holds mount points, and nothing of it lands on the host's disk. */
	if (mount("tmpfs", cfg->rootfs_target, "tmpfs", PSEUDO_FLAGS, "mode=755,size=1m") < 0)
		return s1_fail(err, errno, STEP, "mount", "tmpfs on %s", cfg->rootfs_target);
	for (size_t i = 0; i < cfg->n_apps; i++)
		if (app_root_path(dir, sizeof dir, cfg->rootfs_target, cfg->apps[i].name, err) < 0 ||
		    mkdir_p(dir, 0755, STEP, "", err) < 0 || userns_prepare_root(cfg, &cfg->apps[i].rootfs, err) < 0 ||
		    rootfs_mount(&cfg->apps[i].rootfs, dir, err) < 0)
			return -1;
	return 0;
}

/* Fills app I's root with PID 1 chrooted into it, and comes back to the pod root. */
static int fill_app_root(const struct config *cfg, size_t i, struct binds *binds, int pod_root, struct s1_error *err)
{
	const struct app *app = &cfg->apps[i];
	char dir[PATH_MAX], shown[PATH_MAX];
	cleanup_fd int shm = -1, notify = -1;
	int r;

	if (app_root_path(dir, sizeof dir, "", app->name, err) < 0 ||
	    app_root_path(shown, sizeof shown, cfg->rootfs_target, app->name, err) < 0)
		return -1;
	/* Cloned now: inside the chroot the pod root's /dev/shm is out of reach. */
	shm = open_tree(AT_FDCWD, "/dev/shm", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (shm < 0)
		return s1_fail(err, errno, STEP, "open_tree", "%s/dev/shm", cfg->rootfs_target);
	/* The pod's notify relay, bound in the pod root (sd-notify.c): the same socket in every app root. */
	if (sd_notify_relay_fd() >= 0 && (notify = sd_notify_relay_clone(err)) < 0)
		return -1;
	if (chdir(dir) < 0 || chroot(".") < 0)
		return s1_fail(err, errno, STEP, "chroot", "%s", shown);
	r = rootfs_mount_pseudo(shown, shm, err);
	if (r == 0)
		r = binds_attach(shown, binds, err);
	if (r == 0)
		r = paths_mask_and_protect(cfg, shown, err);
	if (r == 0)
		r = sd_notify_relay_attach(notify, shown, err);
	/* Only the app's root mount: its /dev/shm, /proc and volumes keep their own flags. */
	if (r == 0 && app->readonly_rootfs)
		r = rootfs_make_readonly(STEP, shown, err);
	/* Out through the fd: ".." stops at a chroot's root, an fd opened before does not. */
	if (fchdir(pod_root) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return r < 0 ? r : s1_fail(err, errno, STEP, "chroot", "%s", cfg->rootfs_target);
	return r;
}

int app_roots_build(const struct config *cfg, struct s1_error *err)
{
	cleanup_free struct binds **binds = calloc(cfg->n_apps, sizeof *binds);
	cleanup_fd int pod_root = -1;
	int r = 0;

	if (binds == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	if (rootfs_make_rslave(err) < 0 || mount_roots(cfg, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_apps && r == 0; i++)
		r = binds_open(cfg, &cfg->apps[i], &binds[i], err);
	if (r == 0)
		r = rootfs_pivot(cfg->rootfs_target, STEP, err);
	if (r == 0)
		r = rootfs_mount_fs(cfg->rootfs_target, "tmpfs", "/dev/shm", PSEUDO_FLAGS, "mode=1777,size=65536k", err);
	if (r == 0)
		r = sd_notify_relay_bind(cfg->rootfs_target, err);
	if (r == 0 && (pod_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = s1_fail(err, errno, STEP, "open", "%s", cfg->rootfs_target);
	for (size_t i = 0; i < cfg->n_apps && r == 0; i++)
		r = fill_app_root(cfg, i, binds[i], pod_root, err);
	/* Nothing writes in the pod root from now on (its /dev/shm is a mount of its own). */
	if (r == 0)
		r = rootfs_make_readonly(STEP, cfg->rootfs_target, err);
	for (size_t i = 0; i < cfg->n_apps; i++)
		binds_free(binds[i]);
	return r;
}

/*
 * In an app's child (and in `enter`): a mount namespace of its own, copied
 * from the pod's, pivoted into the app's root. The pod root and the other
 * apps' roots are detached with the old root: this namespace holds nothing
 * else.
 */
int app_root_enter(const char *name, const char *step, struct s1_error *err)
{
	char dir[PATH_MAX];

	if (app_root_path(dir, sizeof dir, "", name, err) < 0)
		return -1;
	if (unshare(CLONE_NEWNS) < 0)
		return s1_fail(err, errno, step, "unshare(CLONE_NEWNS)", NULL);
	return rootfs_pivot(dir, step, err);
}
