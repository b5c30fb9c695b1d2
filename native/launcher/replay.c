/*
 * Replaying a run plan: what runtime/pods/prepare-pod.ts and start-pod.ts do
 * for a `run`, with the values the plan recorded (rkt's pod states, see
 * runtime/pods/pod-dirs.ts):
 *
 *   pods/embryo/<uuid>, locked → pods/prepare/<uuid>; under the store's
 *   gc.lock (shared, as a fetch holds it) check that the image index is the
 *   one the plan was made from, then write the pod's dirs and files (the
 *   image list first among them, so image gc never races the pod); mark the
 *   images used; write the stage1 config; make the cgroups; → pods/run/<uuid>;
 *   execve(stage1) with the lock fd.
 *
 * Up to the rename into run/ every step can be undone, and on any failure is:
 * the pod dir and the cgroups made are removed and the caller falls back to
 * the CLI, which does it all again and reports the error properly. A kill -9
 * in between leaves a pod dir in embryo/ or prepare/ (with a stage1 config
 * naming its cgroups from before they are made), which `skiff gc` removes,
 * as it does for the CLI's own prepare. After the rename only the execve can
 * fail; that is reported like the CLI does, in the pod's stage1-error.
 */
#include "launcher.h"
#include "../common/sealed-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STAGE1_ERROR "stage1-error"

static int new_values(struct pod_values *v)
{
	unsigned char r[16];
	struct timespec now;
	struct tm tm;
	char date[24];

	if (getrandom(r, sizeof r, 0) != sizeof r)
		return -1;
	r[6] = (unsigned char) ((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (unsigned char) ((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(v->uuid, sizeof v->uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
		 r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(v->created, sizeof v->created, "%s.%03dZ", date, (int) (now.tv_nsec / 1000000));
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void) st, (void) ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Removes a tree made by the replay (dirs and files only). Missing is fine. */
static int remove_tree(const char *path)
{
	int r = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r < 0 && errno == ENOENT ? 0 : r;
}

/* "MODE\tREST" → mode, rest. */
static int split_mode(const char *entry, mode_t *mode, const char **rest)
{
	char *end;
	unsigned long m = strtoul(entry, &end, 8);

	if (end == entry || *end != '\t' || m > 07777)
		return -1;
	*mode = (mode_t) m;
	*rest = end + 1;
	return 0;
}

static int write_pod_content(const struct plan *p, const struct pod_values *v, const char *dir)
{
	char path[PATH_MAX];
	mode_t mode;
	const char *rest;

	for (size_t i = 0; i < p->n_dirs; i++) {
		if (split_mode(p->dirs[i], &mode, &rest) < 0 || snprintf(path, sizeof path, "%s/%s", dir, rest) >= PATH_MAX)
			return -1;
		if (mkdir(path, mode) < 0 || chmod(path, mode) < 0)
			return -1;
	}
	for (size_t i = 0; i < p->n_files; i++) {
		const char *tab;
		struct buf content = { 0 };
		int r;

		if (split_mode(p->files[i], &mode, &rest) < 0 || (tab = strchr(rest, '\t')) == NULL ||
		    snprintf(path, sizeof path, "%s/%.*s", dir, (int) (tab - rest), rest) >= PATH_MAX)
			return -1;
		r = expand_template(tab + 1, v, &content);
		if (r == 0)
			r = write_atomic(path, content.data == NULL ? "" : content.data, content.len, mode, NULL);
		buf_free(&content);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* The images' last use (image gc's grace period): advisory, as in image-index.ts. */
static void touch_markers(const struct plan *p)
{
	for (size_t i = 0; i < p->n_markers; i++) {
		if (utimensat(AT_FDCWD, p->markers[i], NULL, 0) == 0 || errno != ENOENT)
			continue;
		int fd = open(p->markers[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
}

static int write_uuid_file(const char *path, const char *uuid)
{
	char line[40];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int n = snprintf(line, sizeof line, "%s\n", uuid);

	if (fd < 0)
		return -1;
	if (write_all(fd, line, (size_t) n) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Everything up to the stage1 config, in prepare/; -1 with why set. */
static int prepare(const struct plan *p, const struct pod_values *v, const char *dir, const char **why)
{
	char path[PATH_MAX], stamp[128];
	struct buf config = { 0 };
	int gc, r;

	snprintf(path, sizeof path, "%s/gc.lock", p->store);
	gc = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (gc < 0 || flock(gc, LOCK_SH) < 0) {
		*why = "cannot lock the image store's gc.lock";
		if (gc >= 0)
			close(gc);
		return -1;
	}
	snprintf(path, sizeof path, "%s/images/index.json", p->store);
	if (file_stamp(path, stamp, sizeof stamp) < 0 || strcmp(stamp, p->index_stamp) != 0) {
		*why = "the image index changed since the plan was recorded";
		close(gc);
		return -1;
	}
	/* Under gc.lock: no gc can remove a layer between this check and the pod listing its images. */
	if (check_layers(p, why) < 0 || check_stamps(p, why) < 0 || check_host_network(p, why) < 0) {
		close(gc);
		return -1;
	}
	r = write_pod_content(p, v, dir);
	close(gc);
	if (r < 0) {
		*why = "writing the pod dir failed";
		return -1;
	}
	touch_markers(p);
	if (p->uuid_file_save != NULL && write_uuid_file(p->uuid_file_save, v->uuid) < 0) {
		*why = "writing --uuid-file-save failed";
		return -1;
	}
	snprintf(path, sizeof path, "%s/pods/prepare/%s/%s", p->store, v->uuid, STAGE1_CONFIG); /* in DIR */
	r = expand_template(p->stage1_config, v, &config);
	if (r == 0)
		r = write_atomic(path, config.data == NULL ? "" : config.data, config.len, 0600, NULL);
	buf_free(&config);
	if (r < 0) {
		*why = "writing the stage1 config failed";
		return -1;
	}
	return 0;
}

/* After the pod moved to run/: report the failure in the pod, as the CLI does, and exit 254. */
static void __attribute__((noreturn)) fail_after_run(const char *run_dir, const char *stage1, int errnum)
{
	char path[PATH_MAX], line[PATH_MAX + 128];

	undo_cgroup_ops();
	snprintf(line, sizeof line, "stage0: exec %s: %s\n", stage1, strerror(errnum));
	snprintf(path, sizeof path, "%s/%s", run_dir, STAGE1_ERROR);
	write_atomic(path, line, strlen(line), 0644, NULL);
	fprintf(stderr, "skiff: exec stage1 %s: %s; reinstall Skiff (npm ci builds native/build/skiff-stage1)\n", stage1,
		strerror(errnum));
	exit(LAUNCH_EXIT_FAILURE);
}

void stdio_for_stage1(void)
{
	/* A closed fd stays closed: stage1 then runs without it, as under the CLI. */
	for (int fd = 0; fd <= 2; fd++) {
		int flags = fcntl(fd, F_GETFL);

		if (flags < 0)
			continue;
		fcntl(fd, F_SETFD, 0);
		if (flags & O_NONBLOCK)
			fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	}
}

/*
 * Socket activation, like NOTIFY_SOCKET the invocation's and never the plan's: fds 3… are
 * inherited as they are (the launcher opens its own CLOEXEC), and LISTEN_* go to stage1 when
 * LISTEN_PID is ours (sd_listen_fds' rule; runtime/pods/listen-fds.ts, native/stage1/listen-fds.c).
 * Fills up to 3 entries of ENVP; returns how many.
 */
static int listen_env(char **envp)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
	char *end;
	int n = 0;

	if (pid == NULL || fds == NULL || strtol(pid, &end, 10) != (long) getpid() || *end != '\0')
		return 0;
	/* environ's own strings: they live until the exec. */
	envp[n++] = (char *) pid - strlen("LISTEN_PID=");
	envp[n++] = (char *) fds - strlen("LISTEN_FDS=");
	if (names != NULL)
		envp[n++] = (char *) names - strlen("LISTEN_FDNAMES=");
	return n;
}

/* After the pod moved to run/: exec stage1, or report the failure in the pod and exit 254. */
static void __attribute__((noreturn)) exec_stage1(const char *stage1, const char *run_dir, char *config, int lock)
{
	/* The point of no return: the pod is in run/. stage1 inherits the lock. */
	if (fcntl(lock, F_SETFD, 0) < 0)
		fail_after_run(run_dir, stage1, errno);
	stdio_for_stage1();
	char *argv[] = { (char *) "skiff-stage1", (char *) "run", config, NULL };
	/* systemd's socket is this invocation's, never the plan's: passed through as it is now. */
	const char *notify = getenv("NOTIFY_SOCKET");
	char notify_env[sizeof "NOTIFY_SOCKET=" + 108];
	const char *watchdog = getenv("WATCHDOG_USEC"), *watchdog_pid = getenv("WATCHDOG_PID");
	char *envp[8] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin" };
	int n = 1;

	if (notify != NULL && strlen(notify) < 108) {
		snprintf(notify_env, sizeof notify_env, "NOTIFY_SOCKET=%s", notify);
		envp[n++] = notify_env;
		/* The unit's WatchdogSec=, for the apps of `--sd-notify=app` (stage1 checks WATCHDOG_PID is its own). */
		if (watchdog != NULL)
			envp[n++] = (char *) watchdog - strlen("WATCHDOG_USEC=");
		if (watchdog != NULL && watchdog_pid != NULL)
			envp[n++] = (char *) watchdog_pid - strlen("WATCHDOG_PID=");
	}
	n += listen_env(envp + n);
	/* From a sealed copy, never the host's file (stage1/self-clone.c); failing that, stage1 retries and says why. */
	exec_sealed_copy(stage1, argv, envp, NULL);
	execve(stage1, argv, envp);
	fail_after_run(run_dir, stage1, errno);
}

int start_pod(const struct plan *p, const struct pod_values *v, const char *from, const char *run, char *run_config,
	      const char **why)
{
	char path[PATH_MAX];

	if (apply_cgroup_ops(p, v, why) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/pods/run", p->store);
	if (mkdir_ok(path, 0711) < 0 || rename(from, run) < 0) {
		*why = "cannot move the pod to run/";
		undo_cgroup_ops();
		return -1;
	}
	exec_stage1(p->stage1, run, run_config, v->lock_fd);
}

int replay_plan(const struct plan *p, const char **why)
{
	struct pod_values v;
	char pods[PATH_MAX], embryo[PATH_MAX], prep[PATH_MAX], run[PATH_MAX], config[PATH_MAX], path[PATH_MAX];
	int lock;

	if (new_values(&v) < 0) {
		*why = "getrandom failed";
		return -1;
	}
	/* None of these is cut short: load_plan bounds the store (PLAN_STORE_MAX). */
	snprintf(pods, sizeof pods, "%s/pods", p->store);
	snprintf(path, sizeof path, "%s/pods/embryo", p->store);
	snprintf(embryo, sizeof embryo, "%s/pods/embryo/%s", p->store, v.uuid);
	snprintf(prep, sizeof prep, "%s/pods/prepare/%s", p->store, v.uuid);
	snprintf(run, sizeof run, "%s/pods/run/%s", p->store, v.uuid);
	snprintf(config, sizeof config, "%s/pods/run/%s/%s", p->store, v.uuid, STAGE1_CONFIG);
	/* The pod dir root-only, as the CLI makes it (prepare-pod.ts): it holds the image's files. */
	if (mkdir_ok(pods, 0711) < 0 || mkdir_ok(path, 0711) < 0 || mkdir(embryo, 0700) < 0) {
		*why = "cannot create the pod dir";
		return -1;
	}
	lock = open(embryo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
		*why = "cannot lock the new pod dir";
		goto undo_embryo;
	}
	v.lock_fd = lock;
	snprintf(path, sizeof path, "%s/pods/prepare", p->store);
	if (mkdir_ok(path, 0711) < 0 || rename(embryo, prep) < 0) {
		*why = "cannot move the pod to prepare/";
		goto undo_embryo;
	}
	if (prepare(p, &v, prep, why) == 0)
		start_pod(p, &v, prep, run, config, why);
	/* Only a failure comes back: undo. */
	remove_tree(prep);
	if (lock >= 0)
		close(lock);
	return -1;
undo_embryo:
	remove_tree(embryo);
	if (lock >= 0)
		close(lock);
	return -1;
}
