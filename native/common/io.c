/* Small file helpers shared by stage1 and the launcher (io.h). */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EAGAIN) {
			/* A non-blocking fd (a caller's stdout, say) that is full: wait until it takes more. */
			struct pollfd w = { .fd = fd, .events = POLLOUT };
			poll(&w, 1, -1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

/* Opens DIR/.NAME.tmp-PID; a stale one (a killed writer whose PID came round again) is replaced. */
static int open_temp(const char *path, char *tmp, size_t len, mode_t mode)
{
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash == NULL || (size_t) snprintf(tmp, len, "%.*s/.%s.tmp-%d", (int) (slash - path), path, slash + 1,
					       (int) getpid()) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	return fd;
}

int write_atomic(const char *path, const void *data, size_t len, mode_t mode, const char **failed)
{
	char tmp[PATH_MAX];
	const char *call = "open";
	int fd = open_temp(path, tmp, sizeof tmp, mode), saved;

	if (fd < 0)
		goto fail;
	call = "write";
	if (write_all(fd, data, len) < 0)
		goto fail_open;
	call = "fchmod";
	if (fchmod(fd, mode) < 0)
		goto fail_open;
	call = "close";
	if (close(fd) < 0) {
		fd = -1;
		goto fail_open;
	}
	call = "rename";
	if (rename(tmp, path) == 0)
		return 0;
	fd = -1;
fail_open:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
fail:
	if (failed != NULL)
		*failed = call;
	return -1;
}

int read_small_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t) n;
	}
	close(fd);
	buf[got] = '\0';
	return (int) got;
}

int mkdir_ok(const char *path, mode_t mode)
{
	return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}
