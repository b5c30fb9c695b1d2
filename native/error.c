/* The error out-parameter (see error.h) and the cleanup helpers. */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* snprintf into a fixed field: truncation is fine for a message, so say so to the compiler. */
static void copy_field(char *dst, size_t len, const char *src)
{
	size_t n = src == NULL ? 0 : strlen(src);

	if (n >= len)
		n = len - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

int s1_fail(struct s1_error *err, int errnum, const char *step, const char *syscall, const char *path_fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	copy_field(err->step, sizeof err->step, step);
	copy_field(err->syscall, sizeof err->syscall, syscall);
	err->path[0] = '\0';
	if (path_fmt != NULL) {
		va_start(ap, path_fmt);
		vsnprintf(err->path, sizeof err->path, path_fmt, ap);
		va_end(ap);
	}
	err->errnum = errnum;
	return -1;
}

int s1_fail_msg(struct s1_error *err, const char *step, const char *msg_fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	copy_field(err->step, sizeof err->step, step);
	va_start(ap, msg_fmt);
	vsnprintf(err->syscall, sizeof err->syscall, msg_fmt, ap);
	va_end(ap);
	err->path[0] = '\0';
	err->errnum = 0;
	return -1;
}

const char *s1_errno_name(int errnum)
{
	const char *name = strerrorname_np(errnum);

	return name != NULL ? name : "EUNKNOWN";
}

void s1_error_format(const struct s1_error *err, char *buf, size_t len)
{
	const char *sep = err->path[0] != '\0' ? " " : "";

	if (err->errnum == 0)
		snprintf(buf, len, "%s: %s%s%s", err->step, err->syscall, sep, err->path);
	else
		snprintf(buf, len, "%s: %s%s%s: %s", err->step, err->syscall, sep, err->path,
			 s1_errno_name(err->errnum));
	/* One line, always: a path with a newline must not split the report. */
	for (char *c = buf; *c != '\0'; c++)
		if (*c == '\n')
			*c = ' ';
}

void s1_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

void s1_freep(void *p)
{
	free(*(void **) p);
}
