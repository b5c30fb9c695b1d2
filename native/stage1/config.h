/*
 * The pod config stage0 writes (native/stage1-protocol.md, "Config file"):
 * NUL-terminated KEY\0VALUE\0 pairs. Parsed once into this struct; every
 * string points into `buf`, which the struct owns. Values are checked here
 * (numbers, names, capability lists), so a bad config fails with exit 2
 * before anything is created.
 */
#ifndef SKIFF_STAGE1_CONFIG_H
#define SKIFF_STAGE1_CONFIG_H

#include <netinet/in.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "error.h"
#include "seccomp.h"

struct strv {
	const char **v;
	size_t n;
};

struct volume {
	const char *name;
	const char *source;
	bool ro;
	bool empty; /* kind `empty`: a dir of the pod dir, the pod's own (private-users chowns it to pod root) */
};

struct app_mount {
	size_t volume; /* index into config.volumes */
	const char *target;
};

/*
 * One root filesystem: an overlay of `lower` (FIRST is the top layer) with
 * `upper` and `work`, or `dir` bound as is. The pod has one (every app shares
 * it), or each app has its own (per-app roots, see app-roots.c).
 */
struct rootfs_spec {
	struct strv lower;
	const char *upper, *work, *dir;
};

/*
 * One `device-allow` rule, as a v1 devices.allow line: TYPE ('a', 'b', 'c'),
 * MAJOR and MINOR (-1 for `*`), ACCESS a mask of the bits below (the values
 * of the kernel's BPF_DEVCG_ACC_*).
 */
#define DEVICE_MKNOD 1
#define DEVICE_READ 2
#define DEVICE_WRITE 4
#define DEVICE_RWM 7
struct device_rule {
	char type;
	long major, minor;
	unsigned int access;
};

struct app_rlimit {
	int resource; /* RLIMIT_* */
	const char *name;
	rlim_t soft, hard;
};

struct app {
	const char *name;
	const char *exec;
	struct strv args;
	struct strv env;
	const char *working_dir;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	uint64_t caps;
	/* A non-root app's effective, permitted, inheritable and ambient sets (a subset of caps); root ignores it. */
	uint64_t ambient_caps;
	bool no_new_privs;
	bool readonly_rootfs;
	bool interactive;
	struct app_rlimit *rlimits;
	size_t n_rlimits;
	struct app_mount *mounts;
	size_t n_mounts;
	struct seccomp_spec seccomp; /* the `seccomp` key; all zero: the default filter */
	struct rootfs_spec rootfs; /* set only with per-app roots */
	/* Raw `mount`, `rlimit`, `supplementary-gid` values, resolved after the whole file is read. */
	struct strv raw_mounts, raw_rlimits, raw_groups;
	const char *raw_caps, *raw_ambient_caps, *raw_uid, *raw_gid, *raw_nnp, *raw_ro, *raw_interactive, *raw_seccomp;
};

/* A network the pod joins (`net`, net-config.c); the second half is filled by net_attach. */
struct pod_net {
	const char *name, *ifname, *bridge, *ipam_dir, *raw_range;
	unsigned int mtu;
	int prefix;
	struct in_addr subnet, range_start, range_end, gateway, requested;
	bool default_route, has_requested;
	struct in_addr addr;
	char host_if[16];
	char mac[18];
	char ipam_file[PATH_MAX];
};

/* A `host-up` or `host-down` command (host-hooks.c): argv points into the config's buffer. */
struct host_hook {
	const char **argv;
	size_t argc;
};

/* A `port-claim` (port-claim.c): the file DIR/PROTO-PORT, held once linked. */
struct port_claim {
	const char *dir, *proto;
	unsigned int port;
	char path[PATH_MAX];
	bool held;
};

/* `private-users` (userns.c): the pod's user namespace, pod id N being host id shift+N for N < count. */
struct private_users {
	bool auto_pick;          /* `auto`: the range is claimed under dir at start */
	const char *dir;
	uint32_t shift, count;
	char claim[PATH_MAX];    /* the claim (a symlink to the UUID) held; "" none */
	int userns_fd, netns_fd; /* made by the supervisor (userns_make); -1 before */
	pid_t helper;            /* the child that made them, until reaped (userns_reap); -1 none */
};

struct config {
	char *buf;
	size_t len;
	const char *version, *uuid, *pod_dir, *raw_lock_fd, *hostname;
	const char *rootfs_target;
	const char *netns, *resolv_conf, *dns_from, *address_from, *dns_domain, *raw_stop_timeout;
	struct rootfs_spec rootfs; /* the pod's one root; unset with per-app roots */
	bool per_app_rootfs;       /* every app has its own root under rootfs-target */
	struct strv netns_cleanup, cgroups, cgroup_cleanup, file_cleanup;
	struct strv dns, dns_search, dns_opts, hosts_entries, mask_paths, readonly_paths, raw_volumes, raw_device_rules;
	int lock_fd;
	unsigned int stop_timeout;
	struct volume *volumes;
	size_t n_volumes;
	struct strv raw_nets;
	struct pod_net *nets;
	size_t n_nets;
	struct device_rule *device_rules; /* none: no device program (devices.c) */
	size_t n_device_rules;
	struct app *apps;
	size_t n_apps;
	/* `host-up`, `host-down` (host-hooks.c) */
	struct strv raw_host_up, raw_host_down;
	struct host_hook *host_up, *host_down;
	size_t n_host_up, n_host_down;
	/* `sd-notify`: app (the apps notify, through stage1's relay: sd-notify.c) or pod (the default) */
	const char *raw_sd_notify;
	bool sd_notify_app;
	struct strv raw_port_claims;
	struct port_claim *port_claims;
	size_t n_port_claims;
	/* `netns new` made by the supervisor (networks to attach, host hooks to name it, or a user namespace to own it), not by PID 1 */
	bool own_netns;
	const char *raw_private_users;
	struct private_users *users; /* NULL: the host's user namespace */
};

/* stage1 writes the pod's resolv.conf itself when any of `dns`, `dns-search`, `dns-opt`, `dns-domain` is given. */
static inline bool resolv_conf_generated(const struct config *cfg)
{
	return cfg->dns.n > 0 || cfg->dns_search.n > 0 || cfg->dns_opts.n > 0 || cfg->dns_domain != NULL;
}


/* Reads and checks PATH. On failure err says what is wrong ("config: …"). */
int config_read(const char *path, struct config *cfg, struct s1_error *err);
void config_free(struct config *cfg);

/* config-check.c: the second pass of config_read (values converted and checked). */
int config_check(struct config *cfg, struct s1_error *err);
/* Splits a tab-separated value in place (the buffer is the config's); returns the field count, max + 1 if more. */
size_t config_split_tabs(char *value, char **fields, size_t max);
/* net-config.c: the `net` keys. */
int net_config_check(struct config *cfg, struct s1_error *err);

/* host-hooks.c: the `host-up`/`host-down` keys (after net_config_check: `{ip:NAME}` names a network). */
int host_hooks_check(struct config *cfg, struct s1_error *err);
void host_hooks_free(struct config *cfg);
/* port-claim.c: the `port-claim` keys. */
int port_claims_check(struct config *cfg, struct s1_error *err);
/* userns.c: the `private-users` key (after host_hooks_check: it may make the netns the supervisor's). */
int private_users_check(struct config *cfg, struct s1_error *err);

/* Docker's default 14: an app without `caps`, and `enter` without --app. */
#define CAPS_DEFAULT                                                                                     \
	"chown,dac_override,fowner,fsetid,kill,setgid,setuid,setpcap,net_bind_service,net_raw,sys_chroot," \
	"mknod,audit_write,setfcap"

/* Capability names (caps.c): "chown,kill" -> mask; -1 with err on an unknown name. */
int caps_parse(const char *list, uint64_t *mask, struct s1_error *err);

#endif
