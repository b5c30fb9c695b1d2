/*
 * What `list` and `status` know of a pod, read from its dir as
 * runtime/pods/pod-info.ts podInfo() reads it: the state from the dir it is
 * in and a probe of its lock (a shared, non-blocking flock, as pod-state.ts),
 * the manifest, each app's started and exit files, stage1's error, the pid,
 * the networks stage1 and CNI attached. The rules for what is absent are
 * Node's (every read error is "absent", as its try/catch makes it); anything
 * Node would read differently or fail on falls back (query.h).
 *
 * A one-shot process: what it allocates goes with its exit.
 */
#include "pod-read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Larger pod files are not read here (the CLI writes manifests of a few kB). */
#define POD_FILE_MAX (1u << 20)

#define FALL_BACK(reason)            \
	do {                         \
		*why = (reason);     \
		return -1;           \
	} while (0)

/* 1 and the file's bytes (NUL-terminated); 0 when Node's read would fail (absent); -1 to fall back. */
static int read_pod_file(const char *path, char **text, size_t *len, const char **why)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	size_t got = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		close(fd);
		return 0; /* EISDIR for Node */
	}
	if (!S_ISREG(st.st_mode) || (size_t) st.st_size > POD_FILE_MAX) {
		close(fd);
		FALL_BACK("a pod file that is not a small regular file");
	}
	/* Sized by fstat, one byte more to see a file that grew since (then Node's read would differ: fall back). */
	size_t want = (size_t) st.st_size + 1;
	*text = malloc(want + 1);
	if (*text == NULL) {
		close(fd);
		FALL_BACK("out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, *text + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return 0;
		}
		if (n == 0)
			break;
		got += (size_t) n;
		if (got == want) {
			close(fd);
			FALL_BACK("a pod file that grew while read");
		}
	}
	close(fd);
	(*text)[got] = '\0';
	*len = got;
	return 1;
}

/* DIR/NAME (NAME may hold slashes: "apps/web/exit"), or -1 when too long for a path. */
static int file_in(char *out, const char *dir, const char *name, const char *app, const char *leaf)
{
	int n = app == NULL ? snprintf(out, PATH_MAX, "%s/%s", dir, name) : snprintf(out, PATH_MAX, "%s/%s/%s/%s", dir, name, app, leaf);
	return n < 0 || n >= PATH_MAX ? -1 : 0;
}

static bool js_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * A text file as Node's readFileSync(...).trim() gives it: 1 and the string,
 * 0 when absent, -1 to fall back (not UTF-8, a NUL, or a non-ASCII edge that
 * might be one of JavaScript's other white spaces).
 */
static int read_trimmed(const char *path, char **out, const char **why)
{
	char *text;
	size_t len;
	int r = read_pod_file(path, &text, &len, why);

	if (r <= 0)
		return r;
	if (memchr(text, '\0', len) != NULL || !utf8_valid(text, len))
		FALL_BACK("a pod file that is not UTF-8 text");
	char *start = text;
	while (len > 0 && js_space(*start))
		start++, len--;
	while (len > 0 && js_space(start[len - 1]))
		len--;
	if (len > 0 && ((unsigned char) start[0] >= 0x80 || (unsigned char) start[len - 1] >= 0x80))
		FALL_BACK("a pod file with non-ASCII text at an end");
	start[len] = '\0';
	*out = start;
	return 1;
}

/* A JSON file: 1 and the value, 0 when absent, -1 to fall back (also when it is not JSON this reader takes). */
static int read_json(const char *path, struct jv *out, const char **why)
{
	char *text;
	size_t len;
	int r = read_pod_file(path, &text, &len, why);

	if (r <= 0)
		return r;
	if (jv_parse(text, len, out) < 0)
		FALL_BACK("a pod file this reader does not take as JSON");
	free(text);
	return 1;
}

static bool is_str(const struct jv *v)
{
	return v != NULL && v->kind == JV_STR;
}

static bool absent_or_str(const struct jv *v)
{
	return v == NULL || v->kind == JV_STR;
}

static bool ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char) *s >= 0x80)
			return false;
	return true;
}

/* An app name that path.join would leave as one path component. */
static bool plain_component(const char *s)
{
	return *s != '\0' && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && strchr(s, '/') == NULL;
}

/* JavaScript's Date#toISOString of a stat time, as Node makes the Date (Math.round of sec*1e3 + nsec/1e6). */
static int iso_time(const struct timespec *t, char *out, size_t len)
{
	double ms = (double) t->tv_sec * 1e3 + (double) t->tv_nsec / 1e6;
	long long whole = (long long) (ms + 0.5); /* exact below 2^52: the same as Math.round */
	time_t secs = (time_t) (whole / 1000);
	struct tm tm;

	if (t->tv_sec < 0 || t->tv_sec > 253402300799LL || gmtime_r(&secs, &tm) == NULL)
		return -1;
	if (tm.tm_year + 1900 > 9999)
		return -1;
	return snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int) (whole % 1000)) >= (int) len ? -1 : 0;
}

/* pod-state.ts isLocked: a dir that cannot be opened is not locked; any flock error but EWOULDBLOCK is the CLI's to report. */
static int probe_lock(const char *dir, bool *locked, const char **why)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*locked = false;
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		int err = errno;
		close(fd);
		if (err != EWOULDBLOCK)
			FALL_BACK("flock failed");
		*locked = true;
		return 0;
	}
	close(fd);
	return 0;
}

static const struct {
	const char *dir, *locked, *unlocked;
} STATES[] = {
	{ "embryo", "embryo", "embryo" },
	{ "prepare", "preparing", "aborted prepare" },
	{ "prepared", "prepared", "prepared" },
	{ "run", "running", "exited" },
	{ "exited-garbage", "exited deleting", "exited garbage" },
	{ "garbage", "deleting", "garbage" },
};

const char *const POD_STATE_DIRS[] = { "embryo", "prepare", "prepared", "run", "exited-garbage", "garbage", NULL };

static int pod_state(const char *state_dir, const char *dir, const char **state, const char **why)
{
	for (size_t i = 0; i < sizeof STATES / sizeof STATES[0]; i++) {
		bool locked;
		if (strcmp(STATES[i].dir, state_dir) != 0)
			continue;
		if (strcmp(STATES[i].locked, STATES[i].unlocked) == 0) {
			*state = STATES[i].locked;
			return 0;
		}
		if (probe_lock(dir, &locked, why) < 0)
			return -1;
		*state = locked ? STATES[i].locked : STATES[i].unlocked;
		return 0;
	}
	FALL_BACK("an unknown pod state dir");
}

/* The manifest's parts podInfo uses, each of the type it assumes; else fall back. */
static int check_manifest(const struct jv *m, const char **why)
{
	const struct jv *apps = jv_get(m, "apps"), *created = jv_get(m, "created"), *runtime = jv_get(m, "runtime");
	const struct jv *ports = jv_get(runtime, "ports"), *net = jv_get(runtime, "net");

	if (m->kind != JV_OBJ || runtime == NULL || runtime->kind != JV_OBJ)
		FALL_BACK("a manifest without its runtime settings");
	if (created != NULL && created->kind != JV_NULL && created->kind != JV_STR)
		FALL_BACK("a manifest whose created is not a string");
	if (net != NULL && net->kind != JV_STR)
		FALL_BACK("a manifest whose net is not a string");
	if (apps != NULL && apps->kind != JV_NULL && apps->kind != JV_ARR)
		FALL_BACK("a manifest whose apps are not a list");
	for (size_t i = 0; apps != NULL && i < apps->n; i++) {
		const struct jv *a = &apps->items[i], *name = jv_get(a, "name"), *image = jv_get(a, "image");
		if (!is_str(name) || !plain_component(name->str) || !is_str(jv_get(image, "name")) || !is_str(jv_get(image, "id")))
			FALL_BACK("a manifest app without a plain name and an image name and id");
	}
	if (ports != NULL && ports->kind != JV_NULL && ports->kind != JV_ARR)
		FALL_BACK("a manifest whose ports are not a list");
	for (size_t i = 0; ports != NULL && i < ports->n; i++) {
		const struct jv *p = &ports->items[i], *host_ip = jv_get(p, "hostIp");
		const struct jv *host_port = jv_get(p, "hostPort"), *pod_port = jv_get(p, "podPort");
		if (!is_str(jv_get(p, "protocol")) || host_port == NULL || host_port->kind != JV_INT || pod_port == NULL ||
		    pod_port->kind != JV_INT || (host_ip != NULL && host_ip->kind != JV_NULL && host_ip->kind != JV_STR))
			FALL_BACK("a manifest port of another shape");
	}
	return 0;
}

/* net-info.json, cni-net-info.json: a list of objects whose picked fields are strings (name always). */
static int check_net_info(const struct jv *list, const char **why)
{
	if (list->kind != JV_ARR)
		FALL_BACK("net info that is not a list");
	for (size_t i = 0; i < list->n; i++) {
		const struct jv *n = &list->items[i], *if_name = jv_get(n, "ifName");
		if (n->kind != JV_OBJ || !is_str(jv_get(n, "name")) || !absent_or_str(if_name) ||
		    !absent_or_str(jv_get(n, "ip")) || !absent_or_str(jv_get(n, "mac")) || !absent_or_str(jv_get(n, "gateway")))
			FALL_BACK("net info of another shape");
		/* pod-net-info.ts ifIndex: Number() of its trailing digits; more than 9 could compare differently. */
		if (if_name != NULL) {
			size_t digits = 0, len = if_name->str_len;
			while (digits < len && if_name->str[len - 1 - digits] >= '0' && if_name->str[len - 1 - digits] <= '9')
				digits++;
			if (digits > 9)
				FALL_BACK("an interface name with a long number");
		}
	}
	return 0;
}

static long if_index(const struct jv *n)
{
	const struct jv *if_name = jv_get(n, "ifName");
	size_t len;

	if (if_name == NULL)
		return 0;
	len = if_name->str_len;
	while (len > 0 && if_name->str[len - 1] >= '0' && if_name->str[len - 1] <= '9')
		len--;
	return strtol(if_name->str + len, NULL, 10);
}

static int add_net(struct pod_info *p, const struct jv *entry)
{
	struct net_status *grown = realloc(p->nets, (p->n_nets + 1) * sizeof *grown);

	if (grown == NULL)
		return -1;
	p->nets = grown;
	p->nets[p->n_nets++] = (struct net_status){
		.name = jv_get(entry, "name")->str,
		.if_name = is_str(jv_get(entry, "ifName")) ? jv_get(entry, "ifName")->str : NULL,
		.ip = is_str(jv_get(entry, "ip")) ? jv_get(entry, "ip")->str : NULL,
		.mac = is_str(jv_get(entry, "mac")) ? jv_get(entry, "mac")->str : NULL,
		.gateway = is_str(jv_get(entry, "gateway")) ? jv_get(entry, "gateway")->str : NULL,
		.index = if_index(entry),
	};
	return 0;
}

/* pod-info.ts networksOf, with pod-net-info.ts readNetInfo. */
static int read_networks(const char *dir, const struct jv *manifest, struct pod_info *p, const char **why)
{
	char path[PATH_MAX];
	struct jv *own = calloc(1, sizeof *own), *cni = calloc(1, sizeof *cni);
	int have_own, have_cni;

	if (own == NULL || cni == NULL)
		FALL_BACK("out of memory");
	if (file_in(path, dir, "net-info.json", NULL, NULL) < 0)
		FALL_BACK("a path too long");
	if ((have_own = read_json(path, own, why)) < 0 || (have_own && check_net_info(own, why) < 0))
		return -1;
	if (file_in(path, dir, "cni-net-info.json", NULL, NULL) < 0)
		FALL_BACK("a path too long");
	if ((have_cni = read_json(path, cni, why)) < 0 || (have_cni && check_net_info(cni, why) < 0))
		return -1;
	for (size_t i = 0; have_own && i < own->n; i++)
		if (add_net(p, &own->items[i]) < 0)
			FALL_BACK("out of memory");
	for (size_t i = 0; have_cni && i < cni->n; i++)
		if (add_net(p, &cni->items[i]) < 0)
			FALL_BACK("out of memory");
	if (have_cni) {
		/* A stable sort by interface number, as Array#sort is. */
		for (size_t i = 1; i < p->n_nets; i++)
			for (size_t j = i; j > 0 && p->nets[j - 1].index > p->nets[j].index; j--) {
				struct net_status t = p->nets[j];
				p->nets[j] = p->nets[j - 1];
				p->nets[j - 1] = t;
			}
	}
	if (have_own || have_cni || manifest == NULL)
		return 0;
	/* Before stage1 attached anything: the names of runtime.net (`a,b:IP=...`). */
	const char *net = jv_get(jv_get(manifest, "runtime"), "net")->str;
	for (const char *item = net;;) {
		const char *end = strchr(item, ','), *colon;
		size_t len = end == NULL ? strlen(item) : (size_t) (end - item);
		struct net_status *grown = realloc(p->nets, (p->n_nets + 1) * sizeof *grown);

		colon = memchr(item, ':', len);
		if (grown == NULL || (p->nets = grown, (grown[p->n_nets].name = strndup(item, colon == NULL ? len : (size_t) (colon - item))) == NULL))
			FALL_BACK("out of memory");
		grown[p->n_nets].if_name = grown[p->n_nets].ip = grown[p->n_nets].mac = grown[p->n_nets].gateway = NULL;
		p->n_nets++;
		if (end == NULL)
			break;
		item = end + 1;
	}
	return 0;
}

/* pod-state.ts readPodPid: parseInt(text, 10), kept when a positive integer. */
static int read_pid(const char *dir, struct pod_info *p, const char **why)
{
	char path[PATH_MAX], *text;
	size_t len;
	int r;

	if (file_in(path, dir, "pid", NULL, NULL) < 0)
		FALL_BACK("a path too long");
	if ((r = read_pod_file(path, &text, &len, why)) <= 0)
		return r;
	if (memchr(text, '\0', len) != NULL)
		FALL_BACK("a pid file with a NUL");
	char *s = text;
	while (js_space(*s))
		s++;
	if ((unsigned char) *s >= 0x80)
		FALL_BACK("a pid file with non-ASCII text");
	if (*s == '-')
		return 0; /* never positive */
	if (*s == '+')
		s++;
	long long v = 0;
	int digits = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (++digits > 15)
			FALL_BACK("a pid of more than 15 digits");
		v = v * 10 + (*s - '0');
	}
	if (v > 0) {
		p->pid = v;
		p->has_pid = true;
	}
	return 0;
}

int pod_info(const char *store, const char *state_dir, const char *uuid, struct pod_info *p, const char **why)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;
	struct jv *manifest = NULL;
	const struct jv *apps;
	size_t n_exits = 0, n_unrecorded = 0;
	const struct jv *first_failure = NULL;

	*p = (struct pod_info){ .uuid = uuid };
	if ((size_t) snprintf(dir, sizeof dir, "%s/pods/%s/%s", store, state_dir, uuid) >= sizeof dir - 64)
		FALL_BACK("a pod path too long");
	if (pod_state(state_dir, dir, &p->state, why) < 0)
		return -1;
	if (stat(dir, &st) == 0) {
		manifest = calloc(1, sizeof *manifest);
		if (manifest == NULL)
			FALL_BACK("out of memory");
		if (file_in(path, dir, "pod", NULL, NULL) < 0)
			FALL_BACK("a path too long");
		int r = read_json(path, manifest, why);
		if (r < 0 || (r == 1 && check_manifest(manifest, why) < 0))
			return -1;
		if (r == 0)
			manifest = NULL;
	}
	apps = jv_get(manifest, "apps");
	p->n_apps = apps != NULL && apps->kind == JV_ARR ? apps->n : 0;
	p->apps = calloc(p->n_apps + 1, sizeof *p->apps);
	if (p->apps == NULL)
		FALL_BACK("out of memory");
	for (size_t i = 0; i < p->n_apps; i++) {
		struct app_info *a = &p->apps[i];
		const struct jv *image = jv_get(&apps->items[i], "image");
		int r;

		a->name = jv_get(&apps->items[i], "name")->str;
		a->image = jv_get(image, "name")->str;
		a->image_id = jv_get(image, "id")->str;
		if (file_in(path, dir, "apps", a->name, "started") < 0)
			FALL_BACK("a path too long");
		if ((r = read_trimmed(path, &a->started, why)) < 0)
			return -1;
		if (r == 1 && !ascii(a->started))
			FALL_BACK("a start time that is not ASCII");
		if (r == 1 && (p->started == NULL || strcmp(a->started, p->started) < 0))
			p->started = a->started;
		if (file_in(path, dir, "apps", a->name, "exit") < 0)
			FALL_BACK("a path too long");
		a->exit = calloc(1, sizeof *a->exit);
		if (a->exit == NULL || (r = read_json(path, a->exit, why)) < 0)
			return -1;
		if (r == 0) {
			a->exit = NULL;
			n_unrecorded++;
			continue;
		}
		const struct jv *code = jv_get(a->exit, "code"), *finished = jv_get(a->exit, "finished");
		if (code == NULL || code->kind != JV_INT)
			FALL_BACK("an exit file without an integer code");
		n_exits++;
		if (code->num == 0)
			continue;
		if (!is_str(finished) || !ascii(finished->str))
			FALL_BACK("a failed app's exit without an ASCII finish time");
		/* The first failure by finish time; the earlier app on a tie (a stable sort). */
		if (first_failure == NULL || strcmp(finished->str, jv_get(first_failure, "finished")->str) < 0)
			first_failure = a->exit;
	}
	if (file_in(path, dir, "stage1-error", NULL, NULL) < 0)
		FALL_BACK("a path too long");
	if (read_trimmed(path, &p->error, why) < 0)
		return -1;
	bool ended = strcmp(p->state, "exited") == 0 || strcmp(p->state, "exited garbage") == 0 ||
		     strcmp(p->state, "exited deleting") == 0;
	bool unknown = ended && p->error == NULL && (p->n_apps == 0 || n_unrecorded > 0);
	const struct jv *created = jv_get(manifest, "created");
	if (created != NULL && created->kind == JV_STR) {
		p->created = created->str;
	} else {
		if (file_in(path, dir, "pod-created", NULL, NULL) < 0)
			FALL_BACK("a path too long");
		if (stat(path, &st) == 0) {
			char *iso = malloc(64);
			if (iso == NULL || iso_time(&st.st_mtim, iso, 64) < 0)
				FALL_BACK("a creation time out of toISOString's plain range");
			p->created = iso;
		}
	}
	if (strcmp(p->state, "running") == 0 && read_pid(dir, p, why) < 0)
		return -1;
	if (read_networks(dir, manifest, p, why) < 0)
		return -1;
	const struct jv *ports = jv_get(jv_get(manifest, "runtime"), "ports");
	p->ports = ports != NULL && ports->kind == JV_ARR ? ports : NULL;
	if (!ended) {
		p->exit = EXIT_UNDEFINED;
	} else if (unknown) {
		struct buf which = { 0 };
		p->exit = EXIT_NULL;
		for (size_t i = 0; i < p->n_apps; i++)
			if (p->apps[i].exit == NULL && (out_str(&which, which.len == 0 ? "" : ", ") < 0 || out_str(&which, p->apps[i].name) < 0))
				FALL_BACK("out of memory");
		if (buf_add(&which, "", 1) < 0)
			FALL_BACK("out of memory");
		p->reason = malloc(which.len + 128);
		if (p->reason == NULL)
			FALL_BACK("out of memory");
		sprintf(p->reason, "stage1 ended without recording an exit status for %s (killed, e.g. by SIGKILL): the outcome is unknown",
			n_unrecorded == 0 ? "its apps" : which.data);
	} else {
		p->exit = EXIT_CODE;
		p->exit_code = p->error != NULL && n_exits == 0 ? 254 : first_failure != NULL ? jv_get(first_failure, "code")->num : 0;
	}
	return 0;
}
