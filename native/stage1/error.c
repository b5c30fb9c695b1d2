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

#ifndef __GLIBC__
/*
 * musl has no strerrorname_np(). The names glibc gives, one per number:
 * aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) left out, as glibc names the
 * first. Errors and tests say "ENOENT", never a locale's text.
 */
#define N(e) [e] = #e
static const char *const errno_names[] = {
	N(EPERM), N(ENOENT), N(ESRCH), N(EINTR), N(EIO), N(ENXIO), N(E2BIG), N(ENOEXEC), N(EBADF), N(ECHILD),
	N(EAGAIN), N(ENOMEM), N(EACCES), N(EFAULT), N(ENOTBLK), N(EBUSY), N(EEXIST), N(EXDEV), N(ENODEV), N(ENOTDIR),
	N(EISDIR), N(EINVAL), N(ENFILE), N(EMFILE), N(ENOTTY), N(ETXTBSY), N(EFBIG), N(ENOSPC), N(ESPIPE), N(EROFS),
	N(EMLINK), N(EPIPE), N(EDOM), N(ERANGE), N(EDEADLK), N(ENAMETOOLONG), N(ENOLCK), N(ENOSYS), N(ENOTEMPTY),
	N(ELOOP), N(ENOMSG), N(EIDRM), N(ECHRNG), N(EL2NSYNC), N(EL3HLT), N(EL3RST), N(ELNRNG), N(EUNATCH), N(ENOCSI),
	N(EL2HLT), N(EBADE), N(EBADR), N(EXFULL), N(ENOANO), N(EBADRQC), N(EBADSLT), N(EBFONT), N(ENOSTR), N(ENODATA),
	N(ETIME), N(ENOSR), N(ENONET), N(ENOPKG), N(EREMOTE), N(ENOLINK), N(EADV), N(ESRMNT), N(ECOMM), N(EPROTO),
	N(EMULTIHOP), N(EDOTDOT), N(EBADMSG), N(EOVERFLOW), N(ENOTUNIQ), N(EBADFD), N(EREMCHG), N(ELIBACC),
	N(ELIBBAD), N(ELIBSCN), N(ELIBMAX), N(ELIBEXEC), N(EILSEQ), N(ERESTART), N(ESTRPIPE), N(EUSERS), N(ENOTSOCK),
	N(EDESTADDRREQ), N(EMSGSIZE), N(EPROTOTYPE), N(ENOPROTOOPT), N(EPROTONOSUPPORT), N(ESOCKTNOSUPPORT),
	N(EOPNOTSUPP), N(EPFNOSUPPORT), N(EAFNOSUPPORT), N(EADDRINUSE), N(EADDRNOTAVAIL), N(ENETDOWN), N(ENETUNREACH),
	N(ENETRESET), N(ECONNABORTED), N(ECONNRESET), N(ENOBUFS), N(EISCONN), N(ENOTCONN), N(ESHUTDOWN),
	N(ETOOMANYREFS), N(ETIMEDOUT), N(ECONNREFUSED), N(EHOSTDOWN), N(EHOSTUNREACH), N(EALREADY), N(EINPROGRESS),
	N(ESTALE), N(EUCLEAN), N(ENOTNAM), N(ENAVAIL), N(EISNAM), N(EREMOTEIO), N(EDQUOT), N(ENOMEDIUM),
	N(EMEDIUMTYPE), N(ECANCELED), N(ENOKEY), N(EKEYEXPIRED), N(EKEYREVOKED), N(EKEYREJECTED), N(EOWNERDEAD),
	N(ENOTRECOVERABLE), N(ERFKILL), N(EHWPOISON),
};
#undef N

static const char *strerrorname_np(int errnum)
{
	if (errnum < 0 || (size_t) errnum >= sizeof errno_names / sizeof errno_names[0])
		return NULL;
	return errno_names[errnum];
}
#endif

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
