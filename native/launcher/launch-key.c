/*
 * What a run plan depends on, and where it is kept.
 *
 * The key holds every input from which the TypeScript CLI computed the plan,
 * except the image index, which is checked separately (its stamp is in the
 * plan and compared under the store's gc lock): the arguments, Skiff's own
 * environment variables (SKIFF_DIR, SKIFF_CGROUP_PARENT, SKIFF_STAGE1, ...),
 * the working directory (relative paths), the caller's cgroups (where the pod's
 * cgroup goes), the boot (cgroup layout, mounts), and the exact builds of the
 * CLI (main.js and tsc's build info), of stage1 and of this launcher. The plan stores the whole key and is used only if
 * it matches byte for byte; the file name is just a hash of it.
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

int buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		char *bigger;

		while (cap < b->len + len + 1)
			cap *= 2;
		bigger = realloc(b->data, cap);
		if (bigger == NULL)
			return -1;
		b->data = bigger;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0'; /* always terminated, not counted */
	return 0;
}

int buf_str(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s) + 1);
}

void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){ 0 };
}

/*
 * The CLI's global options before the command (runtime/cli/fast-path.ts
 * takes the same shape): only --dir matters here; the rest are part of the key.
 */
int parse_launch_args(int argc, char **argv, struct launch_args *out)
{
	const char *env_dir = getenv("SKIFF_DIR");
	int i = 1;

	*out = (struct launch_args){ .argc = argc, .argv = argv, .store = env_dir != NULL ? env_dir : "/var/lib/skiff" };
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			return -1;
		if (strncmp(a, "--dir=", 6) == 0)
			out->store = a + 6;
		else if (strcmp(a, "--dir") == 0 || strcmp(a, "--insecure-options") == 0 || strcmp(a, "--format") == 0) {
			if (i + 1 >= argc)
				return -1;
			if (strcmp(a, "--dir") == 0)
				out->store = argv[i + 1];
			i++;
		}
	}
	out->command = i < argc ? argv[i] : NULL;
	return 0;
}

int file_stamp(const char *path, char *out, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	snprintf(out, len, "%llu:%lld:%lld.%09ld", (unsigned long long) st.st_ino,
		 (long long) st.st_size, (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	return 0;
}

static int add_file(struct buf *key, const char *label, const char *path)
{
	char data[16384];
	int n = read_small_file(path, data, sizeof data);

	/* A full buffer may be a cut-short file: no key rather than a wrong one. */
	if (n < 0 || (size_t) n == sizeof data - 1)
		return -1;
	return buf_str(key, label) < 0 || buf_add(key, data, (size_t) n) < 0 || buf_add(key, "", 1) < 0 ? -1 : 0;
}

static int add_stamp(struct buf *key, const char *label, const char *path)
{
	char stamp[128];

	if (file_stamp(path, stamp, sizeof stamp) < 0)
		return -1;
	return buf_str(key, label) < 0 || buf_str(key, stamp) < 0 ? -1 : 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Skiff's variables, sorted; not the launcher's own (SKIFF_RUN_PLAN*, SKIFF_LAUNCH_TRACE). */
static int add_env(struct buf *key)
{
	size_t n = 0, k = 0;
	const char **vars;

	while (environ[n] != NULL)
		n++;
	vars = calloc(n + 1, sizeof *vars);
	if (vars == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(environ[i], "SKIFF_", 6) != 0 || strncmp(environ[i], "SKIFF_RUN_PLAN", 14) == 0 ||
		    strncmp(environ[i], "SKIFF_LAUNCH_TRACE=", 19) == 0)
			continue;
		vars[k++] = environ[i];
	}
	qsort(vars, k, sizeof *vars, compare_strings);
	int r = buf_str(key, "env");
	for (size_t i = 0; i < k && r == 0; i++)
		r = buf_str(key, vars[i]);
	free(vars);
	return r;
}

int build_plan_key(const struct launch_args *args, struct buf *key, const char *node_main, const char *build_info,
		   const char *stage1, int with_argv)
{
	char cwd[PATH_MAX];

	if (!with_argv) {
		if (buf_str(key, "skiff-run-prepared-plan 1") < 0 || add_env(key) < 0)
			return -1;
	} else {
		if (getcwd(cwd, sizeof cwd) == NULL)
			return -1;
		if (buf_str(key, "skiff-run-plan 1") < 0 || buf_str(key, "argv") < 0)
			return -1;
		for (int i = 1; i < args->argc; i++)
			if (buf_str(key, args->argv[i]) < 0)
				return -1;
		if (add_env(key) < 0 || buf_str(key, "cwd") < 0 || buf_str(key, cwd) < 0)
			return -1;
	}
	if (add_file(key, "cgroup", "/proc/self/cgroup") < 0 || add_file(key, "boot", "/proc/sys/kernel/random/boot_id") < 0)
		return -1;
	if (add_stamp(key, "cli", node_main) < 0 || add_stamp(key, "launcher", "/proc/self/exe") < 0 ||
	    add_stamp(key, "stage1", stage1) < 0)
		return -1;
	/* tsc builds incrementally: main.js stays as it is when other modules change, its build info does not. */
	if (add_stamp(key, "cli-build", build_info) < 0 && (buf_str(key, "cli-build") < 0 || buf_str(key, "none") < 0))
		return -1;
	return 0;
}

int plan_path_for(const char *store, const struct buf *key, char *out, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a: a file name, not a check (the plan holds the whole key) */

	for (size_t i = 0; i < key->len; i++) {
		h ^= (unsigned char) key->data[i];
		h *= 0x100000001b3ULL;
	}
	if ((size_t) snprintf(out, len, "%s/run-plans/%016llx", store, (unsigned long long) h) >= len)
		return -1;
	return 0;
}
