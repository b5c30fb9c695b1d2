/*
 * The pod's cgroups, as the plan lists them: the same operations, in the same
 * order, that the TypeScript drivers run (runtime/cgroups/cgroup-plan.ts,
 * where each one is explained). Here any failure undoes the pod dirs made so
 * far and returns -1: the launcher then falls back to the CLI, which runs the
 * drivers themselves and reports the error with its hint (or handles what
 * only it does, such as moving a systemd unit's processes into a leaf).
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FIELDS 5

/* A control file's value without its trailing newline. */
static int read_control(const char *path, char *out, size_t len)
{
	int n = read_small_file(path, out, len);

	if (n < 0)
		return -1;
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	return 0;
}

/* One write(2): the kernel parses a control file per write. */
static int write_control(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t) strlen(value) ? 0 : -1;
}

static int fill_from_parent(const char *dir, const char *parent, const char *file)
{
	char path[PATH_MAX], from[PATH_MAX], value[4096];

	if ((size_t) snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path ||
	    (size_t) snprintf(from, sizeof from, "%s/%s", parent, file) >= sizeof from)
		return -1;
	if (read_control(path, value, sizeof value) < 0)
		return -1;
	if (value[0] != '\0')
		return 0;
	if (read_control(from, value, sizeof value) < 0)
		return -1;
	return write_control(path, value);
}

/* Writes the controllers (comma-separated) that dir's subtree_control lacks, as "+a +b". */
static int enable_controllers(const char *dir, char *controllers)
{
	char path[PATH_MAX], present[1024], value[1024] = "";
	size_t used = 0;

	if ((size_t) snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir) >= sizeof path)
		return -1;
	if (read_control(path, present, sizeof present) < 0)
		return -1;
	for (char *save = NULL, *c = strtok_r(controllers, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save)) {
		int found = 0;
		char copy[sizeof present], *save2 = NULL;

		strcpy(copy, present);
		for (char *p = strtok_r(copy, " ", &save2); p != NULL && !found; p = strtok_r(NULL, " ", &save2))
			found = strcmp(p, c) == 0;
		if (!found)
			used += (size_t) snprintf(value + used, sizeof value - used, "%s+%s", used == 0 ? "" : " ", c);
		if (used >= sizeof value)
			return -1;
	}
	return used == 0 ? 0 : write_control(path, value);
}

/* The pod dirs made (`make`), for undo_cgroup_ops. */
static char made[64][PATH_MAX];
static size_t n_made;

void undo_cgroup_ops(void)
{
	while (n_made > 0)
		rmdir(made[--n_made]);
}

int apply_cgroup_ops(const struct plan *plan, const struct pod_values *v, const char **why)
{

	for (size_t i = 0; i < plan->n_cgroup_ops; i++) {
		struct buf line = { 0 };
		char *field[MAX_FIELDS] = { 0 };
		size_t n = 0;
		int r = -1;

		if (expand_template(plan->cgroup_ops[i], v, &line) < 0 || line.data == NULL)
			goto bad_plan;
		for (char *save = NULL, *f = strtok_r(line.data, "\t", &save); f != NULL && n < MAX_FIELDS;
		     f = strtok_r(NULL, "\t", &save))
			field[n++] = f;
		if (n == 2 && strcmp(field[0], "ensure") == 0) {
			r = mkdir_ok(field[1], 0755);
		} else if (n == 2 && strcmp(field[0], "make") == 0) {
			if (n_made == sizeof made / sizeof made[0] || strlen(field[1]) >= PATH_MAX) {
				buf_free(&line);
				goto bad_plan;
			}
			r = mkdir(field[1], 0755);
			if (r == 0)
				strcpy(made[n_made++], field[1]);
		} else if (n == 4 && strcmp(field[0], "fill") == 0) {
			r = fill_from_parent(field[1], field[2], field[3]);
		} else if (n == 4 && strcmp(field[0], "enable") == 0) {
			r = enable_controllers(field[1], field[3]);
		} else if (n == 3 && strcmp(field[0], "write") == 0) {
			r = write_control(field[1], field[2]);
		} else {
			buf_free(&line);
			goto bad_plan;
		}
		buf_free(&line);
		if (r < 0) {
			*why = "a cgroup step failed";
			undo_cgroup_ops();
			return -1;
		}
	}
	return 0;
bad_plan:
	*why = "the plan has a malformed cgroup step";
	undo_cgroup_ops();
	return -1;
}
