/*
 * Reading a run plan (written by runtime/pods/run-plan.ts; the format is
 * described there): NUL-separated KEY, VALUE pairs, like the stage1 config.
 * Values that differ per pod are templates: 0x01 starts an escape,
 *   \1U the pod UUID, \1h its first 8 characters, \1T the creation time,
 *   \1L the pod lock's fd, \10 a NUL byte, \1\1 a 0x01 byte.
 * Anything unexpected (unknown key, missing key, bad escape) means "no
 * plan": the CLI records a new one.
 */
#include "launcher.h"

#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLAN_FILE_MAX (4u << 20)

static int read_file(const char *path, char **data, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -1;
	/*
	 * A plan names what root will exec and write: only one that root wrote, in
	 * a dir only root can change, is used (a store under a shared dir must not
	 * let another user plant one).
	 */
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (size_t) st.st_size > PLAN_FILE_MAX || st.st_uid != geteuid() ||
	    (st.st_mode & 022) != 0) {
		close(fd);
		return -1;
	}
	*data = malloc((size_t) st.st_size + 1);
	while (*data != NULL && got < (size_t) st.st_size) {
		ssize_t n = read(fd, *data + got, (size_t) st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t) n;
	}
	close(fd);
	if (*data == NULL || got != (size_t) st.st_size) {
		free(*data);
		return -1;
	}
	(*data)[got] = '\0';
	*len = got;
	return 0;
}

static int push(const char **list, size_t *n, const char *value)
{
	if (*n >= PLAN_MAX_ITEMS)
		return -1;
	list[(*n)++] = value;
	return 0;
}

static int set_pair(struct plan *p, const char *key, const char *value)
{
	static const struct {
		const char *key;
		size_t offset;
	} singles[] = {
		{ "kind", offsetof(struct plan, kind) },
		{ "key", offsetof(struct plan, key_hex) },
		{ "index", offsetof(struct plan, index_stamp) },
		{ "store", offsetof(struct plan, store) },
		{ "stage1", offsetof(struct plan, stage1) },
		{ "stage1-config", offsetof(struct plan, stage1_config) },
		{ "uuid-file-save", offsetof(struct plan, uuid_file_save) },
	};

	if (strcmp(key, "format") == 0)
		return strcmp(value, "1") == 0 ? 0 : -1;
	for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
		if (strcmp(key, singles[i].key) == 0) {
			const char **slot = (const char **) ((char *) p + singles[i].offset);
			if (*slot != NULL)
				return -1;
			*slot = value;
			return 0;
		}
	}
	if (strcmp(key, "marker") == 0)
		return push(p->markers, &p->n_markers, value);
	if (strcmp(key, "dir") == 0)
		return push(p->dirs, &p->n_dirs, value);
	if (strcmp(key, "file") == 0)
		return push(p->files, &p->n_files, value);
	if (strcmp(key, "cgroup") == 0)
		return push(p->cgroup_ops, &p->n_cgroup_ops, value);
	if (strcmp(key, "layer") == 0)
		return push(p->layers, &p->n_layers, value);
	if (strcmp(key, "stamp") == 0)
		return push(p->stamps, &p->n_stamps, value);
	if (strcmp(key, "host-link") == 0)
		return push(p->host_links, &p->n_host_links, value);
	if (strcmp(key, "host-sysctl") == 0)
		return push(p->host_sysctls, &p->n_host_sysctls, value);
	if (strcmp(key, "host-rule") == 0)
		return push(p->host_rules, &p->n_host_rules, value);
	return -1;
}

int load_plan(const char *path, const char *key_hex, struct plan *plan, const char **why)
{
	size_t pos = 0;
	int format_seen = 0;

	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	*plan = (struct plan){ 0 };
	if (slash == NULL || (size_t) (slash - path) >= sizeof dir) {
		*why = "no plan recorded for this command line";
		return -1;
	}
	memcpy(dir, path, (size_t) (slash - path));
	dir[slash - path] = '\0';
	if (stat(dir, &st) == 0 && (st.st_uid != geteuid() || (st.st_mode & 022) != 0)) {
		*why = "the run-plans dir is not root's alone";
		return -1;
	}
	if (read_file(path, &plan->raw, &plan->raw_len) < 0) {
		*why = "no plan recorded for this command line";
		return -1;
	}
	while (pos < plan->raw_len) {
		const char *key = plan->raw + pos;
		size_t klen = strlen(key);
		const char *value;

		if (pos + klen + 1 >= plan->raw_len)
			goto bad;
		value = key + klen + 1;
		pos += klen + 1 + strlen(value) + 1;
		if (pos > plan->raw_len || set_pair(plan, key, value) < 0)
			goto bad;
		format_seen |= strcmp(key, "format") == 0;
	}
	if (plan->kind == NULL)
		plan->kind = "run";
	if (!format_seen || plan->key_hex == NULL || plan->store == NULL || plan->stage1 == NULL ||
	    plan->stage1_config == NULL || (strcmp(plan->kind, "run") == 0 && plan->index_stamp == NULL))
		goto bad;
	if (strlen(plan->store) >= PLAN_STORE_MAX) {
		*why = "the plan's store path is too long";
		free_plan(plan);
		return -1;
	}
	if (strcmp(plan->key_hex, key_hex) != 0) {
		*why = "the plan is for another command line (hash collision)";
		free_plan(plan);
		return -1;
	}
	return 0;
bad:
	*why = "the plan file is malformed";
	free_plan(plan);
	return -1;
}

void free_plan(struct plan *plan)
{
	free(plan->raw);
	plan->raw = NULL;
}

int expand_template(const char *tpl, const struct pod_values *v, struct buf *out)
{
	char fd[16];

	for (const char *p = tpl; *p != '\0'; p++) {
		const char *start = p;
		int r;

		while (*p != '\0' && *p != '\1')
			p++;
		if (p > start && buf_add(out, start, (size_t) (p - start)) < 0)
			return -1;
		if (*p == '\0')
			break;
		switch (*++p) {
		case '\1': r = buf_add(out, "\1", 1); break;
		case 'U': r = buf_add(out, v->uuid, 36); break;
		case 'h': r = buf_add(out, v->uuid, 8); break;
		case 'T': r = buf_add(out, v->created, strlen(v->created)); break;
		case 'L':
			snprintf(fd, sizeof fd, "%d", v->lock_fd);
			r = buf_add(out, fd, strlen(fd));
			break;
		case '0': r = buf_add(out, "", 1); break;
		default: return -1;
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

int check_layers(const struct plan *p, const char **why)
{
	for (size_t i = 0; i < p->n_layers; i++) {
		char *end;
		unsigned long long ino = strtoull(p->layers[i], &end, 10);
		struct stat st;

		/* One stat per layer: a few microseconds against stage1's failed mount and a committed pod. */
		if (*end != '\t' || stat(end + 1, &st) < 0 || !S_ISDIR(st.st_mode) || (unsigned long long) st.st_ino != ino) {
			*why = "a layer the plan mounts is missing or was replaced";
			return -1;
		}
	}
	return 0;
}

/* "PATH\tVALUE" of a plan: PATH copied into `path`, VALUE returned; NULL (`why` set) when malformed. */
static const char *split_path_value(const char *item, char path[PATH_MAX], const char **why)
{
	const char *tab = strchr(item, '\t');
	size_t len = tab == NULL ? 0 : (size_t) (tab - item);

	if (tab == NULL || len >= PATH_MAX) {
		*why = "the plan file is malformed";
		return NULL;
	}
	memcpy(path, item, len);
	path[len] = '\0';
	return tab + 1;
}

int check_host_network(const struct plan *p, const char **why)
{
	for (size_t i = 0; i < p->n_host_links; i++)
		/* An ioctl on a socket of this netns: /sys/class/net may show another netns's links. */
		if (if_nametoindex(p->host_links[i]) == 0) {
			*why = "a bridge the plan's networks use is gone";
			return -1;
		}
	for (size_t i = 0; i < p->n_host_sysctls; i++) {
		char path[PATH_MAX], value[64];
		const char *want = split_path_value(p->host_sysctls[i], path, why);

		if (want == NULL)
			return -1;
		if (read_small_file(path, value, sizeof value) < 0 || (value[strcspn(value, "\n")] = '\0', strcmp(value, want) != 0)) {
			*why = "a sysctl the host network set-up wrote has changed";
			return -1;
		}
	}
	for (size_t i = 0; i < p->n_host_rules; i++) {
		char rule[512];
		char *chain, *needle;

		if (strlen(p->host_rules[i]) >= sizeof rule) {
			*why = "a host-rule line of the plan is too long";
			return -1;
		}
		strcpy(rule, p->host_rules[i]);
		chain = strchr(rule, '\t');
		needle = chain == NULL ? NULL : strchr(chain + 1, '\t');
		if (needle == NULL) {
			*why = "a host-rule line of the plan is not TABLE, CHAIN and NEEDLE";
			return -1;
		}
		*chain++ = '\0';
		*needle++ = '\0';
		if (nft_rule_mentions(rule, chain, needle) != 1) {
			*why = "a NAT rule the host network set-up made is gone";
			return -1;
		}
	}
	return 0;
}

int check_stamps(const struct plan *p, const char **why)
{
	for (size_t i = 0; i < p->n_stamps; i++) {
		char path[PATH_MAX], stamp[128];
		const char *want = split_path_value(p->stamps[i], path, why);

		if (want == NULL)
			return -1;
		if (file_stamp(path, stamp, sizeof stamp) < 0 ? strcmp(want, "-") != 0 : strcmp(want, stamp) != 0) {
			*why = "a network definition changed since the plan was recorded";
			return -1;
		}
	}
	return 0;
}
