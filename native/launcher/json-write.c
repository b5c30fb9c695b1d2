/*
 * The launcher's answers as the CLI prints them (runtime/cli/output.ts):
 * JSON as JSON.stringify(value, null, 2) lays it out and escapes strings
 * (", \, and control bytes; nothing else), written in full at the end.
 */
#include "query.h"
#include "../common/io.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int out_str(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int out_printf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= sizeof small)
		return -1; /* only ever used for numbers and short literals */
	return buf_add(b, small, (size_t) n);
}

int out_json_string(struct buf *b, const char *s)
{
	if (buf_add(b, "\"", 1) < 0)
		return -1;
	for (const unsigned char *p = (const unsigned char *) s; *p != '\0'; p++) {
		const char *esc = *p == '"' ? "\\\"" : *p == '\\' ? "\\\\" : *p == '\b' ? "\\b" : *p == '\f' ? "\\f" :
				  *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
		if (esc != NULL) {
			if (out_str(b, esc) < 0)
				return -1;
		} else if (*p < 0x20) {
			if (out_printf(b, "\\u%04x", *p) < 0)
				return -1;
		} else if (buf_add(b, p, 1) < 0) {
			return -1;
		}
	}
	return buf_add(b, "\"", 1);
}

int out_indent(struct buf *b, int depth)
{
	if (buf_add(b, "\n", 1) < 0)
		return -1;
	for (int i = 0; i < depth; i++)
		if (buf_add(b, "  ", 2) < 0)
			return -1;
	return 0;
}

int jv_write(struct buf *b, const struct jv *v, int depth)
{
	switch (v->kind) {
	case JV_NULL:
		return out_str(b, "null");
	case JV_FALSE:
		return out_str(b, "false");
	case JV_TRUE:
		return out_str(b, "true");
	case JV_INT:
		return out_printf(b, "%lld", v->num);
	case JV_STR:
		return out_json_string(b, v->str);
	case JV_ARR:
	case JV_OBJ:
		break;
	}
	bool object = v->kind == JV_OBJ;
	if (v->n == 0)
		return out_str(b, object ? "{}" : "[]");
	if (out_str(b, object ? "{" : "[") < 0)
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		if ((i > 0 && out_str(b, ",") < 0) || out_indent(b, depth + 1) < 0)
			return -1;
		if (object && (out_json_string(b, v->items[i].key) < 0 || out_str(b, ": ") < 0))
			return -1;
		if (jv_write(b, &v->items[i], depth + 1) < 0)
			return -1;
	}
	if (out_indent(b, depth) < 0)
		return -1;
	return out_str(b, object ? "}" : "]");
}

int write_answer(const struct buf *b)
{
	bool newline = b->len == 0 || b->data[b->len - 1] != '\n';

	/* Node ignores SIGPIPE and ends quietly on EPIPE (output.ts writeStdout): so does this. */
	signal(SIGPIPE, SIG_IGN);
	if ((b->len == 0 || write_all(1, b->data, b->len) == 0) && (!newline || write_all(1, "\n", 1) == 0))
		return 0;
	if (errno == EPIPE)
		return 0;
	fprintf(stderr, "skiff: write to stdout: %s\n", strerror(errno));
	return LAUNCH_EXIT_FAILURE;
}
