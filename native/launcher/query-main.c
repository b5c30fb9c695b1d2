/*
 * `skiff version`, `skiff list`, `skiff status UUID` without Node (query.h):
 * Node's start-up alone is most of what these cost through the CLI
 * (bench/cli.ts), and scripts and monitoring call them in loops.
 */
#include "query.h"

#include <fcntl.h>
#include <stdlib.h>

void answer_query_or_return(int argc, char **argv, const char *root)
{
	struct query q;
	struct buf out = { 0 };
	const char *why = NULL;
	int r;

	match_query(argc, argv, &q);
	if (q.kind == QUERY_NONE)
		return;
	/* A closed stdout is an error the CLI reports its own way. */
	if (fcntl(1, F_GETFD) < 0) {
		trace("node (no stdout)");
		return;
	}
	switch (q.kind) {
	case QUERY_LIST:
		r = answer_list(&q, &out, &why);
		break;
	case QUERY_STATUS:
		r = answer_status(&q, &out, &why);
		break;
	case QUERY_VERSION:
		r = answer_version(&q, root, &out, &why);
		break;
	default:
		return;
	}
	if (r < 0) {
		trace("node (%s)", why == NULL ? "out of memory" : why);
		return;
	}
	trace("answered %s", q.kind == QUERY_LIST ? "list" : q.kind == QUERY_STATUS ? "status" : "version");
	exit(write_answer(&out));
}
