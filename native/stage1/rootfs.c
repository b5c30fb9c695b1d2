/*
 * A root filesystem: mounted (an overlay or a bound dir), pivoted into, then
 * filled with /proc, /sys (read-only, with the pod's own cgroups), and a
 * minimal /dev. With one pod root that is the root at rootfs-target; with
 * per-app roots (app-roots.c) each app's root gets the same filling, done
 * while PID 1 is chrooted into it.
 *
 * Why pivot first and mount the pseudo filesystems after: once the old root
 * is detached (and while chrooted into an app's root), every path resolves
 * inside the pod (that app's root), so a hostile image (a
 * symlink /dev -> /etc, /proc/../..) cannot make us mount or write outside
 * it. What must come from the host (volumes, resolv.conf) is opened before
 * the pivot as detached mounts (volumes.c) and attached after.
 *
 * Everything mounted here lives in the pod's mount namespace, made rslave
 * first so nothing propagates back to the host: it all vanishes with the pod.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/utsname.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define STEP "rootfs"

/* Mounts a filesystem at a path of the current root; `shown` is that root on the host, for the error. */
int rootfs_mount_fs(const char *shown, const char *fstype, const char *target, unsigned long flags, const char *data,
		    struct s1_error *err)
{
	struct stat st;

	if (mkdir_p(target, 0755, STEP, shown, err) < 0)
		return -1;
	/* Mount points must be real dirs: a symlink in the image would move the mount elsewhere. */
	if (lstat(target, &st) < 0)
		return s1_fail(err, errno, STEP, "lstat", "%s%s", shown, target);
	if (!S_ISDIR(st.st_mode))
		return s1_fail(err, ENOTDIR, STEP, "mount", "%s on %s%s", fstype, shown, target);
	if (mount(fstype, target, fstype, flags, data) < 0)
		return s1_fail(err, errno, STEP, "mount", "%s on %s%s", fstype, shown, target);
	return 0;
}

static int check_overlay_path(const char *path, struct s1_error *err)
{
	/* The legacy option string has no escaping for these: refuse rather than mis-parse. */
	if (strpbrk(path, ",:") != NULL)
		return s1_fail(err, EINVAL, STEP, "mount", "overlay: path %s holds ',' or ':'", path);
	return 0;
}

/* overlayfs says ENOENT without saying which dir: find it, only on this failure path. */
static int overlay_failed(const struct rootfs_spec *r, const char *target, int errnum, struct s1_error *err)
{
	struct stat st;

	if (errnum == ENOENT || errnum == ENOTDIR) {
		for (size_t i = 0; i < r->lower.n; i++)
			if (stat(r->lower.v[i], &st) < 0)
				return s1_fail(err, errnum, STEP, "mount", "overlay on %s (lowerdir %s)", target, r->lower.v[i]);
		if (stat(r->upper, &st) < 0)
			return s1_fail(err, errnum, STEP, "mount", "overlay on %s (upperdir %s)", target, r->upper);
		if (stat(r->work, &st) < 0)
			return s1_fail(err, errnum, STEP, "mount", "overlay on %s (workdir %s)", target, r->work);
	}
	return s1_fail(err, errnum, STEP, "mount", "overlay on %s", target);
}

/* Before any mount: nothing of ours may propagate to the host's namespace. */
int rootfs_make_rslave(struct s1_error *err)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return s1_fail(err, errno, STEP, "mount", "--make-rslave /");
	return 0;
}

/*
 * The overlay through the new mount API, one lower layer per fsconfig call
 * ("lowerdir+", Linux >= 6.8): no option string, so no page limit on the
 * number of layers (overlayfs itself takes up to 500) and no escaping.
 * Returns 1 when this kernel does not take "lowerdir+" (nothing made yet):
 * the caller falls back to mount(2). How that shows: before 6.5 overlayfs
 * has only a legacy context, which queues every key without looking and
 * refuses it at CMD_CREATE (or once the queue passes a page), 6.5 to 6.7
 * refuse the key itself; all with EINVAL. A real EINVAL on a newer kernel
 * just goes through mount(2) too, which reports it.
 */
/* Older kernels log each refused "lowerdir+" (Debian 12's 6.1: once per pod): not tried there at all. */
static bool kernel_takes_lowerdir_plus(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;

	return uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 && (major > 6 || (major == 6 && minor >= 8));
}

static int overlay_fsconfig(const struct rootfs_spec *r, const char *target, struct s1_error *err)
{
	cleanup_fd int fs = -1;
	cleanup_fd int mnt = -1;

	if (!kernel_takes_lowerdir_plus())
		return 1;
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return errno == ENOSYS ? 1 : s1_fail(err, errno, STEP, "fsopen", "overlay for %s", target);
	for (size_t i = 0; i < r->lower.n; i++)
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", r->lower.v[i], 0) < 0)
			return errno == EINVAL ? 1
					       : s1_fail(err, errno, STEP, "mount", "overlay on %s (lowerdir %s)", target,
							 r->lower.v[i]);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", r->upper, 0) < 0)
		return s1_fail(err, errno, STEP, "mount", "overlay on %s (upperdir %s)", target, r->upper);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", r->work, 0) < 0)
		return s1_fail(err, errno, STEP, "mount", "overlay on %s (workdir %s)", target, r->work);
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return errno == EINVAL ? 1 : overlay_failed(r, target, errno, err);
	/* nodev: a device node in an image layer (or made in the pod's root) opens nothing. */
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return s1_fail(err, errno, STEP, "fsmount", "overlay on %s", target);
	if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return s1_fail(err, errno, STEP, "move_mount", "overlay on %s", target);
	return 0;
}

/*
 * Before 6.8: mount(2) with one page of options. Absolute layer paths fit
 * ~44 layers; when they do not, each layer is opened and named by its
 * /proc/self/fd/N link (~18 bytes: ~200 layers), which overlayfs resolves at
 * mount time like any path.
 */
static int overlay_legacy(const struct rootfs_spec *r, const char *target, struct s1_error *err)
{
	char data[4096];
	cleanup_free int *fds = calloc(r->lower.n + 1, sizeof *fds);
	size_t len = 0;
	bool by_fd = false;
	int ret = 0;

	if (fds == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	for (size_t i = 0; i < r->lower.n; i++) {
		fds[i] = -1;
		len += strlen(r->lower.v[i]) + 1;
	}
	by_fd = len + strlen(r->upper) + strlen(r->work) + 64 >= sizeof data;
	len = (size_t) snprintf(data, sizeof data, "lowerdir=");
	for (size_t i = 0; i < r->lower.n && len < sizeof data && ret == 0; i++) {
		const char *sep = i > 0 ? ":" : "";

		if (!by_fd) {
			len += (size_t) snprintf(data + len, sizeof data - len, "%s%s", sep, r->lower.v[i]);
			continue;
		}
		fds[i] = open(r->lower.v[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fds[i] < 0)
			ret = s1_fail(err, errno, STEP, "mount", "overlay on %s (lowerdir %s)", target, r->lower.v[i]);
		else
			len += (size_t) snprintf(data + len, sizeof data - len, "%s/proc/self/fd/%d", sep, fds[i]);
	}
	if (ret == 0 && len < sizeof data)
		len += (size_t) snprintf(data + len, sizeof data - len, ",upperdir=%s,workdir=%s", r->upper, r->work);
	if (ret == 0 && len >= sizeof data)
		ret = s1_fail(err, E2BIG, STEP, "mount", "overlay on %s: %zu layers exceed one page of options (Linux >= 6.8 "
			      "has no such limit)", target, r->lower.n);
	if (ret == 0 && mount("overlay", target, "overlay", MS_NODEV, data) < 0)
		ret = overlay_failed(r, target, errno, err);
	for (size_t i = 0; i < r->lower.n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret;
}

/* One root filesystem on TARGET (a host path: called before pivot_root), nodev. */
int rootfs_mount(const struct rootfs_spec *r, const char *target, struct s1_error *err)
{
	struct mount_attr nodev = { .attr_set = MOUNT_ATTR_NODEV };
	int r1;

	if (r->dir != NULL) {
		if (mount(r->dir, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return s1_fail(err, errno, STEP, "mount", "--bind %s on %s", r->dir, target);
		if (mount_setattr(AT_FDCWD, target, AT_RECURSIVE, &nodev, sizeof nodev) < 0)
			return s1_fail(err, errno, STEP, "mount_setattr(MOUNT_ATTR_NODEV)", "%s", target);
		return 0;
	}
	/* Refused on every kernel alike, though only mount(2)'s option string needs it. */
	for (size_t i = 0; i < r->lower.n; i++)
		if (check_overlay_path(r->lower.v[i], err) < 0)
			return -1;
	if (check_overlay_path(r->upper, err) < 0 || check_overlay_path(r->work, err) < 0)
		return -1;
	r1 = overlay_fsconfig(r, target, err);
	return r1 == 1 ? overlay_legacy(r, target, err) : r1;
}

/*
 * pivot_root(".", ".") stacks the old root on top of the new one; detaching
 * it then leaves only DIR's tree (runc's trick: no put_old dir needed). DIR
 * must be a mount point; STEP names who pivots ("rootfs", "app web").
 */
int rootfs_pivot(const char *dir, const char *step, struct s1_error *err)
{
	if (chdir(dir) < 0)
		return s1_fail(err, errno, step, "chdir", "%s", dir);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return s1_fail(err, errno, step, "pivot_root", "%s", dir);
	if (umount2(".", MNT_DETACH) < 0)
		return s1_fail(err, errno, step, "umount2", "old root under %s", dir);
	if (chdir("/") < 0)
		return s1_fail(err, errno, step, "chdir", "/");
	return 0;
}

/*
 * /sys/fs/cgroup: the pod's cgroups, mounted fresh inside its cgroup
 * namespace (so each hierarchy's root is the pod's own cgroup), read-only,
 * on a read-only tmpfs. One mount per line of /proc/self/cgroup: v1
 * hierarchies by their controllers, the v2 one as `unified` (or the whole
 * /sys/fs/cgroup on a v2-only host).
 */
static int cgroup_links(const char *shown, const char *ctrl, struct s1_error *err)
{
	char names[256], link[PATH_MAX], *save = NULL;

	snprintf(names, sizeof names, "%s", ctrl);
	for (char *name = strtok_r(names, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save)) {
		snprintf(link, sizeof link, "/sys/fs/cgroup/%s", name);
		if (symlink(ctrl, link) < 0 && errno != EEXIST)
			return s1_fail(err, errno, STEP, "symlink", "%s%s", shown, link);
	}
	return 0;
}

static int mount_cgroups(const char *shown, struct s1_error *err)
{
	char text[4096], *save = NULL, dir[PATH_MAX];
	const unsigned long flags = MS_RDONLY | PSEUDO_FLAGS;
	bool only_v2 = true;

	if (read_small_file("/proc/self/cgroup", text, sizeof text) < 0)
		return s1_fail(err, errno, STEP, "open", "%s/proc/self/cgroup", shown);
	for (char *c = text; *c != '\0'; c++)
		if (c[0] == '\n' && c[1] != '\0' && strncmp(c + 1, "0::", 3) != 0)
			only_v2 = false;
	if (strncmp(text, "0::", 3) != 0)
		only_v2 = false;
	if (only_v2)
		return rootfs_mount_fs(shown, "cgroup2", "/sys/fs/cgroup", flags, NULL, err);
	if (rootfs_mount_fs(shown, "tmpfs", "/sys/fs/cgroup", PSEUDO_FLAGS, "mode=755", err) < 0)
		return -1;
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *ctrl = strchr(line, ':'), *end;

		if (ctrl == NULL || (end = strchr(++ctrl, ':')) == NULL)
			continue;
		*end = '\0';
		if (*ctrl == '\0') {
			if (rootfs_mount_fs(shown, "cgroup2", "/sys/fs/cgroup/unified", flags, NULL, err) < 0)
				return -1;
			continue;
		}
		snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s", strncmp(ctrl, "name=", 5) == 0 ? ctrl + 5 : ctrl);
		if (mkdir_p(dir, 0755, STEP, shown, err) < 0)
			return -1;
		if (mount("cgroup", dir, "cgroup", flags, ctrl) < 0)
			return s1_fail(err, errno, STEP, "mount", "cgroup %s on %s%s", ctrl, shown, dir);
		/* Co-mounted controllers ("cpu,cpuacct") are also reachable by each name, as systemd does. */
		if (strchr(ctrl, ',') != NULL && cgroup_links(shown, ctrl, err) < 0)
			return -1;
	}
	if (mount(NULL, "/sys/fs/cgroup", NULL, MS_REMOUNT | MS_RDONLY | PSEUDO_FLAGS, "mode=755") < 0)
		return s1_fail(err, errno, STEP, "mount", "-o remount,ro %s/sys/fs/cgroup", shown);
	return 0;
}

/* A minimal /dev; SHM_FD, when not -1, is a detached mount to put on /dev/shm instead of a fresh tmpfs. */
static int make_dev(const char *shown, int shm_fd, struct s1_error *err)
{
	static const struct {
		const char *path;
		unsigned int major, minor;
	} nodes[] = {
		{ "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
		{ "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
	};
	static const struct {
		const char *target, *path;
	} links[] = {
		{ "pts/ptmx", "/dev/ptmx" }, { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
	};
	struct mount_attr dev = { .attr_clr = MOUNT_ATTR_NODEV };

	if (rootfs_mount_fs(shown, "tmpfs", "/dev", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k", err) < 0)
		return -1;
	/*
	 * /dev is nodev, so a node the pod makes there opens nothing. Ours are
	 * made there too (mknod: no host paths involved), then each is bound onto
	 * itself and that one-file mount alone cleared of nodev.
	 */
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
		if (mknod(nodes[i].path, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0)
			return s1_fail(err, errno, STEP, "mknod", "%s%s", shown, nodes[i].path);
		if (mount(nodes[i].path, nodes[i].path, NULL, MS_BIND, NULL) < 0)
			return s1_fail(err, errno, STEP, "mount", "--bind %s%s", shown, nodes[i].path);
		if (mount_setattr(AT_FDCWD, nodes[i].path, 0, &dev, sizeof dev) < 0)
			return s1_fail(err, errno, STEP, "mount_setattr(~MOUNT_ATTR_NODEV)", "%s%s", shown, nodes[i].path);
	}
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i].target, links[i].path) < 0)
			return s1_fail(err, errno, STEP, "symlink", "%s%s", shown, links[i].path);
	/* newinstance: the pod's ptys are its own, not the host's. */
	if (rootfs_mount_fs(shown, "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", err) < 0 ||
	    rootfs_mount_fs(shown, "mqueue", "/dev/mqueue", PSEUDO_FLAGS, NULL, err) < 0)
		return -1;
	if (shm_fd < 0)
		return rootfs_mount_fs(shown, "tmpfs", "/dev/shm", PSEUDO_FLAGS, "mode=1777,size=65536k", err);
	/* /dev is our own fresh tmpfs: no symlink of the image can be on the way. */
	if (mkdir("/dev/shm", 0755) < 0)
		return s1_fail(err, errno, STEP, "mkdir", "%s/dev/shm", shown);
	if (move_mount(shm_fd, "", AT_FDCWD, "/dev/shm", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return s1_fail(err, errno, STEP, "move_mount", "the pod's /dev/shm on %s/dev/shm", shown);
	return 0;
}

/* /proc, /sys and /dev in the current root (the pod's, or an app's while PID 1 is chrooted there). */
int rootfs_mount_pseudo(const char *shown, int shm_fd, struct s1_error *err)
{
	if (rootfs_mount_fs(shown, "proc", "/proc", PSEUDO_FLAGS, NULL, err) < 0 ||
	    rootfs_mount_fs(shown, "sysfs", "/sys", MS_RDONLY | PSEUDO_FLAGS, NULL, err) < 0 ||
	    mount_cgroups(shown, err) < 0 || make_dev(shown, shm_fd, err) < 0)
		return -1;
	return 0;
}

/* The last step: with every mount point made, the root itself (not its submounts) may go read-only. */
int rootfs_make_readonly(const char *step, const char *shown, struct s1_error *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

	if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) < 0)
		return s1_fail(err, errno, step, "mount_setattr(MOUNT_ATTR_RDONLY)", "%s", shown);
	return 0;
}
