/*
 * The config reader: NUL pairs in, a checked struct config out.
 *
 * Two passes. The first (here) walks the pairs with a table of known keys,
 * storing pointers into the buffer (a key it does not know is an error:
 * version skew between stage0 and stage1 must fail loudly, never half-work).
 * The second (config-check.c) converts and checks values, so every later step
 * can trust the struct.
 *
 * Where a key belongs: pod keys are the pod's wherever they appear, app keys
 * the current app's. The rootfs keys are both: before the first `app` they
 * give the pod's one root, inside an app section that app's own root.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STEP "config"
/* A config is a few KB; this only stops a wrong path from reading a disk image. */
#define CONFIG_MAX (16u << 20)

enum key_kind { K_STR, K_LIST };
enum key_scope { POD, APP, ROOTFS /* the pod's before the first app, then the app's */ };

struct key_def {
	const char *key;
	enum key_scope scope;
	enum key_kind kind;
	size_t offset;
};

#define P(k, kind, field) { k, POD, kind, offsetof(struct config, field) }
#define A(k, kind, field) { k, APP, kind, offsetof(struct app, field) }
#define R(k, kind, field) { k, ROOTFS, kind, offsetof(struct rootfs_spec, field) }

static const struct key_def keys[] = {
	P("version", K_STR, version), P("uuid", K_STR, uuid), P("pod-dir", K_STR, pod_dir),
	P("lock-fd", K_STR, raw_lock_fd), P("hostname", K_STR, hostname),
	R("rootfs-lower", K_LIST, lower), R("rootfs-upper", K_STR, upper),
	R("rootfs-work", K_STR, work), R("rootfs-dir", K_STR, dir),
	P("rootfs-target", K_STR, rootfs_target), P("netns", K_STR, netns),
	P("netns-cleanup", K_LIST, netns_cleanup), P("cgroup", K_LIST, cgroups),
	P("cgroup-cleanup", K_LIST, cgroup_cleanup), P("file-cleanup", K_LIST, file_cleanup),
	P("dns", K_LIST, dns), P("dns-search", K_LIST, dns_search), P("dns-opt", K_LIST, dns_opts),
	P("dns-domain", K_STR, dns_domain), P("resolv-conf", K_STR, resolv_conf), P("dns-from", K_STR, dns_from),
	P("address-from", K_STR, address_from), P("hosts-entry", K_LIST, hosts_entries),
	P("volume", K_LIST, raw_volumes), P("net", K_LIST, raw_nets), P("mask-path", K_LIST, mask_paths),
	P("readonly-path", K_LIST, readonly_paths), P("stop-timeout", K_STR, raw_stop_timeout),
	P("device-allow", K_LIST, raw_device_rules),
	P("host-up", K_LIST, raw_host_up), P("host-down", K_LIST, raw_host_down),
	P("port-claim", K_LIST, raw_port_claims), P("sd-notify", K_STR, raw_sd_notify),
	P("private-users", K_STR, raw_private_users),
	A("exec", K_STR, exec), A("arg", K_LIST, args), A("env", K_LIST, env), A("working-dir", K_STR, working_dir),
	A("uid", K_STR, raw_uid), A("gid", K_STR, raw_gid), A("supplementary-gid", K_LIST, raw_groups),
	A("caps", K_STR, raw_caps), A("ambient-caps", K_STR, raw_ambient_caps), A("no-new-privs", K_STR, raw_nnp), A("rlimit", K_LIST, raw_rlimits),
	A("mount", K_LIST, raw_mounts), A("readonly-rootfs", K_STR, raw_ro), A("interactive", K_STR, raw_interactive),
	A("seccomp", K_STR, raw_seccomp),
};

static int strv_push(struct strv *s, const char *value)
{
	const char **bigger = realloc(s->v, (s->n + 2) * sizeof *s->v);

	if (bigger == NULL)
		return -1;
	s->v = bigger;
	s->v[s->n++] = value;
	s->v[s->n] = NULL; /* always NULL-terminated: usable as argv/envp */
	return 0;
}

static int set_key(struct config *cfg, const char *key, const char *value, struct s1_error *err)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key_def *k = &keys[i];
		struct app *app = cfg->n_apps > 0 ? &cfg->apps[cfg->n_apps - 1] : NULL;
		char *base;

		if (strcmp(k->key, key) != 0)
			continue;
		if (k->scope == APP && app == NULL)
			return s1_fail_msg(err, STEP, "app key '%s' before the first 'app'", key);
		/* A pod key after `app` is fine: the table says where it belongs. */
		if (k->scope == POD)
			base = (char *) cfg;
		else if (k->scope == APP)
			base = (char *) app;
		else
			base = app == NULL ? (char *) &cfg->rootfs : (char *) &app->rootfs;
		if (k->kind == K_LIST)
			return strv_push((struct strv *) (base + k->offset), value) < 0
				       ? s1_fail(err, ENOMEM, STEP, "realloc", NULL)
				       : 0;
		if (*(const char **) (base + k->offset) != NULL)
			return s1_fail_msg(err, STEP, "key '%s' given twice", key);
		*(const char **) (base + k->offset) = value;
		return 0;
	}
	return s1_fail_msg(err, STEP, "unknown key '%s' (is skiff-stage1 older than skiff?)", key);
}

static int add_app(struct config *cfg, const char *name, struct s1_error *err)
{
	struct app *bigger = realloc(cfg->apps, (cfg->n_apps + 1) * sizeof *cfg->apps);

	if (bigger == NULL)
		return s1_fail(err, ENOMEM, STEP, "realloc", NULL);
	cfg->apps = bigger;
	memset(&cfg->apps[cfg->n_apps], 0, sizeof cfg->apps[0]);
	cfg->apps[cfg->n_apps++].name = name;
	return 0;
}

static int parse_pairs(struct config *cfg, struct s1_error *err)
{
	size_t pos = 0, pairs = 0;

	if (cfg->len == 0 || cfg->buf[cfg->len - 1] != '\0')
		return s1_fail_msg(err, STEP, "not a sequence of NUL-terminated strings");
	while (pos < cfg->len) {
		const char *key = cfg->buf + pos, *value;

		pos += strlen(key) + 1;
		if (pos >= cfg->len)
			return s1_fail_msg(err, STEP, "key '%s' has no value", key);
		value = cfg->buf + pos;
		pos += strlen(value) + 1;
		if (pairs++ == 0 && (strcmp(key, "version") != 0 || strcmp(value, "1") != 0))
			return s1_fail_msg(err, STEP, "the first pair must be 'version' '1' (got '%s' '%s')", key, value);
		if (strcmp(key, "app") == 0) {
			if (add_app(cfg, value, err) < 0)
				return -1;
		} else if (set_key(cfg, key, value, err) < 0) {
			return -1;
		}
	}
	return 0;
}

int config_read(const char *path, struct config *cfg, struct s1_error *err)
{
	cleanup_fd int fd = -1;
	struct stat st;
	ssize_t n;

	memset(cfg, 0, sizeof *cfg);
	cfg->lock_fd = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return s1_fail(err, errno, STEP, "open", "%s", path);
	if (fstat(fd, &st) < 0)
		return s1_fail(err, errno, STEP, "fstat", "%s", path);
	if (!S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX)
		return s1_fail_msg(err, STEP, "%s is not a regular file of at most 16 MB", path);
	cfg->buf = malloc((size_t) st.st_size + 1);
	if (cfg->buf == NULL)
		return s1_fail(err, ENOMEM, STEP, "malloc", "%s", path);
	while (cfg->len < (size_t) st.st_size) {
		n = read(fd, cfg->buf + cfg->len, (size_t) st.st_size - cfg->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return s1_fail(err, errno, STEP, "read", "%s", path);
		if (n == 0)
			break;
		cfg->len += (size_t) n;
	}
	if (parse_pairs(cfg, err) < 0 || config_check(cfg, err) < 0)
		return -1;
	if (host_hooks_check(cfg, err) < 0 || port_claims_check(cfg, err) < 0)
		return -1;
	return private_users_check(cfg, err);
}

void config_free(struct config *cfg)
{
	struct strv *lists[] = { &cfg->rootfs.lower, &cfg->netns_cleanup, &cfg->cgroups, &cfg->cgroup_cleanup,
				 &cfg->file_cleanup, &cfg->dns, &cfg->dns_search, &cfg->dns_opts,
				 &cfg->hosts_entries, &cfg->mask_paths,
				 &cfg->readonly_paths, &cfg->raw_volumes, &cfg->raw_nets,
				 &cfg->raw_device_rules, &cfg->raw_host_up, &cfg->raw_host_down,
				 &cfg->raw_port_claims };

	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
		free(lists[i]->v);
	for (size_t i = 0; i < cfg->n_apps; i++) {
		struct app *a = &cfg->apps[i];

		free(a->args.v), free(a->env.v), free(a->raw_mounts.v), free(a->raw_rlimits.v), free(a->raw_groups.v);
		free(a->rootfs.lower.v);
		free(a->groups), free(a->rlimits), free(a->mounts);
	}
	free(cfg->apps);
	free(cfg->volumes);
	free(cfg->nets);
	free(cfg->device_rules);
	host_hooks_free(cfg);
	free(cfg->port_claims);
	if (cfg->users != NULL) {
		if (cfg->users->userns_fd >= 0)
			close(cfg->users->userns_fd);
		if (cfg->users->netns_fd >= 0)
			close(cfg->users->netns_fd);
		free(cfg->users);
	}
	free(cfg->buf);
	memset(cfg, 0, sizeof *cfg);
}
