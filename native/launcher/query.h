/*
 * The launcher's answers to `skiff version`, `skiff list` and `skiff status
 * UUID` (query-main.c): the shapes runtime/cli/query-fast-path.ts takes, with
 * output byte for byte as the CLI's (test/integration/launcher-queries.test.ts
 * runs both on the same stores and compares).
 *
 * Each answer is built whole in memory and written only at the end, so any
 * doubt on the way (a file of a shape the CLI would read differently, an
 * error the CLI would report, a string that is not UTF-8) leaves nothing
 * printed and the command goes to Node with the same arguments, which gives
 * its usual answer or error line. "Fall back" below means exactly that.
 */
#ifndef SKIFF_LAUNCHER_QUERY_H
#define SKIFF_LAUNCHER_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "launcher.h"

/* ---- json-read.c: a bounded, strict JSON reader ---- */

enum jv_kind { JV_NULL, JV_FALSE, JV_TRUE, JV_INT, JV_STR, JV_ARR, JV_OBJ };

/* A parsed value; an object's members carry their key (in file order). */
struct jv {
	enum jv_kind kind;
	long long num;   /* JV_INT */
	char *str;       /* JV_STR: UTF-8, no NUL inside; also a member's key */
	size_t str_len;
	char *key;       /* set on an object's members */
	struct jv *items; /* JV_ARR, JV_OBJ */
	size_t n;
};

/*
 * Parses `text` (len bytes). 0 and *out; -1 when the text is not JSON, or is
 * JSON this reader does not take, because JSON.parse + JSON.stringify could
 * give something else than jv_write (numbers other than integers of up to 15
 * digits or -0, duplicate keys, all-digit keys that V8 would reorder, \u0000,
 * lone surrogates, bytes that are not UTF-8), or is deeper or larger than its
 * bounds: the caller falls back.
 */
int jv_parse(const char *text, size_t len, struct jv *out);
void jv_free(struct jv *v);
/* An object's member by key, or NULL (also when v is not an object). */
const struct jv *jv_get(const struct jv *v, const char *key);
/* 1 when s (len bytes) is UTF-8 (no overlong form, surrogate or NUL). */
bool utf8_valid(const char *s, size_t len);
/* The length JavaScript gives a UTF-8 string (UTF-16 code units); s must be valid. */
size_t utf16_length(const char *s);

/* ---- json-write.c: output as JSON.stringify(value, null, 2) writes it ---- */

/* A JSON string literal of s, as JSON.stringify escapes it. */
int out_json_string(struct buf *b, const char *s);
/* Newline and `depth` levels of two-space indent. */
int out_indent(struct buf *b, int depth);
/* v as JSON.stringify(v, null, 2) at nesting depth `depth`. */
int jv_write(struct buf *b, const struct jv *v, int depth);
/* b's text without its NUL. */
int out_str(struct buf *b, const char *s);
int out_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Writes the answer to fd 1 as runtime/cli/output.ts does: a text answer
 * gets a final newline unless it has one; EPIPE ends it quietly. The exit status.
 */
int write_answer(const struct buf *b);

/* ---- query-args.c: the command line, as query-fast-path.ts matches it ---- */

enum query_kind { QUERY_NONE, QUERY_VERSION, QUERY_LIST, QUERY_STATUS };

struct query {
	enum query_kind kind;
	const char *dir;
	bool json;
	bool full, no_legend; /* list */
	const char *positional; /* status: the UUID or prefix */
};

/* The query this command line is, or kind QUERY_NONE (then Node answers). */
void match_query(int argc, char **argv, struct query *q);

/* ---- pod-query.c, version-query.c: the answers ---- */

/* 0 with the answer in `out`; -1 with `why` when Node must answer. */
int answer_list(const struct query *q, struct buf *out, const char **why);
int answer_status(const struct query *q, struct buf *out, const char **why);
int answer_version(const struct query *q, const char *root, struct buf *out, const char **why);

/* query-main.c: answers and exits when it can; returns (with nothing written) when Node must answer. */
void answer_query_or_return(int argc, char **argv, const char *root);

#endif
