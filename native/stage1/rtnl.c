/* A minimal rtnetlink client: see rtnl.h. */
#include "rtnl.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int rtnl_open(void)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *) &local, sizeof local) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void *tail(struct rtnl_req *r)
{
	return r->buf + NLMSG_ALIGN(r->hdr.nlmsg_len);
}

/* Grows the message by LEN (aligned) bytes, zeroed; NULL (and overflow set) when it would not fit. */
static void *grow(struct rtnl_req *r, size_t len)
{
	size_t at = NLMSG_ALIGN(r->hdr.nlmsg_len);

	if (r->overflow || at + NLMSG_ALIGN(len) > sizeof r->buf) {
		r->overflow = 1;
		return NULL;
	}
	memset(r->buf + at, 0, NLMSG_ALIGN(len));
	r->hdr.nlmsg_len = (uint32_t) (at + len);
	return r->buf + at;
}

void *rtnl_begin(struct rtnl_req *r, uint16_t type, uint16_t flags, size_t hdrlen)
{
	static uint32_t seq;

	memset(r, 0, sizeof *r);
	r->hdr.nlmsg_len = NLMSG_LENGTH(hdrlen);
	r->hdr.nlmsg_type = type;
	r->hdr.nlmsg_flags = (uint16_t) (flags | NLM_F_REQUEST | NLM_F_ACK);
	r->hdr.nlmsg_seq = ++seq;
	return NLMSG_DATA(&r->hdr);
}

void rtnl_attr(struct rtnl_req *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr *a = grow(r, RTA_LENGTH(len));

	if (a == NULL)
		return;
	a->rta_type = type;
	a->rta_len = (unsigned short) RTA_LENGTH(len);
	if (len > 0)
		memcpy(RTA_DATA(a), data, len);
}

void rtnl_attr_str(struct rtnl_req *r, uint16_t type, const char *s)
{
	rtnl_attr(r, type, s, strlen(s) + 1);
}

void rtnl_attr_u32(struct rtnl_req *r, uint16_t type, uint32_t v)
{
	rtnl_attr(r, type, &v, sizeof v);
}

void rtnl_nest_begin(struct rtnl_req *r, uint16_t type)
{
	struct rtattr *a = tail(r);

	if (r->depth == sizeof r->nest / sizeof r->nest[0]) {
		r->overflow = 1;
		return;
	}
	r->nest[r->depth++] = (size_t) ((char *) a - r->buf);
	rtnl_attr(r, type, NULL, 0);
}

void *rtnl_reserve(struct rtnl_req *r, size_t len)
{
	return grow(r, len);
}

void rtnl_nest_end(struct rtnl_req *r)
{
	struct rtattr *a;

	if (r->depth == 0 || r->overflow)
		return;
	a = (struct rtattr *) (r->buf + r->nest[--r->depth]);
	a->rta_len = (unsigned short) ((char *) tail(r) - (char *) a);
}

int rtnl_talk(int sock, struct rtnl_req *r)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char reply[8192];
	ssize_t n;

	if (r->overflow || r->depth != 0)
		return -ENOBUFS;
	if (sendto(sock, r->buf, r->hdr.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
		return -errno;
	for (;;) {
		n = recv(sock, reply, sizeof reply, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *) reply; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
			/* Only our request's answer counts; anything else on the socket is not for us. */
			if (h->nlmsg_seq != r->hdr.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			return ((struct nlmsgerr *) NLMSG_DATA(h))->error;
		}
	}
}
