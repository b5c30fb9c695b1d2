/*
 * `skiff version` answered by the launcher, as runtime/cli/commands/version.ts
 * prints runtime/version-info.ts's VersionInfo: Skiff's version (package.json),
 * Node's, the host (uname), stage1's own version line read out of its binary
 * (main.c's version_line, found as version-info.ts finds it), and the host
 * features of runtime/host-features.ts, read from /proc and /sys as it reads them.
 *
 * Node's version is the one thing the launcher cannot read without running
 * Node: the build compiles in the version of the Node it execs, with that
 * binary's stamp (native/Makefile); a Node binary that is not that one any
 * more (upgraded, replaced) sends `version` to Node, which reports its own.
 */
#include "query.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef SKIFF_NODE
#define SKIFF_NODE "/usr/bin/node"
#endif

#define FALL_BACK(reason)        \
	do {                     \
		*why = (reason); \
		return -1;       \
	} while (0)

/* stage1 is a few hundred kB; past this the search is Node's. */
#define STAGE1_READ_MAX (64u << 20)
#define TEXT_MAX (4u << 20)

/* A whole file (NUL-terminated); -1 when it cannot be read or is larger than max. */
static int slurp(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	size_t got = 0, cap = 64 * 1024;
	char *data;

	if (fd < 0)
		return -1;
	/* Sized by fstat where it knows (/proc files say 0): one read for stage1's whole binary. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (size_t) st.st_size < max)
		cap = (size_t) st.st_size + 1;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode) || (data = malloc(cap + 1)) == NULL) {
		close(fd);
		return -1;
	}
	for (;;) {
		if (got == cap) {
			char *grown = cap >= max ? NULL : realloc(data, cap * 2 + 1);
			if (grown == NULL) {
				close(fd);
				free(data);
				return -1;
			}
			data = grown;
			cap *= 2;
		}
		ssize_t n = read(fd, data + got, cap - got);
		if (n < 0) {
			close(fd);
			free(data);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t) n;
	}
	close(fd);
	if (got > max) {
		free(data);
		return -1;
	}
	data[got] = '\0';
	*out = data;
	*len = got;
	return 0;
}

/* The Node this launcher execs, when it is still the binary the build asked for its version. */
static const char *node_version(void)
{
#if defined(SKIFF_NODE_VERSION) && defined(SKIFF_NODE_STAMP)
	char stamp[96];
	struct stat st;

	if (stat(SKIFF_NODE, &st) < 0)
		return NULL;
	snprintf(stamp, sizeof stamp, "%llu:%llu:%lld", (unsigned long long) st.st_ino, (unsigned long long) st.st_size,
		 (long long) st.st_mtim.tv_sec);
	return strcmp(stamp, SKIFF_NODE_STAMP) == 0 && SKIFF_NODE_VERSION[0] == 'v' ? SKIFF_NODE_VERSION : NULL;
#else
	return NULL;
#endif
}

/* Node's process.arch for this build, as oci-arch.ts names it. */
static const char *oci_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#else
	return NULL;
#endif
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * version-info.ts stage1Version: /skiff-stage1 (\d+\.\d+\.\d+[^\n\0]*)\n\0/ on the binary read as
 * latin1; the first match's group, in UTF-8. NULL: no match.
 */
static char *stage1_version(const char *data, size_t len)
{
	static const char TAG[] = "skiff-stage1 ";
	const char *end = data + len;

	for (const char *at = data; (at = memmem(at, (size_t) (end - at), TAG, sizeof TAG - 1)) != NULL; at++) {
		const char *p = at + sizeof TAG - 1, *start = p;
		bool ok = true;

		for (int part = 0; part < 3 && ok; part++) {
			if (part > 0 && !(p < end && *p++ == '.'))
				ok = false;
			if (ok && !(p < end && digit(*p)))
				ok = false;
			while (ok && p < end && digit(*p))
				p++;
		}
		while (ok && p < end && *p != '\n' && *p != '\0')
			p++;
		if (!ok || end - p < 2 || p[0] != '\n' || p[1] != '\0')
			continue;
		struct buf out = { 0 };
		for (const unsigned char *c = (const unsigned char *) start; c < (const unsigned char *) p; c++) {
			unsigned char two[2] = { (unsigned char) (0xc0 | (*c >> 6)), (unsigned char) (0x80 | (*c & 0x3f)) };
			if (*c < 0x80 ? buf_add(&out, c, 1) < 0 : buf_add(&out, two, 2) < 0)
				return NULL;
		}
		return buf_add(&out, "", 1) < 0 ? NULL : out.data;
	}
	return NULL;
}

/* host-features.ts detectOverlayfs. */
static const char *overlayfs(const char *release)
{
	char *text, path[PATH_MAX];
	size_t len;
	struct stat st;

	if (slurp("/proc/filesystems", TEXT_MAX, &text, &len) == 0) {
		for (const char *at = text; (at = strstr(at, "\toverlay")) != NULL; at++)
			if (at[8] == '\0' || at[8] == '\n' || at[8] == '\r')
				return "available";
	}
	if (stat("/sys/module/overlay", &st) == 0)
		return "available";
	if ((size_t) snprintf(path, sizeof path, "/lib/modules/%s/kernel/fs/overlayfs", release) < sizeof path &&
	    stat(path, &st) == 0)
		return "module";
	return "missing";
}

#define MAX_CONTROLLERS 64

struct cgroups {
	const char *v1_names[MAX_CONTROLLERS], *v1_mounts[MAX_CONTROLLERS];
	size_t n_v1, n_real_v1;
	char *v2_mount;
	const char *v2_controllers[MAX_CONTROLLERS];
	size_t n_v2;
	const char *mode;
};

/* The n-th (0-based) of `sep`-separated fields of s[0, len), as String#split gives it; false when there are fewer. */
static bool field(const char *s, size_t len, char sep, int n, const char **out, size_t *out_len)
{
	const char *end = s + len;

	for (; n > 0; n--) {
		const char *next = memchr(s, sep, (size_t) (end - s));
		if (next == NULL)
			return false;
		s = next + 1;
	}
	const char *stop = memchr(s, sep, (size_t) (end - s));
	*out = s;
	*out_len = stop == NULL ? (size_t) (end - s) : (size_t) (stop - s);
	return true;
}

/* unescapeMountPath: \NNN octal as that character; -1 for what would not come back as the same UTF-8. */
static char *unescape_mount(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (out == NULL || !utf8_valid(s, len))
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '7' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
			if (v == 0 || v >= 0x80)
				return NULL;
			*o++ = (char) v;
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static bool known_controller(char **known, size_t n_known, const char *opt, size_t len)
{
	for (size_t i = 0; i < n_known; i++)
		if (strlen(known[i]) == len && strncmp(known[i], opt, len) == 0)
			return true;
	return false;
}

/* host-features.ts detectCgroups. */
static int cgroups(struct cgroups *cg, const char **why)
{
	static const char *const DEFAULT_V1[] = { "cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer",
						  "net_cls", "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc" };
	char *known[256], *table, *mountinfo;
	size_t n_known = 0, len;

	*cg = (struct cgroups){ 0 };
	if (slurp("/proc/cgroups", TEXT_MAX, &table, &len) == 0) {
		if (!utf8_valid(table, len))
			FALL_BACK("/proc/cgroups is not UTF-8");
		for (char *line = table, *next; line != NULL; line = next) {
			next = strchr(line, '\n');
			if (next != NULL)
				*next++ = '\0';
			if (*line == '\0' || *line == '#')
				continue;
			if (n_known == sizeof known / sizeof known[0])
				FALL_BACK("too many cgroup controllers");
			char *tab = strchr(line, '\t');
			if (tab != NULL)
				*tab = '\0';
			known[n_known++] = line;
		}
	} else {
		for (size_t i = 0; i < sizeof DEFAULT_V1 / sizeof DEFAULT_V1[0]; i++)
			known[n_known++] = (char *) DEFAULT_V1[i];
	}
	if (slurp("/proc/self/mountinfo", TEXT_MAX, &mountinfo, &len) < 0)
		mountinfo = "", len = 0;
	for (const char *next = mountinfo, *end = mountinfo + len; next != NULL;) {
		const char *line = next, *nl = memchr(line, '\n', (size_t) (end - line)), *line_end = nl == NULL ? end : nl;
		const char *sep = memmem(line, (size_t) (line_end - line), " - ", 3), *mount_point, *fstype, *opts = "";
		size_t mp_len, fs_len, opts_len = 0;

		next = nl == NULL ? NULL : nl + 1;
		if (sep == NULL || !field(line, (size_t) (sep - line), ' ', 4, &mount_point, &mp_len))
			continue;
		if (!field(sep + 3, (size_t) (line_end - sep - 3), ' ', 0, &fstype, &fs_len))
			continue;
		field(sep + 3, (size_t) (line_end - sep - 3), ' ', 2, &opts, &opts_len);
		if (fs_len == 6 && strncmp(fstype, "cgroup", 6) == 0) {
			for (const char *opt = opts, *opts_end = opts + opts_len;;) {
				const char *comma = memchr(opt, ',', (size_t) (opts_end - opt));
				size_t opt_len = comma == NULL ? (size_t) (opts_end - opt) : (size_t) (comma - opt);
				bool named = opt_len >= 5 && strncmp(opt, "name=", 5) == 0;
				if (known_controller(known, n_known, opt, opt_len) || named) {
					bool seen = false;
					for (size_t i = 0; i < cg->n_v1 && !seen; i++)
						seen = strlen(cg->v1_names[i]) == opt_len && strncmp(cg->v1_names[i], opt, opt_len) == 0;
					if (!seen) {
						char *name = strndup(opt, opt_len), *mount = unescape_mount(mount_point, mp_len);
						bool all_digits = opt_len > 0;
						for (size_t i = 0; i < opt_len; i++)
							all_digits = all_digits && digit(opt[i]);
						if (name == NULL || mount == NULL || !utf8_valid(name, opt_len) || all_digits ||
						    cg->n_v1 == MAX_CONTROLLERS)
							FALL_BACK("a cgroup mount the launcher does not take");
						cg->v1_names[cg->n_v1] = name;
						cg->v1_mounts[cg->n_v1++] = mount;
						cg->n_real_v1 += named ? 0 : 1;
					}
				}
				if (comma == NULL)
					break;
				opt = comma + 1;
			}
		} else if (fs_len == 7 && strncmp(fstype, "cgroup2", 7) == 0 && cg->v2_mount == NULL) {
			char path[PATH_MAX], *text;
			size_t text_len;
			if ((cg->v2_mount = unescape_mount(mount_point, mp_len)) == NULL || cg->v2_mount[0] != '/' ||
			    (size_t) snprintf(path, sizeof path, "%s/cgroup.controllers", cg->v2_mount) >= sizeof path)
				FALL_BACK("a cgroup2 mount the launcher does not take");
			if (slurp(path, TEXT_MAX, &text, &text_len) == 0) {
				if (!utf8_valid(text, text_len))
					FALL_BACK("cgroup.controllers is not UTF-8");
				/* trim() then split(/\s+/): ASCII white space only (else Node's). */
				for (char *tok = strtok(text, " \t\n\v\f\r"); tok != NULL; tok = strtok(NULL, " \t\n\v\f\r")) {
					if (cg->n_v2 == MAX_CONTROLLERS || !utf8_valid(tok, strlen(tok)) || (unsigned char) tok[0] >= 0x80)
						FALL_BACK("cgroup.controllers the launcher does not take");
					cg->v2_controllers[cg->n_v2++] = tok;
				}
				for (size_t i = 0; i < text_len; i++)
					if ((unsigned char) text[i] >= 0x80)
						FALL_BACK("cgroup.controllers is not ASCII");
			}
		}
	}
	cg->mode = cg->n_real_v1 > 0 && cg->v2_mount != NULL ? "hybrid" : cg->n_real_v1 > 0 ? "v1" : cg->v2_mount != NULL ? "v2" : "none";
	return 0;
}

/* host-features.ts detectUserNamespaces. */
static bool user_namespaces(void)
{
	struct stat st;
	char text[64];

	if (stat("/proc/self/ns/user", &st) < 0)
		return false;
	if (read_small_file("/proc/sys/user/max_user_namespaces", text, sizeof text) < 0)
		return true;
	/* parseInt: leading white space, a sign, digits; NaN (no digits) is not > 0. */
	const char *p = text;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\v' || *p == '\f' || *p == '\r')
		p++;
	if (*p == '-')
		return false;
	if (*p == '+')
		p++;
	for (; digit(*p); p++)
		if (*p != '0')
			return true;
	return false;
}

static bool has_pod_controller(const struct cgroups *cg)
{
	for (size_t i = 0; i < cg->n_v2; i++)
		if (strcmp(cg->v2_controllers[i], "memory") == 0 || strcmp(cg->v2_controllers[i], "cpu") == 0 ||
		    strcmp(cg->v2_controllers[i], "pids") == 0)
			return true;
	return false;
}

/* Skiff's version: package.json's "version", read as JSON.parse reads it. */
static const char *skiff_version(const char *root, const char **why)
{
	char path[PATH_MAX], *text;
	size_t len;
	struct jv pkg;

	if ((size_t) snprintf(path, sizeof path, "%s/package.json", root) >= sizeof path || slurp(path, TEXT_MAX, &text, &len) < 0 ||
	    jv_parse(text, len, &pkg) < 0) {
		*why = "package.json not read";
		return NULL;
	}
	const struct jv *v = jv_get(&pkg, "version");
	if (v == NULL || v->kind != JV_STR) {
		*why = "package.json without a version";
		return NULL;
	}
	return v->str;
}

/* Appends each string, in order, up to a NULL; -1 when out of memory. */
static int outs(struct buf *b, ...)
{
	va_list ap;
	int r = 0;

	va_start(ap, b);
	for (const char *s; r == 0 && (s = va_arg(ap, const char *)) != NULL;)
		r = out_str(b, s);
	va_end(ap);
	return r;
}

/* s as a JSON string literal (a one-shot process: never freed); NULL when out of memory. */
static const char *js(const char *s)
{
	struct buf b = { 0 };

	return out_json_string(&b, s) < 0 || buf_add(&b, "", 1) < 0 ? NULL : b.data;
}

/* A newline and `depth` levels of JSON.stringify's two-space indent. */
static const char *ind(int depth)
{
	static const char *const INDENT[] = { "\n", "\n  ", "\n    ", "\n      ", "\n        ", "\n          " };
	return INDENT[depth];
}

struct version_facts {
	const char *skiff, *node, *arch, *release, *stage1, *stage1_version, *overlayfs;
	bool present, userns;
	struct cgroups cg;
};

/* version.ts renderVersion. */
static int text_answer(struct buf *b, const struct version_facts *f)
{
	const struct cgroups *cg = &f->cg;

	if (outs(b, "skiff Version: ", f->skiff, "\nNode Version: ", f->node, "\nOS/Arch: linux/", f->arch, "\nKernel: ", f->release,
		 "\nStage1: ", f->stage1, f->present ? "" : " (missing: run npm ci or npm run build)", "\nStage1 Version: ",
		 f->stage1_version != NULL ? f->stage1_version : "unknown (no version line in it: rebuild with npm run build)",
		 "\nFeatures: ", strcmp(f->overlayfs, "missing") != 0 ? "+OVERLAYFS" : "-OVERLAYFS",
		 cg->n_real_v1 > 0 ? " +CGROUP_V1" : " -CGROUP_V1", cg->v2_mount != NULL && has_pod_controller(cg) ? " +CGROUP_V2" : " -CGROUP_V2",
		 f->userns ? " +USERNS" : " -USERNS", "\ncgroups: ", cg->mode, "; v1 [", NULL) < 0)
		return -1;
	for (size_t i = 0, shown = 0; i < cg->n_v1; i++)
		if (strncmp(cg->v1_names[i], "name=", 5) != 0 && outs(b, shown++ == 0 ? "" : ",", cg->v1_names[i], NULL) < 0)
			return -1;
	if (outs(b, cg->n_real_v1 == 0 ? "none]; v2 " : "]; v2 ", cg->v2_mount == NULL ? "none" : cg->v2_mount, NULL) < 0)
		return -1;
	if (cg->v2_mount == NULL)
		return 0;
	if (outs(b, " [", NULL) < 0)
		return -1;
	for (size_t i = 0; i < cg->n_v2; i++)
		if (outs(b, i == 0 ? "" : ",", cg->v2_controllers[i], NULL) < 0)
			return -1;
	return outs(b, cg->n_v2 == 0 ? "no controllers]" : "]", NULL);
}

/* JSON.stringify(versionInfo(), null, 2): its members in version-info.ts's and host-features.ts's order. */
static int json_answer(struct buf *b, const struct version_facts *f)
{
	const struct cgroups *cg = &f->cg;
	const char *s1v = f->stage1_version == NULL ? "null" : js(f->stage1_version);
	const char *skiff = js(f->skiff), *node = js(f->node), *arch = js(f->arch), *release = js(f->release);
	const char *stage1 = js(f->stage1), *ovl = js(f->overlayfs), *mode = js(cg->mode);

	if (s1v == NULL || skiff == NULL || node == NULL || arch == NULL || release == NULL || stage1 == NULL || ovl == NULL || mode == NULL)
		return -1;
	if (outs(b, "{", ind(1), "\"skiff\": ", skiff, ",", ind(1), "\"node\": ", node, ",", ind(1), "\"os\": \"linux\",", ind(1),
		 "\"arch\": ", arch, ",", ind(1), "\"kernel\": ", release, ",", ind(1), "\"stage1\": {", ind(2), "\"path\": ", stage1, ",",
		 ind(2), "\"present\": ", f->present ? "true" : "false", ",", ind(2), "\"version\": ", s1v, ind(1), "},", ind(1),
		 "\"features\": {", ind(2), "\"overlayfs\": ", ovl, ",", ind(2), "\"cgroup\": {", ind(3), "\"mode\": ", mode, ",", ind(3),
		 "\"v1\": ", cg->n_v1 == 0 ? "{}" : "{", NULL) < 0)
		return -1;
	for (size_t i = 0; i < cg->n_v1; i++) {
		const char *name = js(cg->v1_names[i]), *mount = js(cg->v1_mounts[i]);
		if (name == NULL || mount == NULL || outs(b, i == 0 ? "" : ",", ind(4), name, ": ", mount, NULL) < 0)
			return -1;
	}
	if ((cg->n_v1 > 0 && outs(b, ind(3), "}", NULL) < 0) || outs(b, ",", ind(3), "\"v2\": ", NULL) < 0)
		return -1;
	if (cg->v2_mount == NULL) {
		if (outs(b, "null", NULL) < 0)
			return -1;
	} else {
		const char *mount = js(cg->v2_mount);
		if (mount == NULL || outs(b, "{", ind(4), "\"mount\": ", mount, ",", ind(4), "\"controllers\": ", cg->n_v2 == 0 ? "[]" : "[", NULL) < 0)
			return -1;
		for (size_t i = 0; i < cg->n_v2; i++) {
			const char *c = js(cg->v2_controllers[i]);
			if (c == NULL || outs(b, i == 0 ? "" : ",", ind(5), c, NULL) < 0)
				return -1;
		}
		if ((cg->n_v2 > 0 && outs(b, ind(4), "]", NULL) < 0) || outs(b, ind(3), "}", NULL) < 0)
			return -1;
	}
	return outs(b, ind(2), "},", ind(2), "\"userNamespaces\": ", f->userns ? "true" : "false", ind(1), "}", ind(0), "}", NULL);
}

int answer_version(const struct query *q, const char *root, struct buf *out, const char **why)
{
	const char *env_stage1 = getenv("SKIFF_STAGE1");
	char stage1[PATH_MAX], *bytes;
	struct version_facts f = { .node = node_version(), .arch = oci_arch(), .stage1 = stage1 };
	struct utsname u;
	struct stat st;
	size_t len;

	if (f.node == NULL)
		FALL_BACK("the Node binary is not the one this launcher was built with");
	if (f.arch == NULL)
		FALL_BACK("an architecture the launcher does not name");
	if ((f.skiff = skiff_version(root, why)) == NULL)
		return -1;
	if (uname(&u) < 0 || !utf8_valid(u.release, strlen(u.release)))
		FALL_BACK("uname");
	f.release = u.release;
	/* install-paths.ts stage1Path: SKIFF_STAGE1 as given, else this installation's. */
	int n = env_stage1 != NULL ? snprintf(stage1, sizeof stage1, "%s", env_stage1)
				   : snprintf(stage1, sizeof stage1, "%s/native/build/skiff-stage1", root);
	if (n < 0 || (size_t) n >= sizeof stage1 || !utf8_valid(stage1, strlen(stage1)))
		FALL_BACK("a stage1 path the launcher does not take");
	f.present = stat(stage1, &st) == 0;
	if (f.present && S_ISREG(st.st_mode) && (size_t) st.st_size > STAGE1_READ_MAX)
		FALL_BACK("a stage1 binary larger than the launcher reads");
	if (f.present && slurp(stage1, STAGE1_READ_MAX, &bytes, &len) == 0)
		f.stage1_version = stage1_version(bytes, len);
	f.overlayfs = overlayfs(u.release);
	if (cgroups(&f.cg, why) < 0)
		return -1;
	f.userns = user_namespaces();
	return (q->json ? json_answer : text_answer)(out, &f) < 0 ? (*why = "out of memory", -1) : 0;
}
