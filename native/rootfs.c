/*
 * The pod's root: mounted at rootfs-target, pivoted into, then filled with
 * /proc, /sys (read-only, with the pod's own cgroups), and a minimal /dev.
 *
 * Why pivot first and mount the pseudo filesystems after: once the old root
 * is detached, every path resolves inside the pod, so a hostile image (a
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
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define STEP "rootfs"
#define PSEUDO_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* Mounts a pseudo filesystem at a pod path; `shown` is rootfs-target, for the error. */
static int mount_fs(const char *shown, const char *fstype, const char *target, unsigned long flags,
		    const char *data, struct s1_error *err)
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
static int overlay_failed(const struct config *cfg, int errnum, struct s1_error *err)
{
	struct stat st;

	if (errnum == ENOENT || errnum == ENOTDIR) {
		for (size_t i = 0; i < cfg->rootfs_lower.n; i++)
			if (stat(cfg->rootfs_lower.v[i], &st) < 0)
				return s1_fail(err, errnum, STEP, "mount", "overlay on %s (lowerdir %s)", cfg->rootfs_target,
					       cfg->rootfs_lower.v[i]);
		if (stat(cfg->rootfs_upper, &st) < 0)
			return s1_fail(err, errnum, STEP, "mount", "overlay on %s (upperdir %s)", cfg->rootfs_target,
				       cfg->rootfs_upper);
		if (stat(cfg->rootfs_work, &st) < 0)
			return s1_fail(err, errnum, STEP, "mount", "overlay on %s (workdir %s)", cfg->rootfs_target,
				       cfg->rootfs_work);
	}
	return s1_fail(err, errnum, STEP, "mount", "overlay on %s", cfg->rootfs_target);
}

int rootfs_mount_root(const struct config *cfg, struct s1_error *err)
{
	char data[4096];
	size_t len;

	/* Before any mount: nothing of ours may propagate to the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return s1_fail(err, errno, STEP, "mount", "--make-rslave /");
	if (cfg->rootfs_dir != NULL) {
		if (mount(cfg->rootfs_dir, cfg->rootfs_target, NULL, MS_BIND | MS_REC, NULL) < 0)
			return s1_fail(err, errno, STEP, "mount", "--bind %s on %s", cfg->rootfs_dir, cfg->rootfs_target);
		return 0;
	}
	len = (size_t) snprintf(data, sizeof data, "lowerdir=");
	for (size_t i = 0; i < cfg->rootfs_lower.n && len < sizeof data; i++) {
		if (check_overlay_path(cfg->rootfs_lower.v[i], err) < 0)
			return -1;
		len += (size_t) snprintf(data + len, sizeof data - len, "%s%s", i > 0 ? ":" : "", cfg->rootfs_lower.v[i]);
	}
	if (check_overlay_path(cfg->rootfs_upper, err) < 0 || check_overlay_path(cfg->rootfs_work, err) < 0)
		return -1;
	if (len < sizeof data)
		len += (size_t) snprintf(data + len, sizeof data - len, ",upperdir=%s,workdir=%s", cfg->rootfs_upper,
					 cfg->rootfs_work);
	/* mount(2) takes one page of options: many deep layers do not fit. */
	if (len >= sizeof data)
		return s1_fail(err, E2BIG, STEP, "mount", "overlay on %s: %zu layers exceed one page of options",
			       cfg->rootfs_target, cfg->rootfs_lower.n);
	if (mount("overlay", cfg->rootfs_target, "overlay", 0, data) < 0)
		return overlay_failed(cfg, errno, err);
	return 0;
}

/*
 * pivot_root(".", ".") stacks the old root on top of the new one; detaching
 * it then leaves only the pod's root (runc's trick: no put_old dir needed).
 */
int rootfs_pivot(const struct config *cfg, struct s1_error *err)
{
	if (chdir(cfg->rootfs_target) < 0)
		return s1_fail(err, errno, STEP, "chdir", "%s", cfg->rootfs_target);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return s1_fail(err, errno, STEP, "pivot_root", "%s", cfg->rootfs_target);
	if (umount2(".", MNT_DETACH) < 0)
		return s1_fail(err, errno, STEP, "umount2", "old root under %s", cfg->rootfs_target);
	if (chdir("/") < 0)
		return s1_fail(err, errno, STEP, "chdir", "/");
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
		return mount_fs(shown, "cgroup2", "/sys/fs/cgroup", flags, NULL, err);
	if (mount_fs(shown, "tmpfs", "/sys/fs/cgroup", PSEUDO_FLAGS, "mode=755", err) < 0)
		return -1;
	for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *ctrl = strchr(line, ':'), *end;

		if (ctrl == NULL || (end = strchr(++ctrl, ':')) == NULL)
			continue;
		*end = '\0';
		if (*ctrl == '\0') {
			if (mount_fs(shown, "cgroup2", "/sys/fs/cgroup/unified", flags, NULL, err) < 0)
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

static int make_dev(const char *shown, struct s1_error *err)
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

	if (mount_fs(shown, "tmpfs", "/dev", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", err) < 0)
		return -1;
	/* mknod rather than bind mounts from the host: one syscall each, no host paths involved. */
	for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
		if (mknod(nodes[i].path, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0)
			return s1_fail(err, errno, STEP, "mknod", "%s%s", shown, nodes[i].path);
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i].target, links[i].path) < 0)
			return s1_fail(err, errno, STEP, "symlink", "%s%s", shown, links[i].path);
	/* newinstance: the pod's ptys are its own, not the host's. */
	if (mount_fs(shown, "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5", err) < 0 ||
	    mount_fs(shown, "tmpfs", "/dev/shm", PSEUDO_FLAGS, "mode=1777,size=65536k", err) < 0 ||
	    mount_fs(shown, "mqueue", "/dev/mqueue", PSEUDO_FLAGS, NULL, err) < 0)
		return -1;
	return 0;
}

int rootfs_mount_pseudo(const struct config *cfg, struct s1_error *err)
{
	const char *shown = cfg->rootfs_target;

	if (mount_fs(shown, "proc", "/proc", PSEUDO_FLAGS, NULL, err) < 0 ||
	    mount_fs(shown, "sysfs", "/sys", MS_RDONLY | PSEUDO_FLAGS, NULL, err) < 0 ||
	    mount_cgroups(shown, err) < 0 || make_dev(shown, err) < 0)
		return -1;
	return 0;
}

/* The last step: with every mount point made, the root itself may go read-only. */
int rootfs_make_readonly(const char *shown, struct s1_error *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

	if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) < 0)
		return s1_fail(err, errno, STEP, "mount_setattr(MOUNT_ATTR_RDONLY)", "%s", shown);
	return 0;
}
