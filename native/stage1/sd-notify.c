/*
 * sd_notify(3) for the pod, without libsystemd: when systemd started `skiff run` as a
 * Type=notify unit, NOTIFY_SOCKET names its socket, and stage1 (the unit's main process, since
 * stage0 and the launcher exec it in place) says READY=1 with MAINPID once every app has started,
 * and STOPPING=1 when it begins to stop the pod.
 *
 * The socket is opened at start, while stage1 is still in the host's network namespace: an
 * abstract NOTIFY_SOCKET ('@…') is looked up in the namespace the socket was made in, and stage1
 * moves into the pod's before the apps start. The variable is stage1's only (apps get exactly the
 * environment their config lists), so nothing in the pod sees the socket. A failure to send is
 * reported once and never stops the pod: readiness is systemd's business, the pod runs anyway.
 *
 * `sd-notify app` (`--sd-notify=app`): the apps say when they are ready, through a relay. Why a
 * relay and not the host socket bound into the pod: systemd takes notifications from the unit's
 * main PID only (NotifyAccess=main, the default), and that is stage1's supervisor, not an app;
 * the host socket may be abstract (in the host's netns, unreachable from the pod's) or a path in
 * another mount namespace; and a host socket inside the pod would be a host object in reach of
 * the pod. So the supervisor makes a datagram socket before PID 1 exists; PID 1 binds it at
 * /run/systemd/notify in the pod's root (in every app's root, with per-app roots: bind mounts of
 * the one socket) and closes its copy; every app gets NOTIFY_SOCKET=/run/systemd/notify; the
 * supervisor's poll loop reads each datagram and sends it on from itself, over the socket it
 * opened before entering any namespace. On the way: MAINPID= becomes stage1's own pid (the app's
 * means nothing to systemd, which knows stage1), the fd-store and barrier lines (FDSTORE=,
 * FDNAME=, FDSTOREREMOVE=, FDPOLL=, BARRIER=) and NOTIFYACCESS= are dropped and any fds passed with them closed (no
 * fd from the pod reaches the supervisor or systemd), and a truncated or NUL-holding datagram is
 * dropped whole. stage1 sends no READY=1 of its own then: READY=1 comes from the app. The unit's
 * WatchdogSec= reaches the apps as WATCHDOG_USEC (stage0 and the launcher pass it through with
 * WATCHDOG_PID, which names stage1), so an app knows how often to send WATCHDOG=1. Anything
 * in the pod may notify (the pod is one service, as with NotifyAccess=all within it); nothing
 * outside the pod can reach the socket.
 */
#include "stage1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define RELAY_DIR "/run/systemd"
#define RELAY_PATH RELAY_DIR "/notify"
/* systemd's own limit on a notification (NOTIFY_BUFFER_MAX). */
#define RELAY_MAX 4096

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

void sd_notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (path == NULL || path[0] == '\0')
		return;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof notify_addr.sun_path) {
		fprintf(stderr, "skiff-stage1: NOTIFY_SOCKET '%s' is not a socket path or @name: not notifying\n", path);
		return;
	}
	memset(&notify_addr, 0, sizeof notify_addr);
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	/* An abstract name has no terminating NUL: its length is exactly its bytes. */
	notify_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0)
		fprintf(stderr, "skiff-stage1: NOTIFY_SOCKET: socket: %s\n", strerror(errno));
}

void sd_notify_send(const char *state)
{
	static bool reported;

	if (notify_fd < 0)
		return;
	if (sendto(notify_fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *) &notify_addr, notify_len) < 0 && !reported) {
		fprintf(stderr, "skiff-stage1: NOTIFY_SOCKET: sendto: %s\n", strerror(errno));
		reported = true;
	}
}

static int relay_fd = -1; /* the supervisor's for life; PID 1's until it is bound */
static const char *watchdog_usec; /* the unit's WATCHDOG_USEC when it is stage1's (WATCHDOG_PID ours) */
static bool relay_on;     /* set before PID 1 forks: its apps get NOTIFY_SOCKET */

int sd_notify_relay_open(const struct config *cfg, struct s1_error *err)
{
	/* No systemd to tell: the apps get no NOTIFY_SOCKET, as anywhere without systemd. */
	if (!cfg->sd_notify_app || notify_fd < 0)
		return 0;
	relay_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (relay_fd < 0)
		return s1_fail(err, errno, "sd-notify", "socket", "the pod's notify relay");
	relay_on = true;
	/* As sd_watchdog_enabled(3): meant for us when WATCHDOG_PID is ours or unset; digits only. */
	watchdog_usec = getenv("WATCHDOG_USEC");
	if (watchdog_usec != NULL && (watchdog_usec[0] == '\0' || strspn(watchdog_usec, "0123456789") != strlen(watchdog_usec) ||
				      (getenv("WATCHDOG_PID") != NULL && atol(getenv("WATCHDOG_PID")) != (long) getpid())))
		watchdog_usec = NULL;
	return 0;
}

int sd_notify_relay_fd(void)
{
	return relay_fd;
}

/* In PID 1, in the root being filled (cwd and root): RELAY_DIR made if missing. */
static int relay_dir(const char *shown, struct s1_error *err)
{
	struct stat st;

	if ((mkdir("/run", 0755) < 0 && errno != EEXIST) || (mkdir(RELAY_DIR, 0755) < 0 && errno != EEXIST))
		return s1_fail(err, errno, "sd-notify", "mkdir", "%s" RELAY_DIR, shown);
	/*
	 * The image's own dirs, but never its symlinks: one could point PID 1 (root) at a volume's
	 * file to unlink, which the app itself might not be allowed to remove.
	 */
	errno = 0;
	if (lstat("/run", &st) < 0 || !S_ISDIR(st.st_mode) || lstat(RELAY_DIR, &st) < 0 || !S_ISDIR(st.st_mode))
		return s1_fail(err, errno != 0 ? errno : ENOTDIR, "sd-notify", "lstat",
			       "%s/run or %s" RELAY_DIR " is not a directory (a symlink?): --sd-notify=app binds its socket there", shown, shown);
	/* A file the image left there (or a stale socket) would make bind fail with EADDRINUSE. */
	if (unlink(RELAY_PATH) < 0 && errno != ENOENT)
		return s1_fail(err, errno, "sd-notify", "unlink", "%s" RELAY_PATH, shown);
	return 0;
}

int sd_notify_relay_bind(const char *shown, struct s1_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = RELAY_PATH };

	if (relay_fd < 0)
		return 0;
	if (relay_dir(shown, err) < 0)
		return -1;
	/* umask 0 in PID 1: the socket is 0777, so an app of any uid may send. */
	if (bind(relay_fd, (struct sockaddr *) &addr, sizeof addr) < 0)
		return s1_fail(err, errno, "sd-notify", "bind", "%s" RELAY_PATH, shown);
	return 0;
}

int sd_notify_relay_clone(struct s1_error *err)
{
	int fd;

	if (relay_fd < 0)
		return -1;
	fd = open_tree(AT_FDCWD, RELAY_PATH, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		s1_fail(err, errno, "sd-notify", "open_tree", RELAY_PATH);
	return fd;
}

int sd_notify_relay_attach(int clone, const char *shown, struct s1_error *err)
{
	int fd;

	if (clone < 0)
		return 0;
	if (relay_dir(shown, err) < 0)
		return -1;
	fd = open(RELAY_PATH, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
	if (fd < 0)
		return s1_fail(err, errno, "sd-notify", "open", "%s" RELAY_PATH, shown);
	close(fd);
	if (move_mount(clone, "", AT_FDCWD, RELAY_PATH, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return s1_fail(err, errno, "sd-notify", "move_mount", "%s" RELAY_PATH, shown);
	return 0;
}

void sd_notify_relay_close(void)
{
	if (relay_fd >= 0)
		close(relay_fd);
	relay_fd = -1;
}

char *const *sd_notify_relay_env(char *const *env, const char *step, struct s1_error *err)
{
	size_t n = 0, out = 0;
	char **with;

	if (!relay_on)
		return env;
	while (env[n] != NULL)
		n++;
	with = calloc(n + 3, sizeof *with);
	if (with == NULL)
		return s1_fail(err, ENOMEM, step, "calloc", "notify env"), NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], "NOTIFY_SOCKET=", 14) != 0 && strncmp(env[i], "WATCHDOG_", 9) != 0)
			with[out++] = env[i];
	with[out++] = (char *) "NOTIFY_SOCKET=" RELAY_PATH;
	/* The unit's WatchdogSec=: how often to send WATCHDOG=1 (no WATCHDOG_PID: any pid of the app may). */
	if (watchdog_usec != NULL && (with[out] = malloc(strlen(watchdog_usec) + sizeof "WATCHDOG_USEC=")) != NULL)
		sprintf(with[out], "WATCHDOG_USEC=%s", watchdog_usec);
	return with;
}

static bool relayed_line(const char *line, size_t len)
{
	/* NOTIFYACCESS= would let the pod widen who may notify for the unit: the unit file decides that. */
	static const char *const dropped[] = { "FDSTORE=", "FDSTOREREMOVE=", "FDNAME=", "FDPOLL=", "BARRIER=", "NOTIFYACCESS=" };

	for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
		if (len >= strlen(dropped[i]) && strncmp(line, dropped[i], strlen(dropped[i])) == 0)
			return false;
	return true;
}

bool sd_notify_relay_read(void)
{
	char buf[RELAY_MAX + 1], out[RELAY_MAX + 32];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * 64)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = RELAY_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control };
	size_t used = 0;
	ssize_t n = relay_fd < 0 ? -1 : recvmsg(relay_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);

	if (n < 0)
		return false;
	/* Whatever fds came along are closed unread: none of the pod's may stay with us. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
				close(fd);
			}
	if ((mh.msg_flags & MSG_TRUNC) || n > RELAY_MAX || memchr(buf, '\0', (size_t) n) != NULL)
		return true;
	buf[n] = '\0';
	for (char *line = buf, *end; *line != '\0'; line = *end == '\0' ? end : end + 1) {
		size_t len;

		end = strchrnul(line, '\n');
		len = (size_t) (end - line);
		if (len == 0 || !relayed_line(line, len))
			continue;
		if (len >= 8 && strncmp(line, "MAINPID=", 8) == 0)
			used += (size_t) snprintf(out + used, sizeof out - used, "MAINPID=%d\n", (int) getpid());
		else
			used += (size_t) snprintf(out + used, sizeof out - used, "%.*s\n", (int) len, line);
		if (used >= sizeof out)
			return true; /* too long once MAINPID= lines were rewritten: dropped whole, never cut */
	}
	if (used > 0)
		sd_notify_send(out);
	return true;
}
