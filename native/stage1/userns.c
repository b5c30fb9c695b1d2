/*
 * `private-users` (stage1-protocol.md): the pod's apps run in a user
 * namespace of their own, pod id N being host id SHIFT+N for N < COUNT.
 *
 * Who does what, and why in this order:
 *   1. The supervisor (host root) claims the range (`auto`: the first free
 *      slot of 65536 ids from 2^19 up, as a claim file DIR/SHIFT linked into
 *      place, exactly as port claims and IPAM addresses are: two pods never
 *      share a range, whether the CLI or a replayed plan started them).
 *   2. It forks a helper that unshares the user namespace, and with a netns
 *      the supervisor owns, the netns in the same call: the user namespace
 *      OWNS that netns, so pod root has CAP_NET_BIND_SERVICE, CAP_NET_RAW
 *      (and whatever else it keeps) relative to the pod's own network only.
 *      The supervisor writes uid_map and gid_map ("0 SHIFT COUNT") as host
 *      root, keeps fds of both namespaces, and lets the helper go. Nothing
 *      of the pod runs before the maps exist.
 *   3. The supervisor joins the netns (networks attach as before), and binds
 *      the user namespace at POD_DIR/userns, for `enter` (the pod's PID 1
 *      is not in it, see 4); teardown and `gc` unmount it.
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP "userns"
/* Auto ranges: 65536 ids each, from 2^19 (above the usual /etc/subuid ranges) to the top of the id space. */
#define AUTO_BASE (1u << 19)
#define AUTO_SIZE 65536u
#define AUTO_SLOTS ((0xfffffffeu - AUTO_BASE) / AUTO_SIZE)

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

/* 1: the first free auto slot, claimed by link(2). */
static int claim_range(const struct config *cfg, struct s1_error *err)
{
	struct private_users *u = cfg->users;
	char tmp[PATH_MAX];

	if (claim_file_write(u->dir, cfg->uuid, STEP, tmp, sizeof tmp, err) < 0)
		return -1;
	for (uint32_t slot = 0; slot < AUTO_SLOTS; slot++) {
		u->shift = AUTO_BASE + slot * AUTO_SIZE;
		snprintf(u->claim, sizeof u->claim, "%s/%u", u->dir, u->shift);
		if (link(tmp, u->claim) == 0) {
			unlink(tmp);
			return 0;
		}
		if (errno != EEXIST) {
			s1_fail(err, errno, STEP, "link", "%s", u->claim);
			u->claim[0] = '\0';
			unlink(tmp);
			return -1;
		}
	}
	u->claim[0] = '\0';
	unlink(tmp);
	return s1_fail_msg(err, STEP, "every id range under %s is claimed: 'skiff gc' releases those of pods that are gone", u->dir);
}

static int write_map(pid_t pid, const char *which, const struct private_users *u, struct s1_error *err)
{
	char path[64], line[64];
	cleanup_fd int fd = -1;

	snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, which);
	snprintf(line, sizeof line, "0 %u %u\n", u->shift, u->count);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return s1_fail(err, errno, STEP, "open", "%s", path);
	if (write(fd, line, strlen(line)) < 0)
		return s1_fail(err, errno, STEP, "write", "%s (0 %u %u)", path, u->shift, u->count);
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

/* 3: POD_DIR/userns, a bind of the namespace, where `enter` finds it. */
static int bind_for_enter(const struct config *cfg, int fd, struct s1_error *err)
{
	char path[PATH_MAX], src[64];
	cleanup_fd int file = -1;

	snprintf(path, sizeof path, "%s/userns", cfg->pod_dir);
	snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
	file = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (file < 0)
		return s1_fail(err, errno, STEP, "open", "%s", path);
	if (mount(src, path, NULL, MS_BIND, NULL) < 0)
		return s1_fail(err, errno, STEP, "mount", "--bind the pod's user namespace on %s", path);
	return 0;
}

/* The helper of step 2: unshares, says so (one byte, 0 or the errno), then waits for EOF. */
static void __attribute__((noreturn)) helper(int flags, const int ready[2], const int go[2])
{
	char c;

	/* Our copies of the other ends, or the EOF we wait for never comes. */
	close(ready[0]), close(go[1]);
	c = unshare(flags) < 0 ? (char) errno : 0;
	if (write(ready[1], &c, 1) == 1 && c == 0)
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
	_exit(0);
}

int userns_make(const struct config *cfg, struct s1_error *err)
{
	struct private_users *u = cfg->users;
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 }, flags = CLONE_NEWUSER | (cfg->own_netns ? CLONE_NEWNET : 0), r = -1;
	char path[64], c = 0;
	pid_t pid;

	if (u->auto_pick && claim_range(cfg, err) < 0)
		return -1;
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		s1_fail(err, errno, STEP, "pipe2", NULL);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		s1_fail(err, errno, STEP, "fork", NULL);
		goto out;
	}
	if (pid == 0)
		helper(flags, ready, go);
	close(ready[1]), ready[1] = -1;
	if (read(ready[0], &c, 1) != 1 || c != 0)
		s1_fail(err, c != 0 ? c : EIO, STEP, cfg->own_netns ? "unshare(CLONE_NEWUSER|CLONE_NEWNET)" : "unshare(CLONE_NEWUSER)", NULL);
	else if (write_map(pid, "uid_map", u, err) == 0 && write_map(pid, "gid_map", u, err) == 0) {
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int) pid);
		u->userns_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (u->userns_fd < 0)
			s1_fail(err, errno, STEP, "open", "%s", path);
		snprintf(path, sizeof path, "/proc/%d/ns/net", (int) pid);
		if (u->userns_fd >= 0 && cfg->own_netns && (u->netns_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			s1_fail(err, errno, STEP, "open", "%s", path);
		else if (u->userns_fd >= 0 && give_empty_volumes(cfg, err) == 0)
			r = bind_for_enter(cfg, u->userns_fd, err);
	}
	close(go[1]), go[1] = -1; /* the helper's EOF: it exits */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
	}
	return r;
}

void userns_release(const struct config *cfg)
{
	struct private_users *u = cfg->users;
	char path[PATH_MAX], holder[64];

	if (u == NULL)
		return;
	snprintf(path, sizeof path, "%s/userns", cfg->pod_dir);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		fprintf(stderr, "skiff-stage1: teardown: umount2 %s: %s\n", path, s1_errno_name(errno));
	if (unlink(path) < 0 && errno != ENOENT)
		fprintf(stderr, "skiff-stage1: teardown: unlink %s: %s\n", path, s1_errno_name(errno));
	if (u->claim[0] == '\0' || read_small_file(u->claim, holder, sizeof holder) < 0)
		return;
	holder[strcspn(holder, "\n")] = '\0';
	if (strcmp(holder, cfg->uuid) == 0 && unlink(u->claim) < 0 && errno != ENOENT)
		fprintf(stderr, "skiff-stage1: teardown: unlink %s: %s\n", u->claim, s1_errno_name(errno));
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
