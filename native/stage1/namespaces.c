/*
 * Namespaces and cgroups: joining them in PID 1 (run) and entering them from
 * outside (enter).
 *
 * Order in PID 1 (see init.c): join the cgroups FIRST, then unshare the
 * cgroup namespace, so the pod's own cgroup becomes the root of its view;
 * then the netns, whose sysfs rootfs.c mounts later (sysfs shows the network
 * devices of the netns it was mounted in).
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int ns_join_cgroups(const struct strv *cgroups, const char *step, struct s1_error *err)
{
	for (size_t i = 0; i < cgroups->n; i++) {
		char path[PATH_MAX];
		cleanup_fd int fd = -1;

		snprintf(path, sizeof path, "%s/cgroup.procs", cgroups->v[i]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return s1_fail(err, errno, step, "open", "%s", path);
		/* "0" is the writer itself, whatever its PID in whichever pid namespace. */
		if (write(fd, "0", 1) < 0)
			return s1_fail(err, errno, step, "write", "%s", path);
	}
	return 0;
}

/* A fresh netns has loopback down; the pod expects 127.0.0.1 to work. */
static int loopback_up(struct s1_error *err)
{
	cleanup_fd int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	if (sock < 0)
		return s1_fail(err, errno, "netns", "socket", "AF_INET");
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return s1_fail(err, errno, "netns", "ioctl(SIOCGIFFLAGS)", "lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		return s1_fail(err, errno, "netns", "ioctl(SIOCSIFFLAGS)", "lo");
	return 0;
}

int ns_new_netns(const struct config *cfg, struct s1_error *err)
{
	/* With private-users the netns was made with the user namespace, which owns it (userns.c). */
	if (cfg->users != NULL && cfg->users->netns_fd >= 0) {
		if (setns(cfg->users->netns_fd, CLONE_NEWNET) < 0)
			return s1_fail(err, errno, "netns", "setns", "the pod's netns (owned by its user namespace)");
	} else if (unshare(CLONE_NEWNET) < 0) {
		return s1_fail(err, errno, "netns", "unshare(CLONE_NEWNET)", NULL);
	}
	return loopback_up(err);
}

static int join_netns(const struct config *cfg, struct s1_error *err)
{
	const char *netns = cfg->netns;
	cleanup_fd int fd = -1;

	/* With networks to attach (or host hooks), the supervisor made the netns before forking us (net-attach.c). */
	if (strcmp(netns, "host") == 0 || cfg->own_netns)
		return 0;
	if (strcmp(netns, "new") == 0)
		return ns_new_netns(cfg, err);
	fd = open(netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return s1_fail(err, errno, "netns", "open", "%s", netns);
	if (setns(fd, CLONE_NEWNET) < 0)
		return s1_fail(err, errno, "netns", "setns", "%s", netns);
	return 0;
}

int ns_unshare_pod(const struct config *cfg, struct s1_error *err)
{
	if (unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP) < 0)
		return s1_fail(err, errno, "namespaces", "unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWCGROUP)", NULL);
	if (join_netns(cfg, err) < 0)
		return -1;
	if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		return s1_fail(err, errno, "hostname", "sethostname", "%s", cfg->hostname);
	return 0;
}

/*
 * enter: every namespace file is opened before the first setns, because after
 * setns(mnt) this process's /proc is the pod's, where the host PID means
 * nothing. The pid namespace applies to children only: the caller forks.
 */
int ns_enter_pod(pid_t pid1, struct s1_error *err)
{
	static const struct {
		const char *name;
		int type;
	} order[] = {
		{ "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
		{ "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },
	};
	int fds[sizeof order / sizeof order[0]];
	cleanup_fd int root = -1;
	char path[64];
	int ret = 0;

	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		fds[i] = -1;
	for (size_t i = 0; i < sizeof order / sizeof order[0] && ret == 0; i++) {
		snprintf(path, sizeof path, "/proc/%d/ns/%s", (int) pid1, order[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			ret = s1_fail(err, errno, "enter", "open", "%s", path);
	}
	snprintf(path, sizeof path, "/proc/%d/root", (int) pid1);
	if (ret == 0 && (root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		ret = s1_fail(err, errno, "enter", "open", "%s", path);
	for (size_t i = 0; i < sizeof order / sizeof order[0] && ret == 0; i++) {
		snprintf(path, sizeof path, "/proc/%d/ns/%s", (int) pid1, order[i].name);
		if (setns(fds[i], order[i].type) < 0)
			ret = s1_fail(err, errno, "enter", "setns", "%s", path);
	}
	/* setns(mnt) puts us at the namespace's root; PID 1's own root is what the apps see. */
	if (ret == 0 && (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0))
		ret = s1_fail(err, errno, "enter", "chroot", "/proc/%d/root", (int) pid1);
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ret;
}
