/*
 * `skiff enter` without Node: for `enter [--app NAME] UUID [-- CMD...]` (a
 * full UUID; CMD words not starting with '-' may also come without `--`) of
 * a running pod, exec `skiff-stage1 enter` directly, as
 * runtime/cli/commands/enter.ts does after its checks. Anything else, a pod
 * that is not running, or one whose apps have not started, is the CLI's to
 * resolve and report.
 */
#include "launcher.h"
#include "../common/sealed-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int launch_enter(const struct launch_args *a, int at, const char *stage1, const char **why)
{
	const char *app = NULL, *uuid;
	char dir[PATH_MAX], pid_path[PATH_MAX], pid_text[32], term[512];
	int i = at + 1, fd, n, dashes = 0;

	if (i + 1 < a->argc && strcmp(a->argv[i], "--app") == 0) {
		app = a->argv[i + 1];
		i += 2;
	} else if (i < a->argc && strncmp(a->argv[i], "--app=", 6) == 0) {
		app = a->argv[i++] + 6;
	}
	if (i >= a->argc || !is_full_uuid(a->argv[i]))
		return *why = "not the plain form: enter [--app NAME] UUID [-- CMD...]", -1;
	uuid = a->argv[i++];
	if (i < a->argc && strcmp(a->argv[i], "--") == 0)
		dashes = 1, i++;
	for (int k = i; !dashes && k < a->argc; k++)
		if (a->argv[k][0] == '-')
			return *why = "a command word starts with '-' and no '--' before it", -1;
	if (snprintf(dir, sizeof dir, "%s/pods/run/%s", a->store, uuid) >= (int) sizeof dir ||
	    snprintf(pid_path, sizeof pid_path, "%s/pid", dir) >= (int) sizeof pid_path)
		return *why = "the store path is too long", -1;
	/* Running: stage1 holds the pod dir's lock (pod-state.ts). */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
		if (fd >= 0)
			close(fd);
		return *why = "the pod is not running", -1;
	}
	close(fd);
	n = read_small_file(pid_path, pid_text, sizeof pid_text);
	if (n <= 0 || strtol(pid_text, NULL, 10) <= 0)
		return *why = "the pod's apps have not started yet", -1;
	pid_text[strcspn(pid_text, "\n")] = '\0';

	char **argv = calloc((size_t) (a->argc - i) + 8, sizeof *argv);
	size_t k = 0;
	if (argv == NULL)
		return *why = "out of memory", -1;
	argv[k++] = (char *) "skiff-stage1";
	argv[k++] = (char *) "enter";
	argv[k++] = dir;
	argv[k++] = pid_text;
	if (app != NULL) {
		argv[k++] = (char *) "--app";
		argv[k++] = (char *) app;
	}
	argv[k++] = (char *) "--";
	for (; i < a->argc; i++)
		argv[k++] = a->argv[i];
	const char *t = getenv("TERM");
	char *envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", t == NULL ? NULL : term, NULL };
	if (t != NULL)
		snprintf(term, sizeof term, "TERM=%s", t);
	trace("enter %s", dir);
	stdio_for_stage1();
	/* From a sealed copy, never the host's file (stage1/self-clone.c); failing that, stage1 retries and says why. */
	exec_sealed_copy(stage1, argv, envp, NULL);
	execve(stage1, argv, envp);
	fprintf(stderr, "skiff: exec stage1 %s: %s; reinstall Skiff (npm ci builds native/build/skiff-stage1)\n", stage1,
		strerror(errno));
	exit(LAUNCH_EXIT_FAILURE);
}
