/*
 * Is a NAT rule the CLI made still there? Asked of the kernel's nftables over nfnetlink (the
 * iptables of Debian 12 is iptables-nft: its rules are nftables rules), because running
 * `iptables -C` costs 10-30 ms and a replayed networked run has about 10 in all.
 *
 * One request: dump the rules of TABLE/CHAIN (family ip) and look for NEEDLE, a whole string (its
 * bytes and the NUL that ends it), in them.
 * The needles are names that only our rules carry: a jump's target chain (`SKIFF-POSTROUTING`
 * in POSTROUTING, stored in the rule's verdict) or our rules' comments (`skiff network NAME`,
 * stored in the rule's user data). A missing table or chain (an `iptables -t nat -X`, a firewall
 * reload that dropped ours) is as good as a missing rule: the run goes to the CLI, which makes
 * them again.
 */
#include "launcher.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static size_t put_attr(char *buf, size_t at, unsigned short type, const char *s)
{
	struct nlattr *a = (struct nlattr *) (buf + at);
	size_t len = strlen(s) + 1;

	a->nla_type = type;
	a->nla_len = (unsigned short) (NLA_HDRLEN + len);
	memcpy(buf + at + NLA_HDRLEN, s, len);
	return at + NLA_ALIGN(a->nla_len);
}

int nft_rule_mentions(const char *table, const char *chain, const char *needle)
{
	char req[512], resp[16384];
	size_t len, needle_len = strlen(needle);
	struct nlmsghdr *nh = (struct nlmsghdr *) req;
	struct nfgenmsg *g;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int fd, found = 0, done = 0;

	if (strlen(table) + strlen(chain) > 256)
		return -1;
	memset(req, 0, sizeof req);
	nh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nh->nlmsg_seq = 1;
	g = (struct nfgenmsg *) NLMSG_DATA(nh);
	g->nfgen_family = NFPROTO_IPV4;
	g->version = NFNETLINK_V0;
	len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *g);
	len = put_attr(req, len, NFTA_RULE_TABLE, table);
	len = put_attr(req, len, NFTA_RULE_CHAIN, chain);
	nh->nlmsg_len = (unsigned int) len;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return -1;
	if (sendto(fd, req, len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0) {
		close(fd);
		return -1;
	}
	while (!done) {
		ssize_t n = recv(fd, resp, sizeof resp, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			found = -1;
			break;
		}
		for (struct nlmsghdr *m = (struct nlmsghdr *) resp; NLMSG_OK(m, (unsigned int) n); m = NLMSG_NEXT(m, n)) {
			if (m->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (m->nlmsg_type == NLMSG_ERROR) {
				/* ENOENT: no such table or chain. */
				found = -1;
				done = 1;
				break;
			}
			/* With its NUL: "skiff network a" must not match "skiff network a localhost". */
			if (!found && memmem(NLMSG_DATA(m), m->nlmsg_len - NLMSG_HDRLEN, needle, needle_len + 1) != NULL)
				found = 1;
		}
	}
	close(fd);
	return found;
}
