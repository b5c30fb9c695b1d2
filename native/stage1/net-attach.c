/*
 * The pod's network: its netns, made by the supervisor before PID 1 is
 * forked, and one veth per `net` key from the host's bridge into it. rkt's
 * stage1 did its networking too; doing it here means a replayed run (the
 * launcher execs this same stage1 with the same config) is wired exactly as
 * a run through the CLI, and nothing per pod needs Node.
 *
 * Order, and why:
 *   1. In the host's netns: a netlink socket and an fd of the netns itself,
 *      and each bridge's ifindex (stage0 made the bridges; a missing one is
 *      an error that says so).
 *   2. unshare(CLONE_NEWNET): the supervisor, and PID 1 after it, are in the
 *      pod's netns; loopback up. A second netlink socket, here.
 *   3. Per network: an address from the network's IPAM dir (one file per
 *      address, made by link(2) so it appears whole or not at all, and never
 *      twice: the CLI path and replayed runs share the dir); then the veth,
 *      created in the pod's netns with its peer created directly in the
 *      host's (IFLA_NET_NS_FD: ~1 ms, where moving a made link costs an RCU
 *      sync, ~17 ms); the host end enslaved to the bridge and up, through
 *      the host's socket; the pod end's address, up, and its default route.
 *   4. POD_DIR/net-info.json: what `skiff status` shows, and what `gc`
 *      releases after a kill -9.
 * A failure leaves the address file to net_release() (teardown); the veths
 * go with the netns when the supervisor exits. Host end names come from the
 * pod's UUID ("sk" + its last 12 hex digits + the network's index), never reused at
 * once: a dead netns's links disappear asynchronously.
 */
#include "stage1.h"
#include "rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define STEP "network"

static int fail_nl(struct s1_error *err, int negerr, const char *what, const struct pod_net *n)
{
	return s1_fail(err, -negerr, STEP, "netlink", "%s (network %s)", what, n->name);
}

/*
 * "sk" + the UUID's last 12 hex digits (its node field: random in a v4 UUID)
 * + the network's index: 15 bytes, IFNAMSIZ's limit. `skiff status` shows it.
 */
static void host_if_name(const char *uuid, size_t index, char out[IFNAMSIZ])
{
	size_t len = strlen(uuid);

	snprintf(out, IFNAMSIZ, "sk%s%zu", len >= 12 ? uuid + len - 12 : uuid, index % 10);
}

static uint32_t host_order(struct in_addr a)
{
	return ntohl(a.s_addr);
}

/*
 * Takes the first free address of the range (or the one asked for): a file
 * named after it, holding our UUID, linked into place from a temp file so
 * that it exists only whole, and never for two pods (link fails with EEXIST).
 */
static int ipam_allocate(const struct config *cfg, struct pod_net *n, struct s1_error *err)
{
	char tmp[PATH_MAX];
	uint32_t first = host_order(n->range_start), last = host_order(n->range_end);
	uint32_t net = host_order(n->subnet), mask = n->prefix == 0 ? 0 : ~UINT32_C(0) << (32 - n->prefix);
	int r = -1;

	if (claim_file_write(n->ipam_dir, cfg->uuid, STEP, tmp, sizeof tmp, err) < 0)
		return -1;
	if (n->has_requested)
		first = last = host_order(n->requested);
	for (uint32_t a = first; a >= first && a <= last; a++) {
		struct in_addr addr = { .s_addr = htonl(a) };
		char text[INET_ADDRSTRLEN];

		/* Never the network's own address, its broadcast or the gateway. */
		if ((a & mask) != net || a == net || a == (net | ~mask) || a == host_order(n->gateway))
			continue;
		inet_ntop(AF_INET, &addr, text, sizeof text);
		snprintf(n->ipam_file, sizeof n->ipam_file, "%s/%s", n->ipam_dir, text);
		if (link(tmp, n->ipam_file) == 0) {
			n->addr = addr;
			r = 0;
			break;
		}
		n->ipam_file[0] = '\0';
		if (errno != EEXIST) {
			s1_fail(err, errno, STEP, "link", "%s/%s", n->ipam_dir, text);
			break;
		}
	}
	unlink(tmp);
	if (r < 0 && err->step[0] == '\0') {
		if (n->has_requested)
			s1_fail_msg(err, STEP, "network %s: address %s is already in use", n->name, inet_ntoa(n->requested));
		else
			s1_fail_msg(err, STEP, "network %s: no free address left in %s (IPAM dir %s)", n->name, n->raw_range, n->ipam_dir);
	}
	return r;
}

/* The veth: ifname in this (the pod's) netns, its peer created straight in the host's. */
static int veth_create(int pod_sock, int host_ns, const struct pod_net *n, struct s1_error *err)
{
	struct rtnl_req r;
	struct ifinfomsg *peer;
	int e;

	rtnl_begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
	rtnl_attr_str(&r, IFLA_IFNAME, n->ifname);
	rtnl_attr_u32(&r, IFLA_MTU, n->mtu);
	rtnl_nest_begin(&r, IFLA_LINKINFO);
	rtnl_attr_str(&r, IFLA_INFO_KIND, "veth");
	rtnl_nest_begin(&r, IFLA_INFO_DATA);
	rtnl_nest_begin(&r, VETH_INFO_PEER);
	peer = rtnl_reserve(&r, sizeof *peer);
	if (peer != NULL)
		peer->ifi_family = AF_UNSPEC;
	rtnl_attr_str(&r, IFLA_IFNAME, n->host_if);
	rtnl_attr_u32(&r, IFLA_NET_NS_FD, (uint32_t) host_ns);
	rtnl_attr_u32(&r, IFLA_MTU, n->mtu);
	rtnl_nest_end(&r);
	rtnl_nest_end(&r);
	rtnl_nest_end(&r);
	e = rtnl_talk(pod_sock, &r);
	return e < 0 ? fail_nl(err, e, "create veth", n) : 0;
}

/* Sets a link up, by index or (index 0) by name, and enslaves it to MASTER when > 0. */
static int link_up(int sock, int index, const char *name, int master, const struct pod_net *n, struct s1_error *err)
{
	struct rtnl_req r;
	struct ifinfomsg *ifi = rtnl_begin(&r, RTM_NEWLINK, 0, sizeof *ifi);
	int e;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (index == 0)
		rtnl_attr_str(&r, IFLA_IFNAME, name);
	if (master > 0)
		rtnl_attr_u32(&r, IFLA_MASTER, (uint32_t) master);
	e = rtnl_talk(sock, &r);
	return e < 0 ? fail_nl(err, e, master > 0 ? "attach the host end to its bridge" : "set the link up", n) : 0;
}

static int address_add(int sock, int index, const struct pod_net *n, struct s1_error *err)
{
	struct rtnl_req r;
	struct ifaddrmsg *ifa = rtnl_begin(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
	uint32_t mask = n->prefix == 0 ? 0 : ~UINT32_C(0) << (32 - n->prefix);
	struct in_addr bcast = { .s_addr = htonl(host_order(n->addr) | ~mask) };
	int e;

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char) n->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int) index;
	rtnl_attr(&r, IFA_LOCAL, &n->addr, sizeof n->addr);
	rtnl_attr(&r, IFA_ADDRESS, &n->addr, sizeof n->addr);
	rtnl_attr(&r, IFA_BROADCAST, &bcast, sizeof bcast);
	e = rtnl_talk(sock, &r);
	return e < 0 ? fail_nl(err, e, "add the pod's address", n) : 0;
}

static int default_route_add(int sock, int index, const struct pod_net *n, struct s1_error *err)
{
	struct rtnl_req r;
	struct rtmsg *rt = rtnl_begin(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rt);
	int e;

	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	rtnl_attr(&r, RTA_GATEWAY, &n->gateway, sizeof n->gateway);
	rtnl_attr_u32(&r, RTA_OIF, (uint32_t) index);
	e = rtnl_talk(sock, &r);
	return e < 0 ? fail_nl(err, e, "add the default route", n) : 0;
}

static void mac_of(const char *ifname, char out[18])
{
	struct ifreq ifr = { 0 };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	const unsigned char *m = (const unsigned char *) ifr.ifr_hwaddr.sa_data;

	out[0] = '\0';
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	if (sock >= 0 && ioctl(sock, SIOCGIFHWADDR, &ifr) == 0)
		snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
	if (sock >= 0)
		close(sock);
}

/* POD_DIR/net-info.json: one object per network (read by `skiff status`, `list` and `gc`). */
static int net_info_write(const struct config *cfg, struct s1_error *err)
{
	char path[PATH_MAX], *json = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&json, &len);
	int r;

	if (f == NULL)
		return s1_fail(err, errno, STEP, "open_memstream", NULL);
	fputc('[', f);
	for (size_t i = 0; i < cfg->n_nets; i++) {
		const struct pod_net *n = &cfg->nets[i];
		char addr[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &n->addr, addr, sizeof addr);
		inet_ntop(AF_INET, &n->gateway, gw, sizeof gw);
		/* Names and paths were checked in config_check: no quote, backslash or control byte. */
		fprintf(f, "%s{\"name\":\"%s\",\"ifName\":\"%s\",\"ip\":\"%s\",\"prefixLength\":%d,\"gateway\":\"%s\","
			   "\"mac\":\"%s\",\"hostIfName\":\"%s\",\"bridge\":\"%s\",\"ipamFile\":\"%s\"}",
			i == 0 ? "" : ",", n->name, n->ifname, addr, n->prefix, gw, n->mac, n->host_if, n->bridge, n->ipam_file);
	}
	fputs("]\n", f);
	if (fclose(f) != 0) {
		free(json);
		return s1_fail(err, errno, STEP, "write", "net-info.json");
	}
	snprintf(path, sizeof path, "%s/net-info.json", cfg->pod_dir);
	r = write_file_atomic(path, json, err, STEP);
	free(json);
	return r;
}

static int attach_one(const struct config *cfg, size_t i, int host_sock, int host_ns, int pod_sock, int bridge,
		      struct s1_error *err)
{
	struct pod_net *n = &cfg->nets[i];
	int index;

	host_if_name(cfg->uuid, i, n->host_if);
	if (ipam_allocate(cfg, n, err) < 0 || veth_create(pod_sock, host_ns, n, err) < 0 ||
	    link_up(host_sock, 0, n->host_if, bridge, n, err) < 0)
		return -1;
	/* This netns is the pod's: the name resolves here. */
	index = (int) if_nametoindex(n->ifname);
	if (index == 0)
		return s1_fail(err, errno, STEP, "if_nametoindex", "%s (network %s)", n->ifname, n->name);
	if (address_add(pod_sock, index, n, err) < 0 || link_up(pod_sock, index, NULL, 0, n, err) < 0 ||
	    (n->default_route && default_route_add(pod_sock, index, n, err) < 0))
		return -1;
	mac_of(n->ifname, n->mac);
	return 0;
}

int net_attach(const struct config *cfg, struct s1_error *err)
{
	cleanup_fd int host_ns = -1;
	cleanup_fd int host_sock = -1;
	cleanup_fd int pod_sock = -1;
	cleanup_free int *bridges = calloc(cfg->n_nets + 1, sizeof *bridges);

	if (bridges == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0)
		return s1_fail(err, errno, STEP, "open", "/proc/self/ns/net");
	host_sock = rtnl_open();
	if (host_sock < 0)
		return s1_fail(err, errno, STEP, "socket", "NETLINK_ROUTE (host)");
	for (size_t i = 0; i < cfg->n_nets; i++) {
		bridges[i] = (int) if_nametoindex(cfg->nets[i].bridge);
		if (bridges[i] == 0)
			return s1_fail_msg(err, STEP, "network %s: bridge %s does not exist on the host: run the pod through the CLI, which makes it",
					   cfg->nets[i].name, cfg->nets[i].bridge);
	}
	if (ns_new_netns(cfg, err) < 0)
		return -1;
	pod_sock = rtnl_open();
	if (pod_sock < 0)
		return s1_fail(err, errno, STEP, "socket", "NETLINK_ROUTE (pod)");
	for (size_t i = 0; i < cfg->n_nets; i++)
		if (attach_one(cfg, i, host_sock, host_ns, pod_sock, bridges[i], err) < 0)
			return -1;
	return net_info_write(cfg, err);
}

/* Teardown: each address file this pod holds (it names our UUID) is removed; the links went with the netns. */
void net_release(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_nets; i++) {
		const struct pod_net *n = &cfg->nets[i];
		char held[64];

		if (n->ipam_file[0] == '\0' || read_small_file(n->ipam_file, held, sizeof held) < 0)
			continue;
		held[strcspn(held, "\n")] = '\0';
		if (strcmp(held, cfg->uuid) == 0 && unlink(n->ipam_file) < 0 && errno != ENOENT)
			fprintf(stderr, "skiff-stage1: teardown: unlink %s: %s\n", n->ipam_file, s1_errno_name(errno));
	}
}
