/*
 * Which command lines the launcher answers itself: exactly the shapes
 * runtime/cli/query-fast-path.ts takes (leadingGlobals in fast-path.ts, then
 * the command's own boolean flags and positional), for `version`, `list` and
 * `status`. Anything else, including shapes the query path takes but this
 * does not (`image list`), is Node's.
 */
#include "query.h"

#include <stdlib.h>
#include <string.h>

static const char *const GLOBAL_WITH_VALUE[] = { "--dir", "--local-config", "--insecure-options", "--format", NULL };

static bool in_list(const char *const *list, const char *s, size_t len)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == len && strncmp(*list, s, len) == 0)
			return true;
	return false;
}

static bool is_name(const char *token, size_t len, const char *name)
{
	return strlen(name) == len && strncmp(token, name, len) == 0;
}

static bool global_flag(const char *s, size_t len)
{
	return in_list(GLOBAL_WITH_VALUE, s, len) || is_name(s, len, "--debug");
}

static bool js_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* global-options.ts parseInsecureOptions: each comma-separated item (trimmed) one of its names. */
static bool insecure_options_valid(const char *value)
{
	static const char *const NAMES[] = { "none", "http", "tls", "image", "seccomp", "paths", "all-fetch", "all-run", "all", NULL };

	for (const char *item = value;;) {
		const char *end = strchr(item, ',');
		size_t len = end == NULL ? strlen(item) : (size_t) (end - item);

		while (len > 0 && js_space(*item))
			item++, len--;
		while (len > 0 && js_space(item[len - 1]))
			len--;
		if (!in_list(NAMES, item, len))
			return false;
		if (end == NULL)
			return true;
		item = end + 1;
	}
}

void match_query(int argc, char **argv, struct query *q)
{
	const char *format = "text", *env_dir = getenv("SKIFF_DIR");
	int i = 1, positionals = 0;

	*q = (struct query){ .kind = QUERY_NONE, .dir = env_dir != NULL ? env_dir : "/var/lib/skiff" };
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *token = argv[i], *eq = strchr(token, '='), *value;
		size_t name_len = eq == NULL ? strlen(token) : (size_t) (eq - token);

		if (!global_flag(token, name_len))
			return;
		if (is_name(token, name_len, "--debug")) {
			if (eq != NULL)
				return;
			continue;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return;
		if (is_name(token, name_len, "--dir"))
			q->dir = value;
		else if (is_name(token, name_len, "--format"))
			format = value;
		else if (is_name(token, name_len, "--insecure-options") && !insecure_options_valid(value))
			return;
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
		return;
	q->json = strcmp(format, "json") == 0;
	if (i >= argc)
		return;
	const char *command = argv[i++];
	enum query_kind kind = strcmp(command, "version") == 0 ? QUERY_VERSION :
			       strcmp(command, "list") == 0    ? QUERY_LIST :
			       strcmp(command, "status") == 0  ? QUERY_STATUS :
								 QUERY_NONE;
	if (kind == QUERY_NONE)
		return;
	/* fast-path.ts namesGlobalOrHelp: a global flag or help before any `--` is the full parser's. */
	for (int a = i; a < argc && strcmp(argv[a], "--") != 0; a++) {
		const char *eq = strchr(argv[a], '=');
		if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0 ||
		    global_flag(argv[a], eq == NULL ? strlen(argv[a]) : (size_t) (eq - argv[a])))
			return;
	}
	for (; i < argc; i++) {
		if (argv[i][0] != '-') {
			positionals++;
			q->positional = argv[i];
		} else if (kind == QUERY_LIST && strcmp(argv[i], "--full") == 0) {
			q->full = true;
		} else if (kind == QUERY_LIST && strcmp(argv[i], "--no-legend") == 0) {
			q->no_legend = true;
		} else {
			return;
		}
	}
	if (positionals != (kind == QUERY_STATUS ? 1 : 0))
		return;
	q->kind = kind;
}
