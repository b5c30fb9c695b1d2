/* A pod as `list` and `status` show it (pod-read.c), the launcher's runtime/pods/pod-info.ts PodInfo. */
#ifndef SKIFF_LAUNCHER_POD_READ_H
#define SKIFF_LAUNCHER_POD_READ_H

#include "query.h"

struct app_info {
	const char *name, *image, *image_id;
	char *started;   /* NULL: absent */
	struct jv *exit; /* NULL: absent; else the exit file as parsed */
};

struct net_status {
	const char *name, *if_name, *ip, *mac, *gateway; /* NULL: absent */
	long index;                                       /* the interface's number, for the CNI merge's order */
};

/* PodInfo.exitCode: undefined (still running), null (unknown: see reason), or a code. */
enum exit_kind { EXIT_UNDEFINED, EXIT_NULL, EXIT_CODE };

struct pod_info {
	const char *uuid, *state;
	const char *created, *started; /* NULL: absent */
	long long pid;
	bool has_pid;
	struct app_info *apps;
	size_t n_apps;
	struct net_status *nets;
	size_t n_nets;
	const struct jv *ports; /* NULL: [] */
	enum exit_kind exit;
	long long exit_code;
	char *reason, *error; /* NULL: absent */
};

/* The pod dirs' states in listing order (pod-dirs.ts POD_STATES); NULL-terminated. */
extern const char *const POD_STATE_DIRS[];

/* 0 and the pod in STORE/pods/STATE_DIR/UUID; -1 with `why` to fall back. */
int pod_info(const char *store, const char *state_dir, const char *uuid, struct pod_info *p, const char **why);

#endif
