/*
 * skiff-stage1: the native half of a pod (see DESIGN.md, "The pieces").
 *
 * stage0 (the TypeScript CLI) prepares a pod and then execve()s this program
 * in place, so the pod's supervisor keeps stage0's PID and no Node process
 * stays resident for the life of the pod.
 *
 * This first version only answers --version, so that the build path
 * (npm ci -> make -> cc -Werror) is real and exercised by CI; the namespace,
 * mount and supervision code arrives with the pods issue.
 */
#include <stdio.h>
#include <string.h>

#ifndef SKIFF_STAGE1_VERSION
#define SKIFF_STAGE1_VERSION "0.1.0"
#endif

/* Skiff's own failures exit 254, as stage0 does (DESIGN.md, "Pods"). */
#define EXIT_SKIFF_FAILURE 254
#define EXIT_USAGE 2

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("skiff-stage1 %s\n", SKIFF_STAGE1_VERSION);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "skiff-stage1: missing pod config; stage1 is started by 'skiff run', not by hand\n");
		return EXIT_USAGE;
	}
	fprintf(stderr, "skiff-stage1: running pods is not implemented in this build; upgrade skiff\n");
	return EXIT_SKIFF_FAILURE;
}
