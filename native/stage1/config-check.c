/*
 * The config's second pass: every value converted and checked (numbers,
 * names, capability lists, which rootfs form), so a bad config fails with
 * exit 2 before anything is created, and every later step can trust the
 * struct. The first pass (config.c) only stored pointers into the buffer.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP "config"
#define DEFAULT_STOP_TIMEOUT 10
/* The longest values stage1 builds paths from (POD_DIR/apps/NAME/started, CGROUP/cgroup.procs). */
#define POD_DIR_MAX (PATH_MAX - NAME_MAX - 32)
#define CGROUP_DIR_MAX (PATH_MAX - 32)

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "as", RLIMIT_AS }, { "core", RLIMIT_CORE }, { "cpu", RLIMIT_CPU }, { "data", RLIMIT_DATA },
	{ "fsize", RLIMIT_FSIZE }, { "locks", RLIMIT_LOCKS }, { "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE }, { "nofile", RLIMIT_NOFILE },
	{ "nproc", RLIMIT_NPROC }, { "rss", RLIMIT_RSS }, { "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME }, { "sigpending", RLIMIT_SIGPENDING }, { "stack", RLIMIT_STACK },
};

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "0" / "1", or the default when the key is absent. */
static int parse_flag(const char *key, const char *value, bool dflt, bool *out, struct s1_error *err)
{
	if (value == NULL)
		*out = dflt;
	else if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0)
		*out = value[0] == '1';
	else
		return s1_fail_msg(err, STEP, "%s: '%s' is not 0 or 1", key, value);
	return 0;
}

static int parse_id(const char *key, const char *value, unsigned int *out, struct s1_error *err)
{
	unsigned long v = 0;

	if (value != NULL && parse_ulong(value, UINT_MAX - 1, &v) < 0)
		return s1_fail_msg(err, STEP, "%s: '%s' is not a numeric id", key, value);
	*out = (unsigned int) v;
	return 0;
}

static bool is_absolute(const char *path)
{
	return path != NULL && path[0] == '/';
}

size_t config_split_tabs(char *value, char **fields, size_t max)
{
	size_t n = 0;

	fields[n++] = value;
	for (char *c = value; *c != '\0'; c++)
		if (*c == '\t') {
			if (n == max)
				return max + 1;
			*c = '\0';
			fields[n++] = c + 1;
		}
	return n;
}

static int parse_rlimit_value(const char *s, rlim_t *out)
{
	unsigned long v;

	if (strcmp(s, "unlimited") == 0) {
		*out = RLIM_INFINITY;
		return 0;
	}
	if (parse_ulong(s, ULONG_MAX, &v) < 0)
		return -1;
	*out = (rlim_t) v;
	return 0;
}

/*
 * resolv.conf values are words on a line: whitespace or a control character in one would add
 * words or lines of the config's choosing (stage0 refuses them first; this is stage1's own check).
 */
static int check_resolv_words(const struct config *cfg, struct s1_error *err)
{
	const struct strv domain = { .v = (const char **) &cfg->dns_domain, .n = cfg->dns_domain != NULL };
	const struct {
		const char *key;
		const struct strv *values;
	} lists[] = { { "dns", &cfg->dns }, { "dns-search", &cfg->dns_search }, { "dns-opt", &cfg->dns_opts }, { "dns-domain", &domain } };

	for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
		for (size_t i = 0; i < lists[l].values->n; i++) {
			const char *value = lists[l].values->v[i];

			if (*value == '\0')
				return s1_fail_msg(err, STEP, "%s: an empty value", lists[l].key);
			for (const char *c = value; *c != '\0'; c++)
				if ((unsigned char) *c <= ' ' || *c == 0x7f)
					return s1_fail_msg(err, STEP, "%s: '%s' holds whitespace or a control character", lists[l].key, value);
		}
	return 0;
}

static int check_volumes(struct config *cfg, struct s1_error *err)
{
	cfg->volumes = calloc(cfg->raw_volumes.n + 1, sizeof *cfg->volumes);
	if (cfg->volumes == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	for (size_t i = 0; i < cfg->raw_volumes.n; i++) {
		struct volume *v = &cfg->volumes[i];
		char *f[4] = { 0 };

		if (config_split_tabs((char *) cfg->raw_volumes.v[i], f, 4) != 4)
			return s1_fail_msg(err, STEP, "volume: '%s' is not NAME\\tKIND\\tSOURCE\\tRO", cfg->raw_volumes.v[i]);
		v->name = f[0];
		v->source = f[2];
		v->empty = strcmp(f[1], "empty") == 0;
		if (strcmp(f[1], "host") != 0 && strcmp(f[1], "empty") != 0)
			return s1_fail_msg(err, STEP, "volume %s: kind '%s' is not host or empty", f[0], f[1]);
		if (!is_absolute(f[2]))
			return s1_fail_msg(err, STEP, "volume %s: source '%s' is not absolute", f[0], f[2]);
		if (parse_flag("volume RO", f[3], false, &v->ro, err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->volumes[j].name, v->name) == 0)
				return s1_fail_msg(err, STEP, "volume %s: given twice", v->name);
		cfg->n_volumes++;
	}
	return 0;
}

/* "-1" for `*`, else a device number of at most 2^20 (the kernel's widest, a minor). */
static int parse_device_number(const char *s, size_t len, long *out)
{
	char num[16];
	unsigned long v;

	if (len == 1 && s[0] == '*') {
		*out = -1;
		return 0;
	}
	if (len == 0 || len >= sizeof num)
		return -1;
	memcpy(num, s, len);
	num[len] = '\0';
	if (parse_ulong(num, 1ul << 20, &v) < 0)
		return -1;
	*out = (long) v;
	return 0;
}

/* `device-allow`: "TYPE MAJOR:MINOR ACCESS" exactly as a v1 devices.allow line, e.g. "c 1:3 rwm", "c *:* m". */
static int check_device_rules(struct config *cfg, struct s1_error *err)
{
	cfg->device_rules = calloc(cfg->raw_device_rules.n + 1, sizeof *cfg->device_rules);
	if (cfg->device_rules == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	for (size_t i = 0; i < cfg->raw_device_rules.n; i++) {
		const char *v = cfg->raw_device_rules.v[i], *colon, *space;
		struct device_rule *r = &cfg->device_rules[i];
		bool ok = strchr("abc", v[0]) != NULL && v[0] != '\0' && v[1] == ' ';

		colon = ok ? strchr(v + 2, ':') : NULL;
		space = colon != NULL ? strchr(colon, ' ') : NULL;
		ok = space != NULL && parse_device_number(v + 2, (size_t) (colon - v - 2), &r->major) == 0 &&
		     parse_device_number(colon + 1, (size_t) (space - colon - 1), &r->minor) == 0 && space[1] != '\0';
		for (const char *c = ok ? space + 1 : ""; *c != '\0' && ok; c++) {
			unsigned int bit = *c == 'r' ? DEVICE_READ : *c == 'w' ? DEVICE_WRITE : *c == 'm' ? DEVICE_MKNOD : 0;

			ok = bit != 0 && !(r->access & bit);
			r->access |= bit;
		}
		if (!ok)
			return s1_fail_msg(err, STEP, "device-allow: '%s' is not TYPE MAJOR:MINOR ACCESS (e.g. 'c 1:3 rwm')", v);
		r->type = v[0];
		cfg->n_device_rules++;
	}
	return 0;
}

static int check_app_lists(struct config *cfg, struct app *a, struct s1_error *err)
{
	a->groups = calloc(a->raw_groups.n + 1, sizeof *a->groups);
	a->rlimits = calloc(a->raw_rlimits.n + 1, sizeof *a->rlimits);
	a->mounts = calloc(a->raw_mounts.n + 1, sizeof *a->mounts);
	if (a->groups == NULL || a->rlimits == NULL || a->mounts == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	for (size_t i = 0; i < a->raw_groups.n; i++)
		if (parse_id("supplementary-gid", a->raw_groups.v[i], &a->groups[a->n_groups++], err) < 0)
			return -1;
	for (size_t i = 0; i < a->raw_rlimits.n; i++) {
		struct app_rlimit *r = &a->rlimits[a->n_rlimits++];
		char *f[3] = { 0 };

		if (config_split_tabs((char *) a->raw_rlimits.v[i], f, 3) != 3 || parse_rlimit_value(f[1], &r->soft) < 0 ||
		    parse_rlimit_value(f[2], &r->hard) < 0 || r->soft > r->hard)
			return s1_fail_msg(err, STEP, "app %s: rlimit '%s' is not NAME\\tSOFT\\tHARD with SOFT <= HARD", a->name, f[0]);
		r->resource = -1;
		for (size_t k = 0; k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
			if (strcmp(rlimit_names[k].name, f[0]) == 0)
				r->resource = rlimit_names[k].resource;
		if (r->resource < 0)
			return s1_fail_msg(err, STEP, "app %s: unknown rlimit '%s'", a->name, f[0]);
		r->name = f[0];
	}
	for (size_t i = 0; i < a->raw_mounts.n; i++) {
		struct app_mount *m = &a->mounts[a->n_mounts++];
		char *f[2] = { 0 };
		size_t k;

		if (config_split_tabs((char *) a->raw_mounts.v[i], f, 2) != 2 || !is_absolute(f[1]))
			return s1_fail_msg(err, STEP, "app %s: mount '%s' is not VOLUME\\tABSOLUTE-TARGET", a->name, f[0]);
		for (k = 0; k < cfg->n_volumes && strcmp(cfg->volumes[k].name, f[0]) != 0; k++)
			;
		if (k == cfg->n_volumes)
			return s1_fail_msg(err, STEP, "app %s: mount of unknown volume '%s'", a->name, f[0]);
		m->volume = k;
		m->target = f[1];
	}
	return 0;
}

static int check_app(struct config *cfg, size_t index, struct s1_error *err)
{
	struct app *a = &cfg->apps[index];

	if (a->name[0] == '\0' || strchr(a->name, '/') != NULL || strcmp(a->name, ".") == 0 || strcmp(a->name, "..") == 0 ||
	    strlen(a->name) > NAME_MAX)
		return s1_fail_msg(err, STEP, "app name '%s' is not a valid file name", a->name);
	for (size_t j = 0; j < index; j++)
		if (strcmp(cfg->apps[j].name, a->name) == 0)
			return s1_fail_msg(err, STEP, "app %s: given twice", a->name);
	if (a->exec == NULL || a->exec[0] == '\0')
		return s1_fail_msg(err, STEP, "app %s: no 'exec'", a->name);
	if (a->working_dir == NULL)
		a->working_dir = "/";
	if (!is_absolute(a->working_dir))
		return s1_fail_msg(err, STEP, "app %s: working-dir '%s' is not absolute", a->name, a->working_dir);
	for (size_t i = 0; i < a->env.n; i++)
		if (strchr(a->env.v[i], '=') == NULL)
			return s1_fail_msg(err, STEP, "app %s: env '%s' is not NAME=VALUE", a->name, a->env.v[i]);
	/* Absent `caps`: Docker's default 14, never "all". */
	if (caps_parse(a->raw_caps != NULL ? a->raw_caps : CAPS_DEFAULT, &a->caps, err) < 0)
		return -1;
	/* Absent `ambient-caps`: a non-root app holds no capability at all (Docker, runc). */
	if (caps_parse(a->raw_ambient_caps != NULL ? a->raw_ambient_caps : "", &a->ambient_caps, err) < 0)
		return -1;
	if ((a->ambient_caps & ~a->caps) != 0)
		return s1_fail_msg(err, STEP, "app %s: ambient-caps '%s' holds a capability that caps '%s' does not", a->name,
				   a->raw_ambient_caps, a->raw_caps != NULL ? a->raw_caps : CAPS_DEFAULT);
	if (parse_id("uid", a->raw_uid, &a->uid, err) < 0 || parse_id("gid", a->raw_gid, &a->gid, err) < 0 ||
	    parse_flag("no-new-privs", a->raw_nnp, true, &a->no_new_privs, err) < 0 ||
	    parse_flag("readonly-rootfs", a->raw_ro, false, &a->readonly_rootfs, err) < 0 ||
	    parse_flag("interactive", a->raw_interactive, false, &a->interactive, err) < 0 ||
	    seccomp_parse(a->name, a->raw_seccomp, &a->seccomp, err) < 0)
		return -1;
	return check_app_lists(cfg, a, err);
}

static bool rootfs_given(const struct rootfs_spec *r)
{
	return r->dir != NULL || r->lower.n > 0 || r->upper != NULL || r->work != NULL;
}

/* Exactly one complete form; `who` prefixes the message ("" for the pod, "app web: "). */
static int check_rootfs_form(const struct rootfs_spec *r, const char *who, struct s1_error *err)
{
	if (r->dir != NULL ? (r->lower.n > 0 || r->upper != NULL || r->work != NULL)
			   : (r->lower.n == 0 || r->upper == NULL || r->work == NULL))
		return s1_fail_msg(err, STEP, "%sgive either rootfs-dir, or rootfs-lower, rootfs-upper and rootfs-work", who);
	return 0;
}

/*
 * One root for the pod (rootfs keys before the first `app`), or one per app
 * (rootfs keys in every app section), never a mix: an app without a root of
 * its own would have nothing to run in, and a pod root next to app roots
 * would leave it unclear which one an app gets.
 */
static int check_rootfs(struct config *cfg, struct s1_error *err)
{
	char who[S1_ERR_STEP + 16];
	size_t with = 0;

	for (size_t i = 0; i < cfg->n_apps; i++)
		with += rootfs_given(&cfg->apps[i].rootfs);
	if (with == 0)
		return check_rootfs_form(&cfg->rootfs, "", err);
	for (size_t i = 0; i < cfg->n_apps; i++) {
		const struct app *a = &cfg->apps[i];

		if (rootfs_given(&cfg->rootfs) && rootfs_given(&a->rootfs))
			return s1_fail_msg(err, STEP, "app %s has a rootfs and so has the pod: give one rootfs for the pod, "
				"or one in every app section", a->name);
		if (!rootfs_given(&a->rootfs))
			return s1_fail_msg(err, STEP, "app %s has no rootfs: with per-app roots every app needs its own", a->name);
		snprintf(who, sizeof who, "app %.*s: ", S1_ERR_STEP, a->name);
		if (check_rootfs_form(&a->rootfs, who, err) < 0)
			return -1;
	}
	cfg->per_app_rootfs = true;
	return 0;
}

static int check_pod(struct config *cfg, struct s1_error *err)
{
	unsigned long v;
	const char *missing = cfg->uuid == NULL ? "uuid" : cfg->pod_dir == NULL ? "pod-dir"
		: cfg->raw_lock_fd == NULL ? "lock-fd" : cfg->hostname == NULL ? "hostname"
		: cfg->rootfs_target == NULL ? "rootfs-target" : cfg->netns == NULL ? "netns" : NULL;

	if (missing != NULL)
		return s1_fail_msg(err, STEP, "missing key '%s'", missing);
	if (!is_absolute(cfg->pod_dir) || !is_absolute(cfg->rootfs_target))
		return s1_fail_msg(err, STEP, "pod-dir and rootfs-target must be absolute");
	/* Room for POD_DIR/apps/NAME/FILE (and its temp name): no path built from it can be cut short. */
	if (strlen(cfg->pod_dir) >= POD_DIR_MAX)
		return s1_fail_msg(err, STEP, "pod-dir is longer than %d bytes", POD_DIR_MAX - 1);
	for (size_t i = 0; i < cfg->cgroups.n; i++)
		if (strlen(cfg->cgroups.v[i]) >= CGROUP_DIR_MAX)
			return s1_fail_msg(err, STEP, "cgroup: a dir is longer than %d bytes", CGROUP_DIR_MAX - 1);
	for (size_t i = 0; i < cfg->cgroup_cleanup.n; i++)
		if (strlen(cfg->cgroup_cleanup.v[i]) >= CGROUP_DIR_MAX)
			return s1_fail_msg(err, STEP, "cgroup-cleanup: a dir is longer than %d bytes", CGROUP_DIR_MAX - 1);
	if (parse_ulong(cfg->raw_lock_fd, INT_MAX, &v) < 0 || v < 3)
		return s1_fail_msg(err, STEP, "lock-fd: '%s' is not a fd number above 2", cfg->raw_lock_fd);
	cfg->lock_fd = (int) v;
	cfg->stop_timeout = DEFAULT_STOP_TIMEOUT;
	if (cfg->raw_stop_timeout != NULL) {
		if (parse_ulong(cfg->raw_stop_timeout, 86400, &v) < 0)
			return s1_fail_msg(err, STEP, "stop-timeout: '%s' is not 0..86400 seconds", cfg->raw_stop_timeout);
		cfg->stop_timeout = (unsigned int) v;
	}
	if (cfg->address_from != NULL && !is_absolute(cfg->address_from))
		return s1_fail_msg(err, STEP, "address-from: '%s' is not an absolute path", cfg->address_from);
	if (cfg->dns_from != NULL && !is_absolute(cfg->dns_from))
		return s1_fail_msg(err, STEP, "dns-from: '%s' is not an absolute path", cfg->dns_from);
	if (strcmp(cfg->netns, "host") != 0 && strcmp(cfg->netns, "new") != 0 && !is_absolute(cfg->netns))
		return s1_fail_msg(err, STEP, "netns: '%s' is not host, new or an absolute path", cfg->netns);
	if (cfg->resolv_conf != NULL && resolv_conf_generated(cfg))
		return s1_fail_msg(err, STEP, "give dns, dns-search, dns-opt, dns-domain or resolv-conf, not both");
	if (check_resolv_words(cfg, err) < 0)
		return -1;
	if (cfg->raw_sd_notify != NULL && strcmp(cfg->raw_sd_notify, "app") != 0 && strcmp(cfg->raw_sd_notify, "pod") != 0)
		return s1_fail_msg(err, STEP, "sd-notify: '%s' is not app or pod", cfg->raw_sd_notify);
	cfg->sd_notify_app = cfg->raw_sd_notify != NULL && strcmp(cfg->raw_sd_notify, "app") == 0;
	if (cfg->n_apps == 0)
		return s1_fail_msg(err, STEP, "no 'app'");
	return check_rootfs(cfg, err);
}

int config_check(struct config *cfg, struct s1_error *err)
{
	if (check_pod(cfg, err) < 0 || check_volumes(cfg, err) < 0 || net_config_check(cfg, err) < 0 ||
	    check_device_rules(cfg, err) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_apps; i++)
		if (check_app(cfg, i, err) < 0)
			return -1;
	return 0;
}
