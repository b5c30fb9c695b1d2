/*
 * Replaying a bare `run-prepared UUID`: what runtime/cli/commands/run.ts's
 * runPrepared and start-pod.ts do, with the stage1 config and cgroup ops
 * that `prepare` planned for this very pod (run-plan.ts, recordPreparedPlan).
 *
 * Lock the prepared pod (held by someone else: another run-prepared is
 * starting it, so the CLI reports that), write its stage1 config (naming the
 * cgroups before they exist, so gc can clean up after a kill -9), make the
 * cgroups, rename it prepared/ → run/ (ENOENT: it lost a race, the CLI says
 * so), execve(stage1). Before the rename everything is undone on failure and
 * the CLI takes over.
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int replay_prepared(const struct plan *p, const char *uuid, const char **why)
{
	struct pod_values v = { .created = "" };
	char prepared[PATH_MAX], run[PATH_MAX], config[PATH_MAX], run_config[PATH_MAX];
	struct buf text = { 0 };
	int lock, r;

	snprintf(v.uuid, sizeof v.uuid, "%s", uuid);
	/* None of these is cut short: load_plan bounds the store (PLAN_STORE_MAX), the UUID is a full one. */
	snprintf(prepared, sizeof prepared, "%s/pods/prepared/%s", p->store, uuid);
	snprintf(run, sizeof run, "%s/pods/run/%s", p->store, uuid);
	snprintf(config, sizeof config, "%s/pods/prepared/%s/%s", p->store, uuid, STAGE1_CONFIG);
	snprintf(run_config, sizeof run_config, "%s/pods/run/%s/%s", p->store, uuid, STAGE1_CONFIG);
	lock = open(prepared, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
		*why = "the pod is not prepared, or another command holds it";
		if (lock >= 0)
			close(lock);
		return -1;
	}
	v.lock_fd = lock;
	/* The prepared pod lists its images, so gc leaves its layers alone; a hand-moved one is still caught. */
	if (check_layers(p, why) < 0 || check_stamps(p, why) < 0 || check_host_network(p, why) < 0) {
		close(lock);
		return -1;
	}
	r = expand_template(p->stage1_config, &v, &text);
	if (r == 0)
		r = write_atomic(config, text.data == NULL ? "" : text.data, text.len, 0600, NULL);
	buf_free(&text);
	if (r < 0) {
		*why = "writing the stage1 config failed";
		goto undo;
	}
	start_pod(p, &v, prepared, run, run_config, why);
undo:
	unlink(config);
	close(lock);
	return -1;
}
