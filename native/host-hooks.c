/*
 * Host hooks: the `host-up` and `host-down` keys (stage1-protocol.md), commands
 * the supervisor runs on the HOST side for the pod: per-pod host state that
 * plain syscalls cannot make (port-forward rules through iptables, CNI
 * plugins), set up after the pod's networks are attached and torn down by
 * stage1 itself. stage0 is gone once it has exec'd us, so only stage1 can
 * undo host state when the pod ends; after a kill -9 of stage1, `gc` runs the
 * same host-down commands from the recorded config (pod-teardown.ts).
 *
 * Why the care taken here:
 *   - The supervisor is IN the pod's netns once it attached the networks
 *     (net-attach.c), and its pid_for_children is the pod's pid namespace once
 *     it unshared it (dead, so fork fails, once PID 1 is gone). A hook's child
 *     goes back to the host's: setns to the netns and pid namespace the
 *     supervisor started in, opened first thing (host_ns_open). The mount
 *     namespace is the supervisor's, which is the host's: only PID 1 unshares
 *     one. So a hook never runs inside the pod.
 *   - Nothing of stage1 leaks into a hook: every fd above 2 is closed on exec
 *     (close_range CLOEXEC), stdin is /dev/null, stdout goes to stage1's
 *     stderr (the pod's stdout stays the pod's), the environment is a fixed
 *     PATH only, signals are reset, cwd is /, umask 022.
 *   - `{netns}` is /proc/<supervisor's pid>/ns/net: the supervisor stays in the
 *     pod's netns for its whole life, teardown included, so the path is good
 *     for every up and down; it is empty when the pod's netns does not exist
 *     (a start that failed before making it), so a down never acts on the
 *     host's netns by mistake.
 * A hook that hangs holds the pod's start (or teardown): stage1 waits for it.
 */
#include "stage1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOOK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define IP_PREFIX "{ip:"

/* Splits one raw value into argv (in place: the buffer is the config's) and checks it. */
static int parse_hook(const char *key, const struct config *cfg, char *raw, struct host_hook *h, struct s1_error *err)
{
	size_t n = 1;

	for (const char *c = raw; *c != '\0'; c++)
		n += *c == '\t';
	h->argv = calloc(n + 1, sizeof *h->argv);
	if (h->argv == NULL)
		return s1_fail(err, ENOMEM, "config", "calloc", NULL);
	h->argv[h->argc++] = raw;
	for (char *c = raw; *c != '\0'; c++)
		if (*c == '\t') {
			*c = '\0';
			h->argv[h->argc++] = c + 1;
		}
	if (h->argv[0][0] != '/')
		return s1_fail_msg(err, "config", "%s: '%s' is not an absolute path (the value is ARGV0\\tARG...)", key, h->argv[0]);
	/* A typo'd network name would silently become an empty address: refuse it here. */
	for (size_t i = 0; i < h->argc; i++)
		for (const char *p = strstr(h->argv[i], IP_PREFIX); p != NULL; p = strstr(p + 1, IP_PREFIX)) {
			const char *name = p + strlen(IP_PREFIX), *end = strchr(name, '}');
			bool known = false;

			for (size_t k = 0; end != NULL && k < cfg->n_nets; k++)
				known |= strlen(cfg->nets[k].name) == (size_t) (end - name) &&
					 strncmp(cfg->nets[k].name, name, (size_t) (end - name)) == 0;
			if (!known)
				return s1_fail_msg(err, "config", "%s %s: '%s' names no network of the pod's ('net' keys)", key, h->argv[0], h->argv[i]);
		}
	return 0;
}

static int parse_list(const char *key, const struct config *cfg, const struct strv *raw, struct host_hook **out, size_t *n,
		      struct s1_error *err)
{
	*out = calloc(raw->n + 1, sizeof **out);
	if (*out == NULL)
		return s1_fail(err, ENOMEM, "config", "calloc", NULL);
	for (size_t i = 0; i < raw->n; i++, (*n)++)
		if (parse_hook(key, cfg, (char *) raw->v[i], &(*out)[i], err) < 0)
			return -1;
	return 0;
}

int host_hooks_check(struct config *cfg, struct s1_error *err)
{
	if (parse_list("host-up", cfg, &cfg->raw_host_up, &cfg->host_up, &cfg->n_host_up, err) < 0 ||
	    parse_list("host-down", cfg, &cfg->raw_host_down, &cfg->host_down, &cfg->n_host_down, err) < 0)
		return -1;
	/* `netns new` with hooks: the supervisor makes the netns (as it does to attach networks), so {netns} can name it. */
	cfg->own_netns = strcmp(cfg->netns, "new") == 0 && (cfg->n_nets > 0 || cfg->n_host_up > 0 || cfg->n_host_down > 0);
	return 0;
}

void host_hooks_free(struct config *cfg)
{
	/* Up to every raw value: one that failed its check has an argv too. */
	for (size_t i = 0; cfg->host_up != NULL && i < cfg->raw_host_up.n; i++)
		free(cfg->host_up[i].argv);
	for (size_t i = 0; cfg->host_down != NULL && i < cfg->raw_host_down.n; i++)
		free(cfg->host_down[i].argv);
	free(cfg->host_up);
	free(cfg->host_down);
}

int host_ns_open(const struct config *cfg, struct host_ns *h, struct s1_error *err)
{
	h->net = h->pid = -1;
	if (cfg->n_host_up == 0 && cfg->n_host_down == 0)
		return 0;
	h->net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (h->net < 0)
		return s1_fail(err, errno, "host-up", "open", "/proc/self/ns/net");
	h->pid = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (h->pid < 0)
		return s1_fail(err, errno, "host-up", "open", "/proc/self/ns/pid");
	return 0;
}

/* `{netns}`: see the top of the file. */
static void netns_value(const struct config *cfg, const struct host_ns *h, char *out, size_t len)
{
	struct stat host, now;

	out[0] = '\0';
	if (!cfg->own_netns && strcmp(cfg->netns, "host") != 0) {
		snprintf(out, len, "%s", cfg->netns); /* a netns path the config named: it is the pod's */
		return;
	}
	if (cfg->own_netns && (h->net < 0 || fstat(h->net, &host) < 0 || stat("/proc/self/ns/net", &now) < 0 ||
			       (host.st_ino == now.st_ino && host.st_dev == now.st_dev)))
		return; /* still in the host's: the pod's netns was never made */
	snprintf(out, len, "/proc/%d/ns/net", (int) getpid());
}

/* ARG with every placeholder replaced; NULL when out of memory. */
static char *expand(const char *arg, const struct config *cfg, const char *netns)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	for (const char *p = arg; *p != '\0';) {
		const char *rbrace = *p == '{' ? strchr(p, '}') : NULL;
		size_t n = rbrace != NULL ? (size_t) (rbrace - p + 1) : 0;
		bool done = true;

		if (n == 7 && strncmp(p, "{netns}", n) == 0)
			fputs(netns, f);
		else if (n == 6 && strncmp(p, "{uuid}", n) == 0)
			fputs(cfg->uuid, f);
		else if (n == 9 && strncmp(p, "{pod-dir}", n) == 0)
			fputs(cfg->pod_dir, f);
		else if (n > strlen(IP_PREFIX) && strncmp(p, IP_PREFIX, strlen(IP_PREFIX)) == 0) {
			const char *name = p + strlen(IP_PREFIX);

			for (size_t k = 0; k < cfg->n_nets; k++) {
				const struct pod_net *net = &cfg->nets[k];
				char ip[INET_ADDRSTRLEN];

				/* An address not taken yet (a failed start) is empty. */
				if (strlen(net->name) == (size_t) (rbrace - name) && strncmp(net->name, name, (size_t) (rbrace - name)) == 0 &&
				    net->addr.s_addr != 0 && inet_ntop(AF_INET, &net->addr, ip, sizeof ip) != NULL)
					fputs(ip, f);
			}
		} else
			done = false;
		if (done) {
			p += n;
		} else {
			fputc(*p, f); /* any other brace is literal text (JSON, say) */
			p++;
		}
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* In the forked child: back to the host's namespaces, a clean process, then exec. Returns only on failure. */
static int hook_child(const struct host_ns *h, char **argv)
{
	static char *const env[] = { HOOK_PATH, NULL };
	int null, e;

	if (h->net >= 0 && setns(h->net, CLONE_NEWNET) < 0)
		return errno;
	if (signals_reset() < 0)
		return errno;
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
		return errno;
	/* Every fd above 2 (the pod lock, the config, netlink sockets, the status pipe) closes on exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0 || chdir("/") < 0)
		return errno;
	umask(022);
	execve(argv[0], argv, env);
	e = errno;
	return e;
}

/*
 * Runs one hook with its placeholders expanded and waits for it; 0 when it
 * exited 0, else -1 with err: `host-up ARGV0: exit N`, `…: killed by signal
 * SIGX`, or `host-up ARGV0: execve: ENOENT`.
 */
static int run_hook(const char *key, const struct host_hook *hook, const struct config *cfg, const struct host_ns *h,
		    struct s1_error *err)
{
	char netns[PATH_MAX], step[S1_ERR_STEP], sig[32];
	char **argv = calloc(hook->argc + 1, sizeof *argv);
	int status_pipe[2] = { -1, -1 }, status = 0, child_errno = 0, r = -1;
	pid_t pid;

	snprintf(step, sizeof step, "%s %s", key, hook->argv[0]);
	if (argv == NULL)
		return s1_fail(err, ENOMEM, step, "calloc", NULL);
	netns_value(cfg, h, netns, sizeof netns);
	for (size_t i = 0; i < hook->argc; i++)
		if ((argv[i] = expand(hook->argv[i], cfg, netns)) == NULL) {
			s1_fail(err, ENOMEM, step, "open_memstream", NULL);
			goto out;
		}
	if (pipe2(status_pipe, O_CLOEXEC) < 0) {
		s1_fail(err, errno, step, "pipe2", NULL);
		goto out;
	}
	/* The host's pid namespace for our children: the pod's may be unborn (its first child is its PID 1) or dead. */
	if (h->pid >= 0 && setns(h->pid, CLONE_NEWPID) < 0) {
		s1_fail(err, errno, step, "setns", "/proc/self/ns/pid (host)");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		s1_fail(err, errno, step, "fork", NULL);
		goto out;
	}
	if (pid == 0) {
		int e = hook_child(h, argv);

		(void) !write(status_pipe[1], &e, sizeof e);
		_exit(127);
	}
	close(status_pipe[1]);
	status_pipe[1] = -1;
	/* Closed on a successful exec (CLOEXEC): EOF; else the child's errno. */
	while (read(status_pipe[0], &child_errno, sizeof child_errno) < 0 && errno == EINTR)
		;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			s1_fail(err, errno, step, "waitpid", NULL);
			goto out;
		}
	if (child_errno != 0)
		s1_fail(err, child_errno, step, "execve", NULL);
	else if (WIFSIGNALED(status))
		s1_fail_msg(err, step, "killed by signal %s", signal_name(WTERMSIG(status), sig, sizeof sig));
	else if (WEXITSTATUS(status) != 0)
		s1_fail_msg(err, step, "exit %d", WEXITSTATUS(status));
	else
		r = 0;
out:
	for (size_t i = 0; i < hook->argc; i++)
		free(argv[i]);
	free(argv);
	if (status_pipe[0] >= 0)
		close(status_pipe[0]);
	if (status_pipe[1] >= 0)
		close(status_pipe[1]);
	return r;
}

int host_hooks_up(const struct config *cfg, struct host_ns *h, struct s1_error *err)
{
	h->up_started = cfg->n_host_up > 0;
	for (size_t i = 0; i < cfg->n_host_up; i++)
		if (run_hook("host-up", &cfg->host_up[i], cfg, h, err) < 0)
			return -1;
	return 0;
}

void host_hooks_down(const struct config *cfg, const struct host_ns *h)
{
	char line[4096];

	/*
	 * Before the first up nothing of the hooks' can exist (a start that failed
	 * earlier: a taken port, a failed attach), and a down of what is not
	 * there only fails noisily. From then on all of them, last first,
	 * whatever failed: each down is idempotent.
	 */
	if (!h->up_started && cfg->n_host_up > 0)
		return;
	for (size_t i = cfg->n_host_down; i-- > 0;) {
		struct s1_error err = { 0 };

		if (run_hook("host-down", &cfg->host_down[i], cfg, h, &err) < 0) {
			s1_error_format(&err, line, sizeof line);
			fprintf(stderr, "skiff-stage1: teardown: %s\n", line);
		}
	}
}

void host_ns_close(struct host_ns *h)
{
	if (h->net >= 0)
		close(h->net);
	if (h->pid >= 0)
		close(h->pid);
	h->net = h->pid = -1;
}
