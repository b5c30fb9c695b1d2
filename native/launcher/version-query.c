#include "query.h"

int answer_version(const struct query *q, const char *root, struct buf *out, const char **why)
{
	(void) q, (void) root, (void) out;
	*why = "not yet";
	return -1;
}
