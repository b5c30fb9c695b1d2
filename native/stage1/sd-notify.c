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
 */
#include "stage1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
