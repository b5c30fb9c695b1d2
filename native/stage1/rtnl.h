/*
 * A minimal rtnetlink client for stage1's pod network attach (net-attach.c):
 * build one request, send it, read its ACK. No dumps, no multipart replies:
 * stage1 only creates and changes links, addresses and routes.
 *
 * A socket keeps the netns it was opened in, whatever netns the process moves
 * to later: that is how stage1 acts on the host's and the pod's network with
 * one socket each, without setns back and forth.
 */
#ifndef SKIFF_STAGE1_RTNL_H
#define SKIFF_STAGE1_RTNL_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>

#define RTNL_REQ_MAX 1024

struct rtnl_req {
	union {
		struct nlmsghdr hdr;
		char buf[RTNL_REQ_MAX];
	};
	/* Offsets of open nested attributes (rtnl_nest_begin/end). */
	size_t nest[4];
	size_t depth;
	int overflow;
};

/* A NETLINK_ROUTE socket in the current netns; -1 with errno. */
int rtnl_open(void);
/* Starts TYPE with FLAGS (NLM_F_REQUEST | NLM_F_ACK added) and a zeroed fixed header of HDRLEN bytes; returns it. */
void *rtnl_begin(struct rtnl_req *r, uint16_t type, uint16_t flags, size_t hdrlen);
void rtnl_attr(struct rtnl_req *r, uint16_t type, const void *data, size_t len);
void rtnl_attr_str(struct rtnl_req *r, uint16_t type, const char *s);
void rtnl_attr_u32(struct rtnl_req *r, uint16_t type, uint32_t v);
void rtnl_nest_begin(struct rtnl_req *r, uint16_t type);
/* Raw bytes inside the current nest (a veth peer's struct ifinfomsg). */
void *rtnl_reserve(struct rtnl_req *r, size_t len);
void rtnl_nest_end(struct rtnl_req *r);
/* Sends the request and waits for its ACK: 0, or the negative errno the kernel answered (-ENOBUFS: request too big). */
int rtnl_talk(int sock, struct rtnl_req *r);

#endif
