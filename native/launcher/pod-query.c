/*
 * `skiff list` and `skiff status UUID` answered by the launcher: the same
 * pods in the same order (pod-uuid.ts listPodLocations: each state dir in
 * POD_STATES order, names sorted as libuv's scandir sorts them), the same
 * UUID resolution, and the same text and JSON as
 * runtime/cli/commands/pod-queries.ts prints. Errors (no such pod, an
 * ambiguous prefix, a bad UUID) are the CLI's to report: they fall back.
 */
#include "pod-read.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FALL_BACK(reason)        \
	do {                     \
		*why = (reason); \
		return -1;       \
	} while (0)

struct location {
	const char *state_dir;
	char *uuid;
};

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Node joins the store's path (path.join): a path it would read elsewhere than the kernel does is the CLI's. */
static bool plain_store(const char *dir)
{
	if (*dir == '\0')
		return false;
	for (const char *p = dir; (p = strstr(p, "..")) != NULL; p += 2)
		if ((p == dir || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return false;
	return true;
}

static int list_locations(const char *store, struct location **out, size_t *n, const char **why)
{
	*out = NULL;
	*n = 0;
	if (!plain_store(store))
		FALL_BACK("a store path with .. or none");
	for (int s = 0; POD_STATE_DIRS[s] != NULL; s++) {
		char path[PATH_MAX];
		struct dirent **names;
		int count;

		if ((size_t) snprintf(path, sizeof path, "%s/pods/%s", store, POD_STATE_DIRS[s]) >= sizeof path)
			FALL_BACK("a store path too long");
		if ((count = scandir(path, &names, not_dots, by_name)) < 0)
			continue; /* as readdirSync's failure: no pods in that state */
		struct location *grown = realloc(*out, (*n + (size_t) count + 1) * sizeof *grown);
		if (grown == NULL)
			FALL_BACK("out of memory");
		*out = grown;
		for (int i = 0; i < count; i++) {
			if (!utf8_valid(names[i]->d_name, strlen(names[i]->d_name)))
				FALL_BACK("a pod dir name that is not UTF-8");
			grown[(*n)++] = (struct location){ POD_STATE_DIRS[s], names[i]->d_name };
		}
	}
	return 0;
}

static bool starts_with_ignoring_dashes(const char *s, const char *prefix)
{
	for (;;) {
		while (*s == '-')
			s++;
		while (*prefix == '-')
			prefix++;
		if (*prefix == '\0')
			return true;
		if (*s != *prefix)
			return false;
		s++, prefix++;
	}
}

/* pod-uuid.ts resolvePodUuid, when it finds exactly one pod; every error it throws falls back. */
static int resolve(const char *store, const char *query, struct location *found, const char **why)
{
	char q[37];
	size_t len = strlen(query), matched = 0;
	struct location *all;
	size_t n;

	if (len == 0 || len > 36)
		FALL_BACK("not a UUID or prefix");
	for (size_t i = 0; i <= len; i++) {
		char c = query[i];
		if (c != '\0' && !(c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			FALL_BACK("not a UUID or prefix");
		q[i] = c >= 'A' && c <= 'F' ? (char) (c - 'A' + 'a') : c;
	}
	if (list_locations(store, &all, &n, why) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(all[i].uuid, q, len) != 0 && !starts_with_ignoring_dashes(all[i].uuid, q))
			continue;
		if (matched > 0)
			FALL_BACK("no single pod by that prefix"); /* ambiguous, or one UUID in two state dirs */
		*found = all[i];
		matched++;
	}
	if (matched == 0)
		FALL_BACK("no pod by that UUID");
	return 0;
}

/* renderTable (output.ts): aligned columns, the last unpadded; widths in UTF-16 code units, as String#length. */
static int render_table(struct buf *out, const char *const *cells, size_t n_rows, size_t n_cols, bool legend)
{
	size_t widths[16] = { 0 };

	for (size_t r = 0; r < n_rows; r++)
		for (size_t c = 0; c < n_cols; c++) {
			size_t w = utf16_length(cells[r * n_cols + c]);
			if (w > widths[c])
				widths[c] = w;
		}
	for (size_t r = legend ? 0 : 1, first = r; r < n_rows; r++) {
		if (r > first && out_str(out, "\n") < 0)
			return -1;
		for (size_t c = 0; c < n_cols; c++) {
			const char *cell = cells[r * n_cols + c];
			if ((c > 0 && out_str(out, "  ") < 0) || out_str(out, cell) < 0)
				return -1;
			for (size_t pad = utf16_length(cell); c + 1 < n_cols && pad < widths[c]; pad++)
				if (out_str(out, " ") < 0)
					return -1;
		}
	}
	return 0;
}

/* pod-queries.ts networksText: `default:ip4=198.18.0.2`, or the name alone. */
static char *networks_text(const struct pod_info *p)
{
	struct buf b = { 0 };

	for (size_t i = 0; i < p->n_nets; i++) {
		const struct net_status *n = &p->nets[i];
		if ((i > 0 && out_str(&b, ",") < 0) || out_str(&b, n->name) < 0 ||
		    (n->ip != NULL && (out_str(&b, ":ip4=") < 0 || out_str(&b, n->ip) < 0)))
			return NULL;
	}
	return buf_add(&b, "", 1) < 0 ? NULL : b.data;
}

/* The members of one JSON object, as JSON.stringify(x, null, 2) lays them out. */
struct object_out {
	struct buf *b;
	int depth, members;
};

static int member(struct object_out *o, const char *key)
{
	if ((o->members++ == 0 ? out_str(o->b, "{") : out_str(o->b, ",")) < 0 || out_indent(o->b, o->depth + 1) < 0 ||
	    out_json_string(o->b, key) < 0)
		return -1;
	return out_str(o->b, ": ");
}

static int member_string(struct object_out *o, const char *key, const char *value)
{
	return value == NULL ? 0 : member(o, key) < 0 ? -1 : out_json_string(o->b, value);
}

static int end_object(struct object_out *o)
{
	if (o->members == 0)
		return out_str(o->b, "{}");
	return out_indent(o->b, o->depth) < 0 ? -1 : out_str(o->b, "}");
}

/* A list of n items written by `item`, at `depth`. */
static int write_list(struct buf *b, int depth, size_t n, int (*item)(struct buf *, int, const void *, size_t), const void *ctx)
{
	if (n == 0)
		return out_str(b, "[]");
	if (out_str(b, "[") < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((i > 0 && out_str(b, ",") < 0) || out_indent(b, depth + 1) < 0 || item(b, depth + 1, ctx, i) < 0)
			return -1;
	return out_indent(b, depth) < 0 ? -1 : out_str(b, "]");
}

static int app_json(struct buf *b, int depth, const void *ctx, size_t i)
{
	const struct app_info *a = &((const struct pod_info *) ctx)->apps[i];
	struct object_out o = { b, depth, 0 };

	if (member_string(&o, "name", a->name) < 0 || member_string(&o, "image", a->image) < 0 ||
	    member_string(&o, "imageId", a->image_id) < 0 || member_string(&o, "started", a->started) < 0)
		return -1;
	if (a->exit != NULL && (member(&o, "exit") < 0 || jv_write(b, a->exit, depth + 1) < 0))
		return -1;
	return end_object(&o);
}

static int net_json(struct buf *b, int depth, const void *ctx, size_t i)
{
	const struct net_status *n = &((const struct pod_info *) ctx)->nets[i];
	struct object_out o = { b, depth, 0 };

	if (member_string(&o, "name", n->name) < 0 || member_string(&o, "ifName", n->if_name) < 0 ||
	    member_string(&o, "ip", n->ip) < 0 || member_string(&o, "mac", n->mac) < 0 ||
	    member_string(&o, "gateway", n->gateway) < 0)
		return -1;
	return end_object(&o);
}

/* A PodInfo as JSON.stringify writes it: members in pod-info.ts's order, the undefined ones left out. */
static int pod_json(struct buf *b, int depth, const void *ctx, size_t i)
{
	const struct pod_info *p = &((const struct pod_info *) ctx)[i];
	struct object_out o = { b, depth, 0 };
	static const struct jv no_ports = { .kind = JV_ARR };

	if (member_string(&o, "uuid", p->uuid) < 0 || member_string(&o, "state", p->state) < 0 ||
	    member_string(&o, "created", p->created) < 0 || member_string(&o, "started", p->started) < 0)
		return -1;
	if (p->has_pid && (member(&o, "pid") < 0 || out_printf(b, "%lld", p->pid) < 0))
		return -1;
	if (member(&o, "apps") < 0 || write_list(b, depth + 1, p->n_apps, app_json, p) < 0)
		return -1;
	if (member(&o, "networks") < 0 || write_list(b, depth + 1, p->n_nets, net_json, p) < 0)
		return -1;
	if (member(&o, "ports") < 0 || jv_write(b, p->ports == NULL ? &no_ports : p->ports, depth + 1) < 0)
		return -1;
	if (p->exit != EXIT_UNDEFINED && (member(&o, "exitCode") < 0 ||
					  (p->exit == EXIT_NULL ? out_str(b, "null") : out_printf(b, "%lld", p->exit_code)) < 0))
		return -1;
	if (member_string(&o, "reason", p->reason) < 0 || member_string(&o, "error", p->error) < 0)
		return -1;
	return end_object(&o);
}

int answer_list(const struct query *q, struct buf *out, const char **why)
{
	struct location *locs;
	struct pod_info *pods;
	size_t n, rows = 1, max_rows = 1;

	if (list_locations(q->dir, &locs, &n, why) < 0)
		return -1;
	pods = calloc(n + 1, sizeof *pods);
	if (pods == NULL)
		FALL_BACK("out of memory");
	for (size_t i = 0; i < n; i++) {
		if (pod_info(q->dir, locs[i].state_dir, locs[i].uuid, &pods[i], why) < 0)
			return -1;
		max_rows += pods[i].n_apps == 0 ? 1 : pods[i].n_apps;
	}
	if (q->json)
		return write_list(out, 0, n, pod_json, pods);
	enum { COLS = 7 };
	const char **cells = calloc(max_rows * COLS, sizeof *cells);
	static const char *const LEGEND[COLS] = { "UUID", "APP", "IMAGE NAME", "STATE", "CREATED", "STARTED", "NETWORKS" };
	if (cells == NULL)
		FALL_BACK("out of memory");
	memcpy(cells, LEGEND, sizeof LEGEND);
	for (size_t i = 0; i < n; i++) {
		const struct pod_info *p = &pods[i];
		for (size_t a = 0; a < (p->n_apps == 0 ? 1 : p->n_apps); a++, rows++) {
			const char **row = &cells[rows * COLS];
			row[1] = p->n_apps == 0 ? "-" : p->apps[a].name;
			row[2] = p->n_apps == 0 ? "-" : p->apps[a].image;
			for (int c = 0; c < COLS; c++)
				if (a > 0 && c != 1 && c != 2)
					row[c] = "";
			if (a > 0)
				continue;
			char *state = malloc(strlen(p->state) + sizeof " (status unknown)"), *nets = networks_text(p);
			if (state == NULL || nets == NULL)
				FALL_BACK("out of memory");
			sprintf(state, "%s%s", p->state, p->exit == EXIT_NULL ? " (status unknown)" : "");
			row[0] = q->full ? p->uuid : strndup(p->uuid, 8);
			row[3] = state;
			row[4] = p->created == NULL ? "" : p->created;
			row[5] = p->started == NULL ? "" : p->started;
			row[6] = nets;
			if (row[0] == NULL)
				FALL_BACK("out of memory");
		}
	}
	/* The UUID column: 8 characters as JavaScript's slice(0, 8) counts them, here only for ASCII names. */
	for (size_t i = 0; i < n && !q->full; i++)
		if (!utf8_valid(pods[i].uuid, strlen(pods[i].uuid)) || utf16_length(pods[i].uuid) != strlen(pods[i].uuid))
			FALL_BACK("a pod dir name that is not ASCII");
	return render_table(out, cells, rows, COLS, !q->no_legend);
}

/* network/port-forward.ts describePort. */
static int describe_port(struct buf *b, const struct jv *port)
{
	const struct jv *host_ip = jv_get(port, "hostIp");

	return out_str(b, host_ip != NULL && host_ip->kind == JV_STR ? host_ip->str : "0.0.0.0") < 0 ||
			       out_printf(b, ":%lld->%lld/", jv_get(port, "hostPort")->num, jv_get(port, "podPort")->num) < 0 ||
			       out_str(b, jv_get(port, "protocol")->str) < 0
		       ? -1
		       : 0;
}

/* pod-queries.ts renderStatus. */
static int render_status(struct buf *b, const struct pod_info *p)
{
	char *nets = networks_text(p);
	bool exited = strcmp(p->state, "exited") == 0 || strncmp(p->state, "exited ", 7) == 0;

	if (nets == NULL || out_str(b, "state=") < 0 || out_str(b, p->state) < 0 || out_str(b, "\ncreated=") < 0 ||
	    out_str(b, p->created == NULL ? "" : p->created) < 0 || out_str(b, "\nstarted=") < 0 ||
	    out_str(b, p->started == NULL ? "" : p->started) < 0 || out_str(b, "\nnetworks=") < 0 || out_str(b, nets) < 0)
		return -1;
	for (size_t i = 0; p->ports != NULL && i < p->ports->n; i++)
		if (out_str(b, i == 0 ? "\nports=" : ",") < 0 || describe_port(b, &p->ports->items[i]) < 0)
			return -1;
	if (p->has_pid && out_printf(b, "\npid=%lld", p->pid) < 0)
		return -1;
	if (out_str(b, exited ? "\nexited=true" : "\nexited=false") < 0)
		return -1;
	for (size_t i = 0; i < p->n_apps; i++)
		if (p->apps[i].exit != NULL && (out_str(b, "\napp-") < 0 || out_str(b, p->apps[i].name) < 0 ||
						out_printf(b, "=%lld", jv_get(p->apps[i].exit, "code")->num) < 0))
			return -1;
	if (p->exit == EXIT_NULL && out_str(b, "\nexit-code=unknown") < 0)
		return -1;
	if (p->exit == EXIT_CODE && out_printf(b, "\nexit-code=%lld", p->exit_code) < 0)
		return -1;
	if (p->reason != NULL && (out_str(b, "\nreason=") < 0 || out_str(b, p->reason) < 0))
		return -1;
	if (p->error != NULL && (out_str(b, "\nerror=") < 0 || out_str(b, p->error) < 0))
		return -1;
	return 0;
}

int answer_status(const struct query *q, struct buf *out, const char **why)
{
	struct location first, again;
	struct pod_info pod;

	/* As pod-queries.ts status(): the query resolved, then the UUID it names resolved again. */
	if (resolve(q->dir, q->positional, &first, why) < 0 || resolve(q->dir, first.uuid, &again, why) < 0 ||
	    pod_info(q->dir, again.state_dir, again.uuid, &pod, why) < 0)
		return -1;
	if (q->json)
		return pod_json(out, 0, &pod, 0) < 0 ? (*why = "out of memory", -1) : 0;
	return render_status(out, &pod) < 0 ? (*why = "out of memory", -1) : 0;
}
