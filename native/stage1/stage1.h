/*
 * What the parts of stage1 share: the process model, the messages PID 1 sends
 * the supervisor, and each concern's entry points.
 *
 *   skiff-stage1 run (supervisor.c; stage0's PID, holds the pod lock)
 *     └─ pod PID 1 (init.c; new pid, mnt, uts, ipc, cgroup ns; the pod's netns)
 *          ├─ app (app.c) ...   exec'd with the app's identity
 *          └─ app ...
 *
 * PID 1 builds the pod (namespaces.c, rootfs.c, volumes.c; app-roots.c when
 * each app has a root of its own), starts the apps,
 * reaps every zombie and reports to the supervisor over a pipe as fixed-size
 * `struct s1_msg` records (< PIPE_BUF, so each write is atomic). The
 * supervisor writes the pod dir's state files, decides when the pod stops and
 * tears down what lives on the host.
 */
#ifndef SKIFF_STAGE1_H
#define SKIFF_STAGE1_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "../common/io.h"
#include "config.h"
#include "error.h"
#include "linux-compat.h"

#define EXIT_OK 0
#define EXIT_USAGE 2
#define EXIT_STAGE1_FAILURE 254

enum s1_msg_type {
	MSG_ERROR = 1,     /* setup or app start failed: err says where; the pod stops */
	MSG_READY,         /* namespaces and root are built; apps start next */
	MSG_APP_STARTED,   /* app exec'd (its exec-status pipe closed on exec) */
	MSG_APP_EXITED,    /* app reaped: status is the wait status */
};

struct s1_msg {
	uint32_t type;
	int32_t app; /* index into config.apps, -1 for the pod */
	int32_t status;
	int32_t pad;
	struct timespec time;
	struct s1_error err;
};
_Static_assert(sizeof(struct s1_msg) <= 4096, "a message must fit PIPE_BUF to be written atomically");

/* What PID 1 carries from setup to the app children (besides the config). */
struct pod_ctx {
	const struct config *cfg;
	int msg_fd;        /* write end of the pipe to the supervisor */
	int cap_last;      /* /proc/sys/kernel/cap_last_cap */
	bool root_readonly; /* every app wants a read-only root: done once, pod-wide */
};

/* self-clone.c: re-execs this process from a sealed memfd copy of its binary; 0 once running from one, -1 with err. */
int self_clone_exec(char **argv, struct s1_error *err);

/* main.c-level commands */
int supervisor_run(const char *config_path);
int enter_run(int argc, char **argv);

/* init.c: the pod's PID 1; never returns. */
void __attribute__((noreturn)) pod_init(const struct config *cfg, int msg_fd);

/* namespaces.c */
int ns_join_cgroups(const struct strv *cgroups, const char *step, struct s1_error *err);
int ns_unshare_pod(const struct config *cfg, struct s1_error *err);
int ns_enter_pod(pid_t pid1, struct s1_error *err);
/* unshare(CLONE_NEWNET) (or the netns made with the user namespace) with loopback up. */
int ns_new_netns(const struct config *cfg, struct s1_error *err);

/* net-attach.c: in the supervisor, before PID 1 is forked (it inherits the netns). */
int net_attach(const struct config *cfg, struct s1_error *err);
/* Teardown: the pod's address files; idempotent. */
void net_release(const struct config *cfg);

/*
 * host-hooks.c: `host-up` after the networks are attached and before PID 1,
 * `host-down` at teardown, each in the host's netns and pid namespace, which
 * host_ns_open (first thing) keeps fds of.
 */
struct host_ns {
	int net, pid;    /* -1: not opened (no hooks) */
	bool up_started; /* the first host-up ran: from then on teardown runs the downs */
};
int host_ns_open(const struct config *cfg, struct host_ns *h, struct s1_error *err);
void host_ns_close(struct host_ns *h);
int host_hooks_up(const struct config *cfg, struct host_ns *h, struct s1_error *err);
/* Every host-down, last first, once a host-up ran; failures go to stderr only. */
void host_hooks_down(const struct config *cfg, const struct host_ns *h);

/* port-claim.c: the host ports the pod forwards, claimed before anything is wired; released at teardown. */
int port_claims_take(const struct config *cfg, struct s1_error *err);
void port_claims_release(const struct config *cfg);

/*
 * userns.c (`private-users`): userns_make in the supervisor before the netns is joined, userns_reap
 * before PID 1 is forked; userns_prepare_root in PID 1 before each root is mounted; userns_join in
 * each app and `enter` child right before its identity (enter finds the namespace with
 * userns_of_pid1: an fd, or -1 with err); userns_release at teardown (idempotent).
 */
int userns_make(const struct config *cfg, struct s1_error *err);
void userns_reap(const struct config *cfg);
int userns_of_pid1(pid_t pid1, struct s1_error *err);
int userns_prepare_root(const struct config *cfg, const struct rootfs_spec *r, struct s1_error *err);
int userns_join(int fd, const char *step, struct s1_error *err);
void userns_release(const struct config *cfg);

/*
 * rootfs.c: in PID 1, in this order (see init.c). `shown` is the host path
 * of the root being filled, for errors; the paths acted on are the current
 * root's.
 */
/* nosuid, nodev, noexec: /proc, /sys, /dev's filesystems, and the tmpfs pod root of per-app roots. */
#define PSEUDO_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
int rootfs_make_rslave(struct s1_error *err);
int rootfs_mount(const struct rootfs_spec *r, const char *target, struct s1_error *err);
int rootfs_pivot(const char *dir, const char *step, struct s1_error *err);
int rootfs_mount_fs(const char *shown, const char *fstype, const char *target, unsigned long flags, const char *data,
		    struct s1_error *err);
int rootfs_mount_pseudo(const char *shown, int shm_fd, struct s1_error *err);
/* STEP names who asks in errors ("rootfs", "app web", "enter"). */
int rootfs_make_readonly(const char *step, const char *shown, struct s1_error *err);
/* A read-only root for this process only (an app, or `enter --app`, with --readonly-rootfs in a shared root). */
int app_readonly_view(const char *step, struct s1_error *err);

/* enter-pty.c: a pty of the pod's own for `enter` from a terminal. */
struct enter_pty {
	int master, slave;
};
int enter_pty_open(struct enter_pty *p, struct s1_error *err);
/* In the forked child: session leader, the pty as controlling terminal and stdio. */
int enter_pty_child(struct enter_pty *p, struct s1_error *err);
/* In the parent: relays until the child exits; returns its status as a shell would. */
int enter_pty_relay(struct enter_pty *p, pid_t child, const sigset_t *set);

/* app-roots.c: per-app roots, each at STAGE2_DIR/NAME/rootfs of the pod root (rkt's layout). */
#define STAGE2_DIR "/opt/stage2"
int app_roots_build(const struct config *cfg, struct s1_error *err);
int app_root_enter(const char *name, const char *step, struct s1_error *err);

/* volumes.c: host binds opened before pivot, attached after */
struct binds;
int etc_files_write(const struct config *cfg, struct s1_error *err);

/*
 * listen-fds.c: socket activation's fds 3… for the pod's first app. take: at start, from
 * LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES (CLOEXEC from then on); give: in that app's child, clears
 * CLOEXEC and returns ENV with LISTEN_* added (ENV itself when there are none; NULL with err);
 * close: the supervisor's and PID 1's copies once they are handed on.
 */
int listen_fds_take(int lock_fd, struct s1_error *err);
char *const *listen_fds_give(char *const *env, const char *step, struct s1_error *err);
void listen_fds_close(void);

/* sd-notify.c: READY=1 and STOPPING=1 to systemd's NOTIFY_SOCKET, when it is set. */
void sd_notify_open(void);
void sd_notify_send(const char *state);
/*
 * The `sd-notify app` relay (sd-notify.c): open, in the supervisor before PID 1 (nothing without
 * NOTIFY_SOCKET); bind, in PID 1 in the pod root; clone + attach, the same socket in an app's
 * root (per-app roots; clone -1: none); close, PID 1's copy once bound; env, NOTIFY_SOCKET added
 * to an app's environment (ENV itself when off; NULL with err); fd + read, the supervisor's loop
 * (which drains it once the pod is gone: an app's last words before it exits still count).
 */
int sd_notify_relay_open(const struct config *cfg, struct s1_error *err);
int sd_notify_relay_bind(const char *shown, struct s1_error *err);
int sd_notify_relay_clone(struct s1_error *err);
int sd_notify_relay_attach(int clone, const char *shown, struct s1_error *err);
void sd_notify_relay_close(void);
char *const *sd_notify_relay_env(char *const *env, const char *step, struct s1_error *err);
int sd_notify_relay_fd(void);
/* One datagram relayed (or dropped); false when none was waiting. */
bool sd_notify_relay_read(void);
int binds_open(const struct config *cfg, const struct app *only, struct binds **out, struct s1_error *err);
int binds_attach(const char *shown, struct binds *b, struct s1_error *err);
void binds_free(struct binds *b);
int paths_mask_and_protect(const struct config *cfg, const char *shown, struct s1_error *err);

/* devices.c: the `device-allow` list as a BPF device program on each cgroup2 `cgroup` dir. */
int devices_restrict(const struct config *cfg, struct s1_error *err);

/* caps.c */
int caps_last_cap(struct s1_error *err);
int caps_drop_bounding(uint64_t caps, int cap_last, const char *step, struct s1_error *err);
int caps_set(uint64_t caps, bool ambient, const char *step, struct s1_error *err);

/* app.c: in the forked child; returns only on failure (err filled). */
void app_exec(const struct pod_ctx *ctx, const struct app *app, struct s1_error *err);
/*
 * From root with every capability to the app's identity: rlimits (clamped),
 * bounding set, groups/gid/uid, capabilities (ambient too for non-root),
 * no_new_privs, umask 022, the seccomp filter (seccomp.h). Not the cwd: the caller chdirs after it, as the
 * app's user. Shared by app_exec and enter.
 */
int app_identity_apply(const struct app *app, int cap_last, const char *step, struct s1_error *err);
/* PATH lookup in the given env, then execve; returns only on failure. */
int exec_in_env(const char *file, char *const argv[], char *const envp[], const char *step, struct s1_error *err);
int signals_reset(void);

/* util.c (and ../common/io.h: write_all, write_atomic, read_small_file, mkdir_ok) */
int write_file_atomic(const char *path, const char *content, struct s1_error *err, const char *step);
int mkdir_p(const char *path, mode_t mode, const char *step, const char *shown, struct s1_error *err);
/*
 * A claim (an IPAM address, a host port) is a file holding the pod's UUID, linked into place from
 * DIR/.claim-UUID so it exists only whole and never for two pods (link fails with EEXIST). This
 * makes DIR (0700) and writes that temp file, its path into TMP; the caller links and unlinks it.
 * No fsync: link(2) is what makes a claim ours, atomic for every other run on this host; after a
 * crash of the host the pods are gone too, and gc releases by the UUID the file holds.
 */
int claim_file_write(const char *dir, const char *uuid, const char *step, char *tmp, size_t len, struct s1_error *err);
void time_rfc3339(const struct timespec *ts, char *buf, size_t len);
const char *signal_name(int sig, char *buf, size_t len);
int msg_send(int fd, const struct s1_msg *msg);
/* SIGCHLD, SIGTERM, SIGINT, SIGHUP */
void signals_forwarded(sigset_t *set);

#endif
