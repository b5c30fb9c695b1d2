/*
 * The `skiff` launcher: the native front of the CLI (see launch-main.c).
 *
 * A `skiff run` whose command line, environment and image store are the same
 * as those of an earlier run replays the plan that run recorded (run-plan.c,
 * replay.c), without starting Node. Everything else, and any replay that
 * cannot finish cleanly before its point of no return, goes to the
 * TypeScript CLI (dist/runtime/cli/main.js) with the same arguments.
 */
#ifndef SKIFF_LAUNCHER_H
#define SKIFF_LAUNCHER_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "../common/io.h"

#define LAUNCH_EXIT_FAILURE 254
/* The stage1 config in a pod dir (native/stage1-protocol.md). */
#define STAGE1_CONFIG "stage1.conf"

/* A growable byte buffer (keys, expanded templates). */
struct buf {
	char *data;
	size_t len, cap;
};
int buf_add(struct buf *b, const void *data, size_t len);
int buf_str(struct buf *b, const char *s); /* adds s and its NUL */
void buf_free(struct buf *b);

/* What the command line says, as far as the launcher needs to know. */
struct launch_args {
	int argc;
	char **argv;
	const char *store;   /* --dir, SKIFF_DIR or /var/lib/skiff */
	const char *command; /* the first operand, or NULL */
};
int parse_launch_args(int argc, char **argv, struct launch_args *out);

/* The plan key: every input a recorded plan depends on (launch-key.c). */
/* with_argv: for `run`; without (and without cwd) for `prepare` and the `run-prepared` it plans. */
/* node_main, build_info: dist/runtime/cli/main.js and dist/.tsbuildinfo of this installation. */
int build_plan_key(const struct launch_args *args, struct buf *key, const char *node_main, const char *build_info,
		   const char *stage1, int with_argv);
/* "STORE/run-plans/<fnv1a-64 of key, hex>" */
int plan_path_for(const char *store, const struct buf *key, char *out, size_t len);

/* A recorded plan (run-plan.c); values point into `raw`. */
#define PLAN_MAX_ITEMS 512
struct plan {
	char *raw;
	size_t raw_len;
	const char *kind; /* "run" (the default) or "run-prepared" */
	const char *key_hex, *index_stamp, *store, *stage1, *stage1_config, *uuid_file_save;
	const char *markers[PLAN_MAX_ITEMS];
	size_t n_markers;
	const char *dirs[PLAN_MAX_ITEMS]; /* "MODE\tRELPATH", parents first */
	size_t n_dirs;
	const char *files[PLAN_MAX_ITEMS]; /* "MODE\tRELPATH\tTEMPLATE" */
	size_t n_files;
	const char *cgroup_ops[PLAN_MAX_ITEMS]; /* "OP\tARG..." (templates) */
	size_t n_cgroup_ops;
	const char *layers[PLAN_MAX_ITEMS]; /* "INODE\tPATH": the overlay lower dirs stage1 will mount */
	size_t n_layers;
	const char *stamps[PLAN_MAX_ITEMS]; /* "PATH\tSTAMP" ('-': absent): files the config's values came from */
	size_t n_stamps;
	const char *host_links[PLAN_MAX_ITEMS]; /* bridges the pod's networks attach to */
	size_t n_host_links;
	const char *host_sysctls[PLAN_MAX_ITEMS]; /* "PATH\tVALUE" the host set-up wrote (ip_forward) */
	size_t n_host_sysctls;
	const char *host_rules[PLAN_MAX_ITEMS]; /* "TABLE\tCHAIN\tNEEDLE": a NAT rule the host set-up made (nft-rules.c) */
	size_t n_host_rules;
};

/* nft-rules.c: 1 when a rule of TABLE/CHAIN (nftables, family ip) holds NEEDLE's bytes, 0 when none, -1 when the chain or table is gone or nftables cannot be asked. */
int nft_rule_mentions(const char *table, const char *chain, const char *needle);
/*
 * 0 when every layer dir the plan's stage1 config mounts is still the dir
 * the CLI saw (same inode); -1 with `why` otherwise, so a layer removed or
 * replaced since sends the run to the CLI (which says what to do) before the
 * pod is committed, instead of a stage1 that fails at its overlay mount.
 */
int check_layers(const struct plan *p, const char **why);
/*
 * 0 when the host-wide network set-up the CLI did for this plan is still in
 * place in the caller's netns (each bridge exists, each sysctl holds its
 * value); -1 with `why` otherwise: the CLI then makes it again, never a pod
 * wired to a bridge an admin deleted. (NAT rules are not checked: reading
 * them means running iptables; after a flush, one CLI run puts them back.)
 */
int check_host_network(const struct plan *p, const char **why);
/* 0 when each stamped file (a network definition) is as the CLI saw it; -1 with `why` otherwise. */
int check_stamps(const struct plan *p, const char **why);
/*
 * The longest store a plan may name: the replays build paths from it no
 * longer than STORE/pods/prepared/UUID/.stage1.conf.tmp-PID (under 100 bytes
 * more), so load_plan's check makes every one of them fit PATH_MAX.
 */
#define PLAN_STORE_MAX (PATH_MAX - 128)
/* 0 and a plan; -1 with `why` set when there is no usable plan. */
int load_plan(const char *path, const char *key_hex, struct plan *plan, const char **why);
void free_plan(struct plan *plan);

/* Values a template refers to (run-plan.c, expand_template). */
struct pod_values {
	char uuid[37];
	char created[40]; /* ISO 8601 UTC with milliseconds, as JavaScript's toISOString */
	int lock_fd;
};
/* Appends the expansion of `tpl` to out; -1 on a malformed template. */
int expand_template(const char *tpl, const struct pod_values *v, struct buf *out);

/* A stamp of a path: "ino:size:mtime_sec.nsec" (stat follows symlinks). Also written by run-plan.ts. */
int file_stamp(const char *path, char *out, size_t len);

/* cgroup-ops.c: runs the expanded ops; on failure removes the dirs it made and returns -1. */
int apply_cgroup_ops(const struct plan *plan, const struct pod_values *v, const char **why);
/* Removes the pod cgroup dirs apply_cgroup_ops made (newest first). */
void undo_cgroup_ops(void);

/*
 * replay.c: creates the pod as the plan says and execs stage1. Returns only
 * when it undid everything and the caller should fall back to Node (`why`
 * says why); after the point of no return it exits itself.
 */
int replay_plan(const struct plan *plan, const char **why);

/* replay-prepared.c: the same for a bare `run-prepared UUID` of a pod `prepare` left a plan in. */
int replay_prepared(const struct plan *plan, const char *uuid, const char **why);

/* Shared by both replays (replay.c). */
/*
 * The common end of both replays: the cgroup ops, `from` → `run` (run/UUID),
 * execve(stage1). Returns only before the rename, with the cgroups undone.
 */
int start_pod(const struct plan *p, const struct pod_values *v, const char *from, const char *run, char *run_config,
	      const char **why);
/* Before exec'ing stage1, as stage0 does (stage1-protocol.md): fds 0-2 inheritable and blocking. */
void stdio_for_stage1(void);

/* A full pod UUID, lower case, as `prepare` prints it. */
int is_full_uuid(const char *s);

/* enter.c: execs stage1's enter for the plain form of `enter` (argv[at] is "enter"); else -1 and why. */
int launch_enter(const struct launch_args *a, int at, const char *stage1, const char **why);

/* Trace lines for SKIFF_LAUNCH_TRACE=1. */
void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
