/*
 * A strict, bounded JSON reader for the pod files `list` and `status` read
 * (query.h). It takes a subset of what JSON.parse takes: for any text it
 * accepts, JSON.parse gives the same value and JSON.stringify the same text
 * as jv_write. Anything else is refused (-1), never guessed, and the launcher
 * leaves the command to Node. Pod files are written by the CLI and stage1,
 * but a pod's owner could plant any bytes there: the reader is bounded in
 * depth and size and never reads past `len`.
 */
#include "query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JV_DEPTH_MAX 32
/* Members of one object: each key is checked against the others (duplicates), so bounded. */
#define JV_MEMBERS_MAX 1024
/* 15 digits: every such integer is exact in a double, printed back the same. */
#define JV_DIGITS_MAX 15

struct reader {
	const unsigned char *p, *end;
	int depth;
};

static void skip_ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

/* The length of the UTF-8 sequence at s (at most `left` bytes), or 0 when it is not one JavaScript reads back the same. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *) s;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(u + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t utf16_length(const char *s)
{
	size_t units = 0;

	for (const unsigned char *u = (const unsigned char *) s; *u != '\0'; u++) {
		if ((*u & 0xc0) != 0x80)
			units++;
		if (*u >= 0xf0)
			units++; /* a surrogate pair */
	}
	return units;
}

static int add_utf8(struct buf *b, uint32_t cp)
{
	unsigned char o[4];
	size_t n;

	if (cp < 0x80)
		o[0] = (unsigned char) cp, n = 1;
	else if (cp < 0x800)
		o[0] = (unsigned char) (0xc0 | (cp >> 6)), o[1] = (unsigned char) (0x80 | (cp & 0x3f)), n = 2;
	else if (cp < 0x10000)
		o[0] = (unsigned char) (0xe0 | (cp >> 12)), o[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f)),
		o[2] = (unsigned char) (0x80 | (cp & 0x3f)), n = 3;
	else
		o[0] = (unsigned char) (0xf0 | (cp >> 18)), o[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f)),
		o[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f)), o[3] = (unsigned char) (0x80 | (cp & 0x3f)), n = 4;
	return buf_add(b, o, n);
}

static int hex4(struct reader *r, uint32_t *out)
{
	*out = 0;
	if (r->end - r->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned c = *r->p++;
		unsigned d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;
		if (d == 16)
			return -1;
		*out = (*out << 4) | d;
	}
	return 0;
}

/* At the opening quote; a malloc'd NUL-terminated string. */
static int read_string(struct reader *r, char **out, size_t *out_len)
{
	struct buf b = { 0 };
	const unsigned char *close = r->p + 1;

	/* Escapes only shrink, so the raw span bounds the string: one allocation of its size (buf_add's 4 kB minimum, per string, made a manifest cost ~200 kB). */
	while (close < r->end && *close != '"')
		close += *close == '\\' && close + 1 < r->end ? 2 : 1;
	b.cap = (size_t) (close - r->p) + 2;
	if ((b.data = malloc(b.cap)) == NULL)
		return -1;
	r->p++;
	for (;;) {
		if (r->p >= r->end)
			goto fail;
		unsigned c = *r->p;
		if (c == '"') {
			r->p++;
			break;
		}
		if (c < 0x20)
			goto fail;
		if (c != '\\') {
			size_t n = utf8_seq(r->p, (size_t) (r->end - r->p));
			if (n == 0 || buf_add(&b, r->p, n) < 0)
				goto fail;
			r->p += n;
			continue;
		}
		if (++r->p >= r->end)
			goto fail;
		c = *r->p++;
		const char *simple = c == '"' ? "\"" : c == '\\' ? "\\" : c == '/' ? "/" : c == 'b' ? "\b" : c == 'f' ? "\f" :
				     c == 'n' ? "\n" : c == 'r' ? "\r" : c == 't' ? "\t" : NULL;
		if (simple != NULL) {
			if (buf_add(&b, simple, 1) < 0)
				goto fail;
			continue;
		}
		uint32_t cp, low;
		if (c != 'u' || hex4(r, &cp) < 0 || cp == 0)
			goto fail;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			goto fail; /* a lone low surrogate */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
				goto fail;
			r->p += 2;
			if (hex4(r, &low) < 0 || low < 0xdc00 || low > 0xdfff)
				goto fail;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
		}
		if (add_utf8(&b, cp) < 0)
			goto fail;
	}
	if (buf_add(&b, "", 1) < 0)
		goto fail;
	*out = b.data;
	*out_len = b.len - 1;
	return 0;
fail:
	buf_free(&b);
	return -1;
}

static int read_int(struct reader *r, long long *out)
{
	bool neg = false;
	int digits = 0;
	long long v = 0;

	if (*r->p == '-')
		neg = true, r->p++;
	if (r->p >= r->end || *r->p < '0' || *r->p > '9')
		return -1;
	if (*r->p == '0' && r->p + 1 < r->end && r->p[1] >= '0' && r->p[1] <= '9')
		return -1; /* a leading zero: not JSON */
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		if (++digits > JV_DIGITS_MAX)
			return -1;
		v = v * 10 + (*r->p++ - '0');
	}
	if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
		return -1; /* a fraction or exponent: not taken */
	if (neg && v == 0)
		return -1; /* -0: JSON.stringify prints 0 */
	*out = neg ? -v : v;
	return 0;
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int read_value(struct reader *r, struct jv *out);

static int push_item(struct jv *parent, size_t *cap, struct jv *item)
{
	if (parent->n == *cap) {
		size_t next = *cap == 0 ? 4 : *cap * 2;
		struct jv *grown = realloc(parent->items, next * sizeof *grown);
		if (grown == NULL)
			return -1;
		parent->items = grown;
		*cap = next;
	}
	parent->items[parent->n++] = *item;
	return 0;
}

static int read_container(struct reader *r, struct jv *out, bool object)
{
	size_t cap = 0;
	char close = object ? '}' : ']';

	out->kind = object ? JV_OBJ : JV_ARR;
	if (++r->depth > JV_DEPTH_MAX)
		return -1;
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		r->depth--;
		return 0;
	}
	for (;;) {
		struct jv item = { 0 };
		char *key = NULL;
		size_t key_len;

		skip_ws(r);
		if (object) {
			if (r->p >= r->end || *r->p != '"' || read_string(r, &key, &key_len) < 0)
				return -1;
			bool bad = all_digits(key) || out->n >= JV_MEMBERS_MAX;
			for (size_t i = 0; i < out->n && !bad; i++)
				bad = strcmp(out->items[i].key, key) == 0;
			skip_ws(r);
			if (bad || r->p >= r->end || *r->p != ':') {
				free(key);
				return -1;
			}
			r->p++;
		}
		item.key = key;
		if (read_value(r, &item) < 0 || push_item(out, &cap, &item) < 0) {
			jv_free(&item);
			return -1;
		}
		skip_ws(r);
		if (r->p >= r->end)
			return -1;
		if (*r->p == close) {
			r->p++;
			r->depth--;
			return 0;
		}
		if (*r->p++ != ',')
			return -1;
	}
}

static bool literal(struct reader *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t) (r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

static int read_value(struct reader *r, struct jv *out)
{
	skip_ws(r);
	if (r->p >= r->end)
		return -1;
	switch (*r->p) {
	case '{':
		return read_container(r, out, true);
	case '[':
		return read_container(r, out, false);
	case '"':
		out->kind = JV_STR;
		return read_string(r, &out->str, &out->str_len);
	case 't':
		out->kind = JV_TRUE;
		return literal(r, "true") ? 0 : -1;
	case 'f':
		out->kind = JV_FALSE;
		return literal(r, "false") ? 0 : -1;
	case 'n':
		out->kind = JV_NULL;
		return literal(r, "null") ? 0 : -1;
	default:
		out->kind = JV_INT;
		return read_int(r, &out->num);
	}
}

int jv_parse(const char *text, size_t len, struct jv *out)
{
	struct reader r = { (const unsigned char *) text, (const unsigned char *) text + len, 0 };

	*out = (struct jv){ 0 };
	if (read_value(&r, out) < 0) {
		jv_free(out);
		return -1;
	}
	skip_ws(&r);
	if (r.p != r.end) {
		jv_free(out);
		return -1;
	}
	return 0;
}

void jv_free(struct jv *v)
{
	for (size_t i = 0; i < v->n; i++)
		jv_free(&v->items[i]);
	free(v->items);
	free(v->str);
	free(v->key);
	*v = (struct jv){ 0 };
}

const struct jv *jv_get(const struct jv *v, const char *key)
{
	if (v == NULL || v->kind != JV_OBJ)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->items[i].key, key) == 0)
			return &v->items[i];
	return NULL;
}
