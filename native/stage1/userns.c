/*
 * `private-users` (stage1-protocol.md): the pod's apps run in a user
 * namespace of their own, pod id N being host id SHIFT+N for N < COUNT.
 *
 * Who does what, and why in this order:
 *   1. The supervisor (host root) claims the range (`auto`: the first free
 *      slot of 65536 ids from 2^19 up, as the symlink DIR/SHIFT -> UUID made
 *      by symlink(2), which, like the link(2) of port claims and IPAM
 *      addresses, exists whole or not at all and fails with EEXIST for every
 *      other pod: two pods never share a range, whether the CLI or a
 *      replayed plan started them). A symlink, not a file: its target is the
 *      holder, kept in the inode, so the claim is one syscall, and releasing
 *      it frees no data block (on an ext4 /run mounted `discard`, the
 *      unlink of a claim file whose block an overlay unmount had synced
 *      waited ~2.5 ms for a synchronous discard: most of this flag's cost).
 *   2. It clones a helper straight into a new user namespace, and with a
 *      netns the supervisor owns, a new netns in the same call: the user
 *      namespace OWNS that netns, so pod root has CAP_NET_BIND_SERVICE,
 *      CAP_NET_RAW (and whatever else it keeps) relative to the pod's own
 *      network only. The namespaces exist when clone() returns, so the
 *      supervisor opens the helper's uid_map, gid_map and namespace files at
 *      once (no round trip with it), closes the pipe the helper waits on (it
 *      exits while we go on), then writes both maps ("0 SHIFT COUNT") as host
 *      root through the files, which hold the namespace. The helper runs
 *      nothing but a read(2) and _exit, and is reaped before PID 1 is forked
 *      (userns_reap): no process of the pod ever lives beside it. That order
 *      matters: the helper keeps host uid 0 (unmapped in the namespace) in
 *      the host's mount namespace with our fds, and a pod root given
 *      CAP_SYS_PTRACE in its namespace could ptrace it. Nothing of the pod
 *      runs before the maps exist.
 *   3. The supervisor joins the netns (networks attach as before). `enter`
 *      finds the user namespace through the fd PID 1 holds (the pod's PID 1
 *      is not in it, see 4; userns_of_pid1): nothing to bind, nothing for
 *      teardown or `gc` to unmount (a bind mount cost its mount, and its
 *      unmount an expedited RCU grace period, at every run).
 *   4. PID 1 stays host root while it builds the pod (mount, pivot_root,
 *      mknod, overlay with trusted.* xattrs all need the host's
 *      capabilities; the mount, pid, uts, ipc and cgroup namespaces it makes
 *      are the host user namespace's). Each app (and each `enter`) joins the
 *      user namespace last, right before taking its identity: its
 *      capabilities then hold in the user namespace and the netns it owns,
 *      nowhere else. Pod root cannot mount, set the hostname, load modules,
 *      or write anything owned by a host id outside its range.
 *   5. The root: the image's layers are mounted idmapped (0 -> SHIFT) in
 *      PID 1's mount namespace, over their own paths, before the overlay is
 *      made of them: image files owned by 0 are pod root's, and what the pod
 *      writes lands in the upper dir with the shifted host ids (the upper dir
 *      itself is chowned to the top layer's root, shifted). A rendered copy
 *      (`rootfs-dir`, --no-overlay) is chowned in place instead: one lchown
 *      per file, the fallback where idmapped mounts are missing.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP "userns"
/* Auto ranges: 65536 ids each, from 2^19 (above the usual /etc/subuid ranges) to the top of the id space. */
#define AUTO_BASE (1u << 19)
#define AUTO_SIZE 65536u
#define AUTO_SLOTS ((0xfffffffeu - AUTO_BASE) / AUTO_SIZE)
#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#endif

int private_users_check(struct config *cfg, struct s1_error *err)
{
	struct private_users *u;
	char *f[3] = { 0 }, *end;
	unsigned long long shift, count;
	size_t n;

	if (cfg->raw_private_users == NULL)
		return 0;
	u = calloc(1, sizeof *u);
	if (u == NULL)
		return s1_fail(err, ENOMEM, "config", "calloc", NULL);
	u->userns_fd = u->netns_fd = -1;
	u->helper = -1;
	cfg->users = u;
	n = config_split_tabs((char *) cfg->raw_private_users, f, 2);
	if (n == 2 && strcmp(f[0], "auto") == 0) {
		if (f[1][0] != '/' || strlen(f[1]) >= PATH_MAX - 32)
			return s1_fail_msg(err, "config", "private-users: auto needs an absolute claim dir, not '%s'", f[1]);
		u->auto_pick = true;
		u->dir = f[1];
		u->count = AUTO_SIZE;
	} else {
		errno = 0;
		shift = n == 2 ? strtoull(f[0], &end, 10) : 0;
		if (n != 2 || errno != 0 || *end != '\0' || f[0][0] < '0' || f[0][0] > '9')
			return s1_fail_msg(err, "config", "private-users: '%s' is not SHIFT\\tCOUNT or auto\\tDIR", cfg->raw_private_users);
		count = strtoull(f[1], &end, 10);
		if (errno != 0 || *end != '\0' || f[1][0] < '1' || f[1][0] > '9' || shift + count > 0xffffffffull)
			return s1_fail_msg(err, "config", "private-users: %s\\t%s is not a range of host ids (SHIFT + COUNT <= 2^32 - 1)",
					   f[0], f[1]);
		u->shift = (uint32_t) shift;
		u->count = (uint32_t) count;
	}
	/* The user namespace must own the pod's netns: the supervisor makes it, with the namespace (see 2 above). */
	if (strcmp(cfg->netns, "new") == 0)
		cfg->own_netns = true;
	return 0;
}

/* 1: the first free auto slot, claimed by symlink(2): DIR/SHIFT -> UUID. */
static int claim_range(const struct config *cfg, struct s1_error *err)
{
	struct private_users *u = cfg->users;

	for (uint32_t slot = 0; slot < AUTO_SLOTS; slot++) {
		int r;

		u->shift = AUTO_BASE + slot * AUTO_SIZE;
		snprintf(u->claim, sizeof u->claim, "%s/%u", u->dir, u->shift);
		r = symlink(cfg->uuid, u->claim);
		/* The first pod on this host makes DIR (0700, as the other claims dirs), then tries the slot again. */
		if (r < 0 && errno == ENOENT && slot == 0) {
			if (mkdir_p(u->dir, 0700, STEP, "", err) < 0) {
				u->claim[0] = '\0';
				return -1;
			}
			r = symlink(cfg->uuid, u->claim);
		}
		if (r == 0)
			return 0;
		if (errno != EEXIST) {
			s1_fail(err, errno, STEP, "symlink", "%s", u->claim);
			u->claim[0] = '\0';
			return -1;
		}
	}
	u->claim[0] = '\0';
	return s1_fail_msg(err, STEP, "every id range under %s is claimed: 'skiff gc' releases those of pods that are gone", u->dir);
}

/* One write of "0 SHIFT COUNT" to a map file opened by open_proc. */
static int write_map(int fd, const char *which, const struct private_users *u, struct s1_error *err)
{
	char line[64];

	snprintf(line, sizeof line, "0 %u %u\n", u->shift, u->count);
	if (write(fd, line, strlen(line)) < 0)
		return s1_fail(err, errno, STEP, "write", "%s of the pod's user namespace (0 %u %u)", which, u->shift, u->count);
	return 0;
}

/* An empty volume is the pod's own: pod root's, as it would be without a user namespace. Host volumes keep their owners. */
static int give_empty_volumes(const struct config *cfg, struct s1_error *err)
{
	for (size_t i = 0; i < cfg->n_volumes; i++)
		if (cfg->volumes[i].empty && chown(cfg->volumes[i].source, cfg->users->shift, cfg->users->shift) < 0)
			return s1_fail(err, errno, STEP, "chown", "%s (volume %s)", cfg->volumes[i].source, cfg->volumes[i].name);
	return 0;
}

/* The helper of step 2, born in the new namespaces: waits for EOF (the supervisor has opened its files), then exits. */
static int helper(void *arg)
{
	const int *go = arg;
	char c;

	/* Our copy of the write end, or the EOF we wait for never comes. */
	close(go[1]);
	while (read(go[0], &c, 1) < 0 && errno == EINTR)
		;
	return 0;
}

/* /proc/PID/WHAT of the helper. */
static int open_proc(pid_t pid, const char *what, int flags, int *fd, struct s1_error *err)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, what);
	*fd = open(path, flags | O_CLOEXEC);
	if (*fd < 0)
		return s1_fail(err, errno, STEP, "open", "%s", path);
	return 0;
}

int userns_make(const struct config *cfg, struct s1_error *err)
{
	/* The helper's stack: it only calls read and close. Not shared (no CLONE_VM): the child gets its own copy. */
	static char stack[16384] __attribute__((aligned(16)));
	struct private_users *u = cfg->users;
	int go[2] = { -1, -1 }, maps[2] = { -1, -1 }, flags = CLONE_NEWUSER | (cfg->own_netns ? CLONE_NEWNET : 0), r = -1;

	if (u->auto_pick && claim_range(cfg, err) < 0)
		return -1;
	if (pipe2(go, O_CLOEXEC) < 0)
		return s1_fail(err, errno, STEP, "pipe2", NULL);
	/*
	 * clone(), not fork() + unshare(): the namespaces are made in the call and exist when it
	 * returns, so the maps are written now, with no round trip through the helper. SIGCHLD: a
	 * child as fork makes; its exit shows on the supervisor's signalfd like PID 1's (ignored).
	 */
	u->helper = clone(helper, stack + sizeof stack, flags | SIGCHLD, go);
	if (u->helper < 0) {
		s1_fail(err, errno, STEP, cfg->own_netns ? "clone(CLONE_NEWUSER|CLONE_NEWNET)" : "clone(CLONE_NEWUSER)", NULL);
	} else if (open_proc(u->helper, "uid_map", O_WRONLY, &maps[0], err) == 0 &&
		   open_proc(u->helper, "gid_map", O_WRONLY, &maps[1], err) == 0 &&
		   open_proc(u->helper, "ns/user", O_RDONLY, &u->userns_fd, err) == 0 &&
		   (!cfg->own_netns || open_proc(u->helper, "ns/net", O_RDONLY, &u->netns_fd, err) == 0)) {
		r = 0;
	}
	/*
	 * The helper's EOF, on every path: it exits while we go on (userns_reap waits for it). Its
	 * files are open: each holds its namespace, and a map file writes to the namespace it was
	 * opened on, the helper alive or not (the writer and the opener, both us, need CAP_SETUID and
	 * CAP_SETGID over the host's user namespace, which is the new one's parent).
	 */
	close(go[0]);
	close(go[1]);
	if (r == 0 && (write_map(maps[0], "uid_map", u, err) < 0 || write_map(maps[1], "gid_map", u, err) < 0 ||
		       give_empty_volumes(cfg, err) < 0))
		r = -1;
	for (int i = 0; i < 2; i++)
		if (maps[i] >= 0)
			close(maps[i]);
	return r;
}

/*
 * Before PID 1 is forked (and at teardown): the helper is gone before any process of the pod can
 * be, so none ever shares the user namespace with a process that still runs stage1's code.
 */
void userns_reap(const struct config *cfg)
{
	struct private_users *u = cfg->users;

	if (u == NULL || u->helper <= 0)
		return;
	while (waitpid(u->helper, NULL, 0) < 0 && errno == EINTR)
		;
	u->helper = -1;
}

void userns_release(const struct config *cfg)
{
	struct private_users *u = cfg->users;
	char holder[64];
	ssize_t n;

	if (u == NULL)
		return;
	userns_reap(cfg);
	if (u->claim[0] == '\0')
		return;
	/* Ours is a symlink; a regular file is an older stage1's claim (a pod started before an upgrade). */
	n = readlink(u->claim, holder, sizeof holder - 1);
	if (n < 0 && errno == EINVAL && read_small_file(u->claim, holder, sizeof holder) == 0)
		n = (ssize_t) strcspn(holder, "\n");
	if (n < 0)
		return;
	holder[n] = '\0';
	if (strcmp(holder, cfg->uuid) == 0 && unlink(u->claim) < 0 && errno != ENOENT)
		fprintf(stderr, "skiff-stage1: teardown: unlink %s: %s\n", u->claim, s1_errno_name(errno));
}

/*
 * `enter`: the pod's user namespace, from the fd PID 1 holds (the apps' setns uses it). PID 1 is
 * not in the namespace, and no process of the pod can put an fd in PID 1's table; its /proc
 * entries are non-dumpable (init.c), so this takes the CAP_SYS_PTRACE that opening
 * the namespace links of /proc/PID1/ns take already. The fd found must be a user namespace other than ours.
 */
int userns_of_pid1(pid_t pid1, struct s1_error *err)
{
	char dir[64], link[64];
	struct stat mine, found;
	struct dirent *e;
	int fd = -1;
	DIR *d;

	snprintf(dir, sizeof dir, "/proc/%d/fd", (int) pid1);
	if (stat("/proc/self/ns/user", &mine) < 0)
		return s1_fail(err, errno, "enter", "stat", "/proc/self/ns/user");
	d = opendir(dir);
	if (d == NULL)
		return s1_fail(err, errno, "enter", "opendir", "%s", dir);
	while (fd < 0 && (e = readdir(d)) != NULL) {
		ssize_t n;

		n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
		if (n < 0 || (link[n] = '\0', strncmp(link, "user:[", 6) != 0))
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			s1_fail(err, errno, "enter", "open", "%s/%s (the pod's user namespace)", dir, e->d_name);
			closedir(d);
			return -1;
		}
		if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWUSER || fstat(fd, &found) < 0 ||
		    (found.st_ino == mine.st_ino && found.st_dev == mine.st_dev))
			close(fd), fd = -1;
	}
	closedir(d);
	if (fd < 0)
		return s1_fail_msg(err, "enter", "PID %d holds no user namespace of the pod's: is the pod still running?", (int) pid1);
	return fd;
}

int userns_join(int fd, const char *step, struct s1_error *err)
{
	if (setns(fd, CLONE_NEWUSER) < 0)
		return s1_fail(err, errno, step, "setns", "the pod's user namespace");
	/* Our ids are still the host's (unmapped here): become the namespace's root, and drop the host's groups. */
	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return s1_fail(err, errno, step, "setresuid/setresgid", "0 in the pod's user namespace");
	return 0;
}

/* 5, overlay: one layer mounted idmapped over its own path (in PID 1's mount namespace, rslave: the host never sees it). */
static int idmap_over(const char *dir, int userns_fd, struct s1_error *err)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t) userns_fd };
	cleanup_fd int fd = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

	if (fd < 0)
		return s1_fail(err, errno, STEP, "open_tree", "%s", dir);
	if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
		return s1_fail(err, errno, STEP, "mount_setattr(MOUNT_ATTR_IDMAP)",
			       "%s (its filesystem takes no idmapped mounts: run with --no-overlay, whose copy is chowned instead)", dir);
	if (move_mount(fd, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return s1_fail(err, errno, STEP, "move_mount", "idmapped %s", dir);
	return 0;
}

/* 5, the rendered copy: nftw has no user argument, and PID 1 is single-threaded. */
static const struct private_users *shifting;

static int shift_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	uid_t uid = st->st_uid < shifting->count ? st->st_uid + shifting->shift : st->st_uid;
	gid_t gid = st->st_gid < shifting->count ? st->st_gid + shifting->shift : st->st_gid;

	(void) ftw;
	if (uid == st->st_uid && gid == st->st_gid)
		return 0;
	if (lchown(path, uid, gid) < 0)
		return errno;
	/* chown clears set-id bits: put them back (the file is the pod's own, now pod root's or its user's). */
	if (type != FTW_SL && (st->st_mode & (S_ISUID | S_ISGID)) != 0 && chmod(path, st->st_mode & 07777) < 0)
		return errno;
	return 0;
}

/* Per-app roots of images sharing a layer: an earlier app's root idmapped it already (twice is EPERM). */
static bool idmapped_before(const struct config *cfg, const struct rootfs_spec *r, const char *dir)
{
	for (size_t a = 0; a < cfg->n_apps && &cfg->apps[a].rootfs != r; a++)
		for (size_t i = 0; i < cfg->apps[a].rootfs.lower.n; i++)
			if (strcmp(cfg->apps[a].rootfs.lower.v[i], dir) == 0)
				return true;
	return false;
}

int userns_prepare_root(const struct config *cfg, const struct rootfs_spec *r, struct s1_error *err)
{
	const struct private_users *u = cfg->users;
	struct stat top;
	int e;

	if (u == NULL)
		return 0;
	if (r->dir != NULL) {
		shifting = u;
		e = nftw(r->dir, shift_one, 64, FTW_PHYS | FTW_MOUNT);
		if (e != 0)
			return s1_fail(err, e > 0 ? e : errno, STEP, "lchown", "the copy %s into ids %u..", r->dir, u->shift);
		return 0;
	}
	for (size_t i = 0; i < r->lower.n; i++)
		if (!idmapped_before(cfg, r, r->lower.v[i]) && idmap_over(r->lower.v[i], u->userns_fd, err) < 0)
			return -1;
	/* The overlay's root dir is the upper dir: it must be pod root's as the image's root dir is. */
	if (r->lower.n > 0 && stat(r->lower.v[0], &top) < 0)
		return s1_fail(err, errno, STEP, "stat", "%s", r->lower.v[0]);
	if (r->lower.n > 0 && chown(r->upper, top.st_uid, top.st_gid) < 0)
		return s1_fail(err, errno, STEP, "chown", "%s", r->upper);
	return 0;
}
