/*
 * skiff-stage1: the native half of a pod (DESIGN.md, "The pieces";
 * the contract with stage0 is native/stage1-protocol.md).
 *
 * stage0 (the TypeScript CLI) prepares a pod and execve()s `run` in place,
 * so the supervisor keeps stage0's PID and no Node process stays resident.
 * This file only dispatches; each command lives in its own file.
 */
#include <stdio.h>
#include <string.h>

#include "stage1.h"

#ifndef SKIFF_STAGE1_VERSION
#define SKIFF_STAGE1_VERSION "unknown (built without the Makefile)"
#endif

static int usage(void)
{
	fputs("usage: skiff-stage1 run CONFIG_PATH\n"
	      "       skiff-stage1 enter POD_DIR PID1 [--app NAME] [--] CMD [ARG...]\n"
	      "       skiff-stage1 --version\n"
	      "stage1 is started by 'skiff run' and 'skiff enter', not by hand.\n",
	      stderr);
	return EXIT_USAGE;
}

/*
 * The --version line as one literal, ended by its NUL: `skiff version` reads it out of this
 * binary (runtime/version-info.ts) rather than running it, which would cost the Node CLI its
 * child_process module (~20 ms, most of that command's time). Same bytes either way.
 */
static const char version_line[] = "skiff-stage1 " SKIFF_STAGE1_VERSION "\n";

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		fputs(version_line, stdout);
		return EXIT_OK;
	}
	/* Before anything else: never run from the host's binary in reach of a pod (self-clone.c). */
	if ((argc == 3 && strcmp(argv[1], "run") == 0) || (argc >= 2 && strcmp(argv[1], "enter") == 0)) {
		struct s1_error err = { 0 };
		char line[1024];

		if (self_clone_exec(argv, &err) < 0) {
			s1_error_format(&err, line, sizeof line);
			fprintf(stderr, "skiff-stage1: %s\n", line);
			return EXIT_STAGE1_FAILURE;
		}
	}
	if (argc == 3 && strcmp(argv[1], "run") == 0)
		return supervisor_run(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "enter") == 0)
		return enter_run(argc, argv);
	return usage();
}
