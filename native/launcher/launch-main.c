/*
 * skiff: the native front of the CLI.
 *
 * Why it exists: a pod's start time is mostly Node's own start-up (bench/start:
 * ~60-85 ms here before any Skiff code runs, about one whole systemd-nspawn
 * run). The work a `skiff run` of a stored image does is small and, for the
 * same command line, environment and store, the same every time, apart from
 * the pod's UUID, its creation time and the lock fd. So the TypeScript CLI,
 * when started by this launcher for a `run`, records that work as a plan
 * (runtime/pods/run-plan.ts), and the next identical `run` replays it here:
 * lock, pod dir, manifest, cgroups, stage1 config, execve(stage1).
 *
 * A plan is only a cache of what Node computed; it is checked against
 * everything it was computed from (launch-key.c and the image index's stamp)
 * and any doubt, or any failure before the point of no return, falls back to
 * Node with the same arguments, which does the whole work (and reports
 * errors) as usual. SKIFF_LAUNCH_TRACE=1 says on stderr which path was taken.
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SKIFF_NODE
#define SKIFF_NODE "/usr/bin/node"
#endif

extern char **environ;

void trace(const char *fmt, ...)
{
	const char *on = getenv("SKIFF_LAUNCH_TRACE");
	va_list ap;

	if (on == NULL || strcmp(on, "1") != 0)
		return;
	fputs("skiff launch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* dist/runtime/cli/main.js, from this binary's place: <root>/native/build/skiff. */
static int node_main_path(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash;

	if (n < 0)
		return -1;
	exe[n] = '\0';
	for (int up = 0; up < 3; up++) {
		slash = strrchr(exe, '/');
		if (slash == NULL)
			return -1;
		*slash = '\0';
	}
	if ((size_t) snprintf(out, len, "%s/dist/runtime/cli/main.js", exe) >= len)
		return -1;
	return 0;
}

/* As runtime/install-paths.ts: SKIFF_STAGE1, else native/build/skiff-stage1 next to this binary. */
static int stage1_path(char *out, size_t len, const char *node_main)
{
	const char *env = getenv("SKIFF_STAGE1");
	const char *dist = strstr(node_main, "/dist/runtime/cli/main.js");

	if (env != NULL)
		return (size_t) snprintf(out, len, "%s", env) >= len ? -1 : 0;
	if (dist == NULL)
		return -1;
	return (size_t) snprintf(out, len, "%.*s/native/build/skiff-stage1", (int) (dist - node_main), node_main) >= len ? -1 : 0;
}

static char hex_digit(unsigned v)
{
	return "0123456789abcdef"[v & 15];
}

/* Execs Node on the CLI; for a `run`, tells it where to record the plan. */
static int exec_node(const struct launch_args *args, const char *node_main, const char *plan_path,
		     const struct buf *key)
{
	size_t n_env = 0, i = 0;
	char **envp, **argv;
	char *plan_env = NULL, *key_env = NULL;

	while (environ[n_env] != NULL)
		n_env++;
	envp = calloc(n_env + 3, sizeof *envp);
	argv = calloc((size_t) args->argc + 2, sizeof *argv);
	if (envp == NULL || argv == NULL)
		goto fail;
	for (size_t e = 0; e < n_env; e++) {
		if (strncmp(environ[e], "SKIFF_RUN_PLAN", 14) == 0)
			continue; /* only ever from this launcher, never inherited */
		envp[i++] = environ[e];
	}
	if (plan_path != NULL && key != NULL) {
		plan_env = malloc(strlen(plan_path) + sizeof "SKIFF_RUN_PLAN=");
		key_env = malloc(key->len * 2 + sizeof "SKIFF_RUN_PLAN_KEY=");
		if (plan_env == NULL || key_env == NULL)
			goto fail;
		sprintf(plan_env, "SKIFF_RUN_PLAN=%s", plan_path);
		strcpy(key_env, "SKIFF_RUN_PLAN_KEY=");
		char *h = key_env + strlen(key_env);
		for (size_t b = 0; b < key->len; b++) {
			*h++ = hex_digit((unsigned char) key->data[b] >> 4);
			*h++ = hex_digit((unsigned char) key->data[b]);
		}
		*h = '\0';
		envp[i++] = plan_env;
		envp[i++] = key_env;
	}
	argv[0] = (char *) "node";
	argv[1] = (char *) node_main;
	for (int a = 1; a < args->argc; a++)
		argv[a + 1] = args->argv[a];
	execve(SKIFF_NODE, argv, envp);
	if (errno == ENOENT || errno == EACCES)
		execvpe("node", argv, envp);
	fprintf(stderr, "skiff: exec node (%s) for %s: %s; install Node 20 or put node on PATH\n", SKIFF_NODE,
		node_main, strerror(errno));
	return LAUNCH_EXIT_FAILURE;
fail:
	fputs("skiff: out of memory starting node\n", stderr);
	return LAUNCH_EXIT_FAILURE;
}

/* What the launcher can do for a command line; everything else is the CLI's. */
enum launch_mode { FOR_NODE, FOR_RUN, FOR_PREPARE, FOR_RUN_PREPARED, FOR_ENTER };

/* Prefixes go to the CLI, which resolves them. */
int is_full_uuid(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static enum launch_mode mode_of(const struct launch_args *a, const char **uuid)
{
	int i;

	if (a->command == NULL)
		return FOR_NODE;
	if (strcmp(a->command, "run") == 0)
		return FOR_RUN;
	if (strcmp(a->command, "prepare") == 0)
		return FOR_PREPARE;
	if (strcmp(a->command, "enter") == 0)
		return FOR_ENTER;
	if (strcmp(a->command, "run-prepared") != 0)
		return FOR_NODE;
	for (i = 0; i < a->argc && a->argv[i] != a->command; i++)
		;
	/* Only the bare form: flags (--net, --hostname, ...) change the planned config. */
	if (i + 2 != a->argc || !is_full_uuid(a->argv[i + 1]))
		return FOR_NODE;
	*uuid = a->argv[i + 1];
	return FOR_RUN_PREPARED;
}

int main(int argc, char **argv)
{
	struct launch_args args;
	struct buf key = { 0 }, key_hex = { 0 };
	struct plan plan;
	char node_main[PATH_MAX], plan_path[PATH_MAX], stage1[PATH_MAX];
	const char *why = NULL, *uuid = NULL;
	enum launch_mode mode;

	if (node_main_path(node_main, sizeof node_main) < 0) {
		fputs("skiff: cannot find dist/runtime/cli/main.js next to this binary (readlink /proc/self/exe)\n", stderr);
		return LAUNCH_EXIT_FAILURE;
	}
	if (parse_launch_args(argc, argv, &args) < 0 || (mode = mode_of(&args, &uuid)) == FOR_NODE)
		return exec_node(&args, node_main, NULL, NULL);
	if (geteuid() != 0) {
		trace("node (not root)");
		return exec_node(&args, node_main, NULL, NULL);
	}
	if (mode == FOR_ENTER) {
		int at = 0;
		while (args.argv[at] != args.command)
			at++;
		if (stage1_path(stage1, sizeof stage1, node_main) == 0)
			launch_enter(&args, at, stage1, &why);
		trace("node (%s)", why == NULL ? "no stage1 path" : why);
		return exec_node(&args, node_main, NULL, NULL);
	}
	if (stage1_path(stage1, sizeof stage1, node_main) < 0 || build_plan_key(&args, &key, node_main, stage1, mode == FOR_RUN) < 0) {
		trace("node (no plan key)");
		return exec_node(&args, node_main, NULL, NULL);
	}
	if (mode == FOR_PREPARE)
		return exec_node(&args, node_main, "@pod", &key);
	if (mode == FOR_RUN && plan_path_for(args.store, &key, plan_path, sizeof plan_path) < 0)
		return exec_node(&args, node_main, NULL, NULL);
	if (mode == FOR_RUN_PREPARED &&
	    (size_t) snprintf(plan_path, sizeof plan_path, "%s/pods/prepared/%s/run-plan", args.store, uuid) >= sizeof plan_path)
		return exec_node(&args, node_main, NULL, NULL);
	for (size_t b = 0; b < key.len; b++) {
		char pair[2] = { hex_digit((unsigned char) key.data[b] >> 4), hex_digit((unsigned char) key.data[b]) };
		if (buf_add(&key_hex, pair, 2) < 0)
			return exec_node(&args, node_main, NULL, NULL);
	}
	if (buf_add(&key_hex, "", 1) < 0)
		return exec_node(&args, node_main, NULL, NULL);
	if (load_plan(plan_path, key_hex.data, &plan, &why) == 0) {
		if (strcmp(plan.kind, mode == FOR_RUN ? "run" : "run-prepared") != 0) {
			why = "the plan is of another kind";
		} else if (strcmp(stage1, plan.stage1) != 0) {
			why = "the plan's stage1 is not this installation's";
		} else {
			trace("replay %s", plan_path);
			if (mode == FOR_RUN) {
				/* Its last use, for `skiff gc`'s least-recently-used pruning (run-plan-prune.ts). */
				utimensat(AT_FDCWD, plan_path, NULL, 0);
				replay_plan(&plan, &why);
			} else {
				replay_prepared(&plan, uuid, &why);
			}
		}
		free_plan(&plan);
	}
	trace("node (%s)", why == NULL ? "?" : why);
	return mode == FOR_RUN ? exec_node(&args, node_main, plan_path, &key) : exec_node(&args, node_main, NULL, NULL);
}
