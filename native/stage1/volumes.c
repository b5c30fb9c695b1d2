/*
 * What the pod gets from the host: volumes, /etc/hosts, /etc/hostname,
 * /etc/resolv.conf; and what it must not see: masked and read-only paths.
 *
 * Host sources are cloned as detached mounts (open_tree OPEN_TREE_CLONE)
 * BEFORE pivot_root, made nodev (and read-only if asked) while still
 * detached (mount_setattr, so a read-only volume is never writable, not
 * even for a moment, and its submounts get the same flags), and attached
 * with move_mount AFTER the pivot, when targets resolve inside the pod's
 * root and nowhere else.
 *
 * Volumes are pod-wide. With one pod root an app's `mount` is visible to
 * every app of the pod; with per-app roots each root gets its own set of
 * binds (binds_open per app, all opened before the pivot): a volume mounted
 * into two apps is two mounts of the same tree, so a file one app writes is
 * the file the other reads.
 */
#include "stage1.h"

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define STEP_VOL "volumes"
#define STEP_ETC "etc files"
#define STEP_MASK "masked paths"
#define MAX_BINDS 128
#define ETC_MAX 16384

struct bind {
	int fd;             /* detached mount */
	bool dir;           /* create the target as a dir (else an empty file) */
	bool own_file;      /* /etc/hosts and co: a symlink there is replaced, never followed */
	const char *target;       /* path inside the pod */
	char source[PATH_MAX];    /* for errors */
};

struct binds {
	size_t n;
	struct bind b[MAX_BINDS];
};

static int clone_source(struct binds *bs, const char *source, const char *target, bool ro, const char *step,
			struct s1_error *err)
{
	struct mount_attr attr = { 0 };
	struct bind *b;
	struct stat st;

	if (bs->n == MAX_BINDS)
		return s1_fail(err, E2BIG, step, "open_tree", "%s: more than %d binds", source, MAX_BINDS);
	b = &bs->b[bs->n];
	b->fd = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (b->fd < 0)
		return s1_fail(err, errno, step, "open_tree", "%s", source);
	bs->n++;
	if (fstat(b->fd, &st) < 0)
		return s1_fail(err, errno, step, "fstat", "%s", source);
	b->dir = S_ISDIR(st.st_mode);
	b->own_file = strcmp(step, STEP_ETC) == 0;
	b->target = target;
	snprintf(b->source, sizeof b->source, "%s", source);
	/* nodev always: a device node in a volume (a host dir) opens nothing in the pod. */
	attr.attr_set = MOUNT_ATTR_NODEV | (ro ? MOUNT_ATTR_RDONLY : 0);
	if (mount_setattr(b->fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
		return s1_fail(err, errno, step, ro ? "mount_setattr(MOUNT_ATTR_RDONLY|MOUNT_ATTR_NODEV)"
					       : "mount_setattr(MOUNT_ATTR_NODEV)", "%s", source);
	return 0;
}

/* Appends to text; returns -1 once it no longer fits. */
static int append(char *text, size_t *used, const char *a, const char *b, const char *c)
{
	int n = snprintf(text + *used, ETC_MAX - *used, "%s%s%s", a, b, c);

	if (n < 0 || (size_t) n >= ETC_MAX - *used)
		return -1;
	*used += (size_t) n;
	return 0;
}

static int write_pod_file(const struct config *cfg, const char *name, const char *content, struct s1_error *err)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s", cfg->pod_dir, name);
	if (write_file_atomic(path, content, err, STEP_ETC) < 0)
		return -1;
	/* private-users: the pod's own files are pod root's, as without a user namespace (it may edit its /etc/hosts). */
	if (cfg->users != NULL && chown(path, cfg->users->shift, cfg->users->shift) < 0)
		return s1_fail(err, errno, STEP_ETC, "chown", "%s", path);
	return 0;
}

/*
 * `address-from`: eth0 is a CNI network, whose ADD hook wrote the address it got (a line); any
 * trouble reading it (no address: the plugin gave none) falls back to the built-in networks'.
 */
static bool hosts_address_from(const struct config *cfg, char *out, size_t len)
{
	unsigned char bin[sizeof(struct in6_addr)];
	int n;

	if (cfg->address_from == NULL || (n = read_small_file(cfg->address_from, out, len)) <= 0)
		return false;
	out[strcspn(out, "\n")] = '\0';
	return inet_pton(AF_INET, out, bin) == 1 || inet_pton(AF_INET6, out, bin) == 1;
}

/* POD_DIR/hosts, hostname and (with any `dns*` key) resolv.conf: written once, bound into every root. */
int etc_files_write(const struct config *cfg, struct s1_error *err)
{
	char addr_from[INET6_ADDRSTRLEN + 2];
	cleanup_free char *text = malloc(ETC_MAX);
	size_t used = 0;
	int r = 0;

	if (text == NULL)
		return s1_fail(err, ENOMEM, STEP_ETC, "malloc", NULL);
	text[0] = '\0';
	r |= append(text, &used, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", "", "");
	/* The pod's own address on its first network names it, as Docker's /etc/hosts does; without one, Debian's 127.0.1.1. */
	if (hosts_address_from(cfg, addr_from, sizeof addr_from)) {
		r |= append(text, &used, addr_from, "\t", cfg->hostname);
		r |= append(text, &used, "\n", "", "");
	} else if (cfg->n_nets > 0 && cfg->nets[0].addr.s_addr != 0) {
		char addr[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &cfg->nets[0].addr, addr, sizeof addr);
		r |= append(text, &used, addr, "\t", cfg->hostname);
		r |= append(text, &used, "\n", "", "");
	} else {
		r |= append(text, &used, "127.0.1.1\t", cfg->hostname, "\n");
	}
	for (size_t i = 0; i < cfg->hosts_entries.n; i++)
		r |= append(text, &used, cfg->hosts_entries.v[i], "\n", "");
	if (r < 0)
		return s1_fail(err, E2BIG, STEP_ETC, "write", "%s/hosts", cfg->pod_dir);
	if (write_pod_file(cfg, "hosts", text, err) < 0)
		return -1;
	used = 0;
	if (append(text, &used, cfg->hostname, "\n", "") < 0 || write_pod_file(cfg, "hostname", text, err) < 0)
		return -1;
	if (!resolv_conf_generated(cfg))
		return 0;
	used = 0;
	text[0] = '\0';
	/* resolv.conf(5)'s order; `search` and `options` take every value on one line. */
	if (cfg->dns_domain != NULL)
		r |= append(text, &used, "domain ", cfg->dns_domain, "\n");
	for (size_t i = 0; i < cfg->dns_search.n; i++)
		r |= append(text, &used, i == 0 ? "search " : " ", cfg->dns_search.v[i], i + 1 == cfg->dns_search.n ? "\n" : "");
	for (size_t i = 0; i < cfg->dns.n; i++)
		r |= append(text, &used, "nameserver ", cfg->dns.v[i], "\n");
	for (size_t i = 0; i < cfg->dns_opts.n; i++)
		r |= append(text, &used, i == 0 ? "options " : " ", cfg->dns_opts.v[i], i + 1 == cfg->dns_opts.n ? "\n" : "");
	if (r < 0)
		return s1_fail(err, E2BIG, STEP_ETC, "write", "%s/resolv.conf", cfg->pod_dir);
	return write_pod_file(cfg, "resolv.conf", text, err);
}

static int etc_binds(const struct config *cfg, struct binds *bs, struct s1_error *err)
{
	/* The bind keeps `target` as a pointer: these literals outlive it. */
	static const struct {
		const char *name, *target;
	} files[] = { { "hosts", "/etc/hosts" }, { "hostname", "/etc/hostname" }, { "resolv.conf", "/etc/resolv.conf" } };
	/* A generated resolv.conf only with a `dns*` key; else the host's `resolv-conf`, or the image's own. */
	size_t n = resolv_conf_generated(cfg) ? 3 : 2;
	char path[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", cfg->pod_dir, files[i].name);
		if (clone_source(bs, path, files[i].target, false, STEP_ETC, err) < 0)
			return -1;
	}
	if (!resolv_conf_generated(cfg) && cfg->resolv_conf != NULL)
		return clone_source(bs, cfg->resolv_conf, "/etc/resolv.conf", true, STEP_ETC, err);
	/* A CNI result's DNS, when the ADD hook wrote one (it ran before PID 1 existed). */
	if (!resolv_conf_generated(cfg) && cfg->dns_from != NULL && access(cfg->dns_from, F_OK) == 0)
		return clone_source(bs, cfg->dns_from, "/etc/resolv.conf", true, STEP_ETC, err);
	return 0;
}

/* ONLY: that app's mounts (its own root); NULL: every app's (the pod's one root). */
int binds_open(const struct config *cfg, const struct app *only, struct binds **out, struct s1_error *err)
{
	struct binds *bs = calloc(1, sizeof *bs);

	*out = bs;
	if (bs == NULL)
		return s1_fail(err, ENOMEM, STEP_VOL, "calloc", NULL);
	if (etc_binds(cfg, bs, err) < 0)
		return -1;
	for (size_t a = 0; a < cfg->n_apps; a++) {
		if (only != NULL && only != &cfg->apps[a])
			continue;
		for (size_t m = 0; m < cfg->apps[a].n_mounts; m++) {
			const struct app_mount *am = &cfg->apps[a].mounts[m];
			const struct volume *v = &cfg->volumes[am->volume];
			bool seen = false;

			/* In one shared root, two apps mounting the same volume at the same place: one mount. */
			for (size_t p = only != NULL ? a : 0; p < a && !seen; p++)
				for (size_t q = 0; q < cfg->apps[p].n_mounts && !seen; q++)
					seen = cfg->apps[p].mounts[q].volume == am->volume &&
					       strcmp(cfg->apps[p].mounts[q].target, am->target) == 0;
			if (!seen && clone_source(bs, v->source, am->target, v->ro, STEP_VOL, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int make_target(const char *shown, const struct bind *b, struct s1_error *err)
{
	char parent[PATH_MAX];
	struct stat st;
	char *slash;
	int fd;

	if (b->dir)
		return mkdir_p(b->target, 0755, STEP_VOL, shown, err);
	if ((size_t) snprintf(parent, sizeof parent, "%s", b->target) >= sizeof parent)
		return s1_fail(err, ENAMETOOLONG, STEP_VOL, "mkdir", "%s%s", shown, b->target);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		if (mkdir_p(parent, 0755, STEP_VOL, shown, err) < 0)
			return -1;
	}
	/*
	 * The pod's /etc/hosts (hostname, resolv.conf) is stage1's, as in Docker:
	 * an image's symlink there (often dangling, e.g. to /run/...) is replaced
	 * by an empty file in the pod's root (the overlay's upper dir; the image
	 * is untouched) rather than followed to wherever it points.
	 */
	if (b->own_file && lstat(b->target, &st) == 0 && S_ISLNK(st.st_mode) && unlink(b->target) < 0)
		return s1_fail(err, errno, STEP_ETC, "unlink", "the image's symlink %s%s, to put the pod's own file there",
			       shown, b->target);
	fd = open(b->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	/* EISDIR/ETXTBSY etc. are left to move_mount to report; EROFS with an existing file is fine. */
	if (fd >= 0)
		close(fd);
	return 0;
}

/* Into the current root (the pod's, or an app's while PID 1 is chrooted there); SHOWN is its host path. */
int binds_attach(const char *shown, struct binds *bs, struct s1_error *err)
{
	for (size_t i = 0; i < bs->n; i++) {
		const struct bind *b = &bs->b[i];

		if (make_target(shown, b, err) < 0)
			return -1;
		/* T_SYMLINKS: an image's /etc/resolv.conf is often a symlink; it resolves inside the root now. */
		if (move_mount(b->fd, "", AT_FDCWD, b->target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) < 0)
			return s1_fail(err, errno, STEP_VOL, "move_mount", "%s on %s%s", b->source, shown, b->target);
	}
	return 0;
}

void binds_free(struct binds *bs)
{
	if (bs == NULL)
		return;
	for (size_t i = 0; i < bs->n; i++)
		close(bs->b[i].fd);
	free(bs);
}

/*
 * Masked: files get /dev/null bound over them, dirs an empty read-only tmpfs.
 * Read-only: bound onto themselves, then read-only recursively. A path the
 * kernel does not have (/proc/sched_debug on some configs) is skipped.
 */
int paths_mask_and_protect(const struct config *cfg, const char *shown, struct s1_error *err)
{	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };

	for (size_t i = 0; i < cfg->readonly_paths.n; i++) {
		const char *p = cfg->readonly_paths.v[i];

		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
			if (errno == ENOENT)
				continue;
			return s1_fail(err, errno, STEP_MASK, "mount", "--bind %s%s", shown, p);
		}
		if (mount_setattr(AT_FDCWD, p, AT_RECURSIVE, &ro, sizeof ro) < 0)
			return s1_fail(err, errno, STEP_MASK, "mount_setattr(MOUNT_ATTR_RDONLY)", "%s%s", shown, p);
	}
	for (size_t i = 0; i < cfg->mask_paths.n; i++) {
		const char *p = cfg->mask_paths.v[i];
		struct stat st;
		int r;

		if (stat(p, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return s1_fail(err, errno, STEP_MASK, "stat", "%s%s", shown, p);
		}
		if (S_ISDIR(st.st_mode))
			r = mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=0");
		else
			r = mount("/dev/null", p, NULL, MS_BIND, NULL);
		if (r < 0)
			return s1_fail(err, errno, STEP_MASK, "mount", "%s over %s%s",
				       S_ISDIR(st.st_mode) ? "tmpfs" : "/dev/null", shown, p);
	}
	return 0;
}
