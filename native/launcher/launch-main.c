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
#include "query.h"

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

/* The installation's root, from this binary's place: ROOT/native/build/skiff. */
static int install_root(char *out, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", out, len - 1);

	if (n < 0)
		return -1;
	out[n] = '\0';
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(out, '/');

		if (slash == NULL)
			return -1;
		*slash = '\0';
	}
	return 0;
}

/* ROOT followed by REL ("/dist/..."). */
static int in_root(char *out, size_t len, const char *root, const char *rel)
{
	return (size_t) snprintf(out, len, "%s%s", root, rel) >= len ? -1 : 0;
}

/* As runtime/install-paths.ts: SKIFF_STAGE1, else native/build/skiff-stage1 of this installation. */
static int stage1_path(char *out, size_t len, const char *root)
{
	const char *env = getenv("SKIFF_STAGE1");

	if (env != NULL)
		return (size_t) snprintf(out, len, "%s", env) >= len ? -1 : 0;
	return in_root(out, len, root, "/native/build/skiff-stage1");
}

static char hex_digit(unsigned v)
{
	return "0123456789abcdef"[v & 15];
}

/*
 * Linux takes an env string of up to 128 KiB (MAX_ARG_STRLEN): past this
 * bound SKIFF_RUN_PLAN_KEY is not passed, and the run is just not recorded.
 */
#define PLAN_KEY_HEX_MAX (100 * 1024)

/* execve Node: SKIFF_NODE, else node on PATH; returns with errno on failure. */
static void exec_node_argv(char **argv, char **envp)
{
	execve(SKIFF_NODE, argv, envp);
	if (errno == ENOENT || errno == EACCES)
		execvpe("node", argv, envp);
}

/* Execs Node on the CLI; for a `run` (or `prepare`), tells it where to record the plan and its key (hex). */
static int exec_node(const struct launch_args *args, const char *node_main, const char *plan_path,
		     const char *key_hex)
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
	if (plan_path != NULL && key_hex != NULL && strlen(key_hex) > PLAN_KEY_HEX_MAX) {
		trace("no plan request: its key is too long to pass");
	} else if (plan_path != NULL && key_hex != NULL) {
		plan_env = malloc(strlen(plan_path) + sizeof "SKIFF_RUN_PLAN=");
		key_env = malloc(strlen(key_hex) + sizeof "SKIFF_RUN_PLAN_KEY=");
		if (plan_env == NULL || key_env == NULL)
			goto fail;
		sprintf(plan_env, "SKIFF_RUN_PLAN=%s", plan_path);
		sprintf(key_env, "SKIFF_RUN_PLAN_KEY=%s", key_hex);
		/* Last, so that envp[i] = NULL drops them. */
		envp[i] = plan_env;
		envp[i + 1] = key_env;
	}
	argv[0] = (char *) "node";
	argv[1] = (char *) node_main;
	for (int a = 1; a < args->argc; a++)
		argv[a + 1] = args->argv[a];
	exec_node_argv(argv, envp);
	if (errno == E2BIG && envp[i] != NULL) {
		/* Too much for the kernel with them: the CLI still runs, it just records no plan. */
		trace("node without the plan request (E2BIG)");
		envp[i] = NULL;
		exec_node_argv(argv, envp);
	}
	if (errno == E2BIG)
		fprintf(stderr, "skiff: exec node (%s) for %s: %s; the command line and environment are too long\n",
			SKIFF_NODE, node_main, strerror(errno));
	else
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
	/* So does --insecure-options=paths before the command (prepare's plan did not have it). */
	for (int g = 1; g < i; g++)
		if (strncmp(a->argv[g], "--insecure-options", 18) == 0)
			return FOR_NODE;
	*uuid = a->argv[i + 1];
	return FOR_RUN_PREPARED;
}

int main(int argc, char **argv)
{
	struct launch_args args;
	struct buf key = { 0 }, key_hex = { 0 };
	struct plan plan;
	char root[PATH_MAX], node_main[PATH_MAX], build_info[PATH_MAX], plan_path[PATH_MAX], stage1[PATH_MAX];
	const char *why = NULL, *uuid = NULL;
	enum launch_mode mode;
	int have_stage1;

	/* Everything of this installation is found from its root, derived once. */
	/* Node runs the CLI's bundle (runtime/cli/build-bundle.ts: one CommonJS file, not ~80 ES
	 * modules) when it was built, else tsc's entry; install-paths.ts cliEntry() picks the same way. */
	if (install_root(root, sizeof root) < 0 || in_root(node_main, sizeof node_main, root, "/dist/cli/skiff.cjs") < 0 ||
	    (access(node_main, F_OK) != 0 && in_root(node_main, sizeof node_main, root, "/dist/runtime/cli/main.js") < 0) ||
	    in_root(build_info, sizeof build_info, root, "/dist/.tsbuildinfo") < 0) {
		fputs("skiff: cannot find dist/runtime/cli/main.js next to this binary (readlink /proc/self/exe)\n", stderr);
		return LAUNCH_EXIT_FAILURE;
	}
	/* version, list, status: answered here when the launcher can give the CLI's exact answer (query-main.c). */
	answer_query_or_return(argc, argv, root);
	if (parse_launch_args(argc, argv, &args) < 0 || (mode = mode_of(&args, &uuid)) == FOR_NODE)
		return exec_node(&args, node_main, NULL, NULL);
	if (geteuid() != 0) {
		trace("node (not root)");
		return exec_node(&args, node_main, NULL, NULL);
	}
	have_stage1 = stage1_path(stage1, sizeof stage1, root) == 0;
	if (mode == FOR_ENTER) {
		int at = 0;
		while (args.argv[at] != args.command)
			at++;
		if (have_stage1)
			launch_enter(&args, at, stage1, &why);
		trace("node (%s)", why == NULL ? "no stage1 path" : why);
		return exec_node(&args, node_main, NULL, NULL);
	}
	if (!have_stage1 || build_plan_key(&args, &key, node_main, build_info, stage1, mode == FOR_RUN) < 0) {
		trace("node (no plan key)");
		return exec_node(&args, node_main, NULL, NULL);
	}
	/* The key in hex, once: the plan holds it so, and the CLI gets it so to record one. */
	for (size_t b = 0; b < key.len; b++) {
		char pair[2] = { hex_digit((unsigned char) key.data[b] >> 4), hex_digit((unsigned char) key.data[b]) };
		if (buf_add(&key_hex, pair, 2) < 0)
			return exec_node(&args, node_main, NULL, NULL);
	}
	if (buf_add(&key_hex, "", 1) < 0)
		return exec_node(&args, node_main, NULL, NULL);
	if (mode == FOR_PREPARE)
		return exec_node(&args, node_main, "@pod", key_hex.data);
	if (mode == FOR_RUN && plan_path_for(args.store, &key, plan_path, sizeof plan_path) < 0)
		return exec_node(&args, node_main, NULL, NULL);
	if (mode == FOR_RUN_PREPARED &&
	    (size_t) snprintf(plan_path, sizeof plan_path, "%s/pods/prepared/%s/run-plan", args.store, uuid) >= sizeof plan_path)
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
	return mode == FOR_RUN ? exec_node(&args, node_main, plan_path, key_hex.data) : exec_node(&args, node_main, NULL, NULL);
}
