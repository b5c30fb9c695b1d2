/*
 * `enter` with a terminal: when the caller's stdin is a terminal, the command
 * gets a pseudo-terminal of the pod's own (its devpts is a new instance, so
 * the caller's pty has no name inside the pod: `tty` would say "not a tty"
 * and a shell would have no controlling terminal for job control).
 *
 * As podman/runc with -t: the pty is opened through the pod's /dev/ptmx
 * (after entering its mount namespace and root), the command becomes the
 * session leader with the pty's peer as controlling terminal, and this
 * process, outside the pod's pid namespace, relays bytes between the caller's
 * terminal (put in raw mode, restored at the end) and the pty's master,
 * passing window size changes on (SIGWINCH), until the command exits.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define STEP "enter"

int enter_pty_open(struct enter_pty *p, struct s1_error *err)
{
	struct termios tio;
	struct winsize ws;
	int unlock = 0;

	p->master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->master < 0)
		return s1_fail(err, errno, STEP, "open", "/dev/ptmx (in the pod)");
	if (ioctl(p->master, TIOCSPTLCK, &unlock) < 0)
		return s1_fail(err, errno, STEP, "ioctl(TIOCSPTLCK)", "/dev/ptmx");
	/* The peer by fd, never by a path another process could swap. */
	p->slave = ioctl(p->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->slave < 0)
		return s1_fail(err, errno, STEP, "ioctl(TIOCGPTPEER)", "/dev/ptmx");
	/* The caller's line settings and size, so the command's terminal behaves like the caller's. */
	if (tcgetattr(STDIN_FILENO, &tio) == 0)
		tcsetattr(p->slave, TCSANOW, &tio);
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(p->slave, TIOCSWINSZ, &ws);
	return 0;
}

int enter_pty_child(struct enter_pty *p, struct s1_error *err)
{
	if (setsid() < 0)
		return s1_fail(err, errno, STEP, "setsid", NULL);
	if (ioctl(p->slave, TIOCSCTTY, 0) < 0)
		return s1_fail(err, errno, STEP, "ioctl(TIOCSCTTY)", "the pod's pty");
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(p->slave, fd) < 0)
			return s1_fail(err, errno, STEP, "dup2", "the pod's pty");
	close(p->slave);
	close(p->master);
	return 0;
}

/*
 * Input the caller typed before the switch to raw mode is still in the
 * terminal's cooked queue: whole lines pass as they are, and a pending
 * end-of-file (^D at the start of a line) becomes the pod terminal's own EOF
 * character. Left in the queue, the kernel would hand that EOF over as a
 * NUL byte once the terminal is raw (n_tty keeps it as '\0' with a line-end
 * mark that raw reads ignore): `script </dev/null` types its ^D just then.
 */
static void drain_cooked(int to, cc_t veof)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char buf[8192];

	/* A cooked terminal is readable only with a whole line or an EOF queued: this read never blocks. */
	while (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;
		if (n == 0)
			write_all(to, &veof, 1);
		else
			write_all(to, buf, (size_t) n);
	}
}

/* Copies what is readable on `from` to `to`; false at end of input (EOF, or EIO once the pty's peer is closed). */
static bool pump(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	write_all(to, buf, (size_t) n);
	return true;
}

int enter_pty_relay(struct enter_pty *p, pid_t child, const sigset_t *set)
{
	struct termios saved, raw;
	bool restore = tcgetattr(STDIN_FILENO, &saved) == 0;
	int sfd = signalfd(-1, set, SFD_CLOEXEC);
	bool in_open = true, out_open = true;
	int status = 0;
	bool exited = false;

	if (restore) {
		struct termios pod;

		drain_cooked(p->master, tcgetattr(p->slave, &pod) == 0 ? pod.c_cc[VEOF] : saved.c_cc[VEOF]);
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
		/* A ^D typed in the instant between the drain and this switch still arrives as a NUL: a terminal offers no atomic way to do both. */
	}
	close(p->slave);
	while (!exited && sfd >= 0) {
		struct pollfd fds[3] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = out_open ? p->master : -1, .events = POLLIN },
			{ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
		};

		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents != 0)
			out_open = pump(p->master, STDOUT_FILENO);
		if (fds[2].revents != 0)
			in_open = pump(STDIN_FILENO, p->master);
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			struct winsize ws;

			if (read(sfd, &si, sizeof si) != sizeof si)
				continue;
			if (si.ssi_signo == SIGWINCH) {
				if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
					ioctl(p->master, TIOCSWINSZ, &ws);
			} else if (si.ssi_signo == SIGCHLD) {
				exited = waitpid(child, &status, WNOHANG) == child;
			} else if (si.ssi_code != SI_KERNEL) {
				kill(child, (int) si.ssi_signo);
			}
		}
	}
	/* What the command wrote just before it exited is still in the pty: EAGAIN once read, EIO once closed. */
	fcntl(p->master, F_SETFL, O_NONBLOCK);
	for (char buf[8192]; out_open;) {
		ssize_t n = read(p->master, buf, sizeof buf);
		if (n <= 0)
			break;
		write_all(STDOUT_FILENO, buf, (size_t) n);
	}
	if (restore)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
	if (!exited)
		waitpid(child, &status, 0);
	if (sfd >= 0)
		close(sfd);
	close(p->master);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
