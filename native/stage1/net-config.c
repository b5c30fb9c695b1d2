/*
 * The `net` keys of the stage1 config (stage1-protocol.md): one network the
 * pod joins, as NAME IFNAME BRIDGE MTU IPAM_DIR SUBNET RANGE GATEWAY ROUTE
 * ADDRESS, tab-separated. Checked here with the rest of the config, so a bad
 * one fails with exit 2 before anything is made (net-attach.c trusts it).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP "config"
#define NET_FIELDS 10

/* Names and paths end up in net-info.json unescaped: nothing a JSON string would need to escape. */
static bool json_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char) *s < 0x20 || *s == '"' || *s == '\\')
			return false;
	return true;
}

static int parse_ipv4(const char *name, const char *what, const char *s, struct in_addr *out, struct s1_error *err)
{
	if (inet_pton(AF_INET, s, out) != 1)
		return s1_fail_msg(err, STEP, "net %s: %s '%s' is not an IPv4 address", name, what, s);
	return 0;
}

static int parse_net(struct pod_net *n, char *raw, struct s1_error *err)
{
	char *f[NET_FIELDS] = { 0 }, *slash, *dash, *end;
	unsigned long v;

	if (config_split_tabs(raw, f, NET_FIELDS) != NET_FIELDS)
		return s1_fail_msg(err, STEP, "net: '%s' is not NAME\\tIFNAME\\tBRIDGE\\tMTU\\tIPAM_DIR\\tSUBNET\\tRANGE\\tGATEWAY\\tROUTE\\tADDRESS", raw);
	n->name = f[0];
	n->ifname = f[1];
	n->bridge = f[2];
	n->ipam_dir = f[4];
	n->raw_range = f[6];
	if (*n->name == '\0' || !json_safe(n->name) || !json_safe(n->ipam_dir))
		return s1_fail_msg(err, STEP, "net: name '%s' or IPAM dir '%s' is empty or holds a quote, backslash or control byte", n->name, n->ipam_dir);
	if (*n->ifname == '\0' || strlen(n->ifname) >= IFNAMSIZ || !json_safe(n->ifname) || strchr(n->ifname, '/') != NULL)
		return s1_fail_msg(err, STEP, "net %s: interface name '%s' is not 1 to %d bytes without '/'", n->name, n->ifname, IFNAMSIZ - 1);
	if (*n->bridge == '\0' || strlen(n->bridge) >= IFNAMSIZ || !json_safe(n->bridge))
		return s1_fail_msg(err, STEP, "net %s: bridge '%s' is not 1 to %d bytes", n->name, n->bridge, IFNAMSIZ - 1);
	errno = 0;
	v = strtoul(f[3], &end, 10);
	if (errno != 0 || *end != '\0' || v < 68 || v > 65535)
		return s1_fail_msg(err, STEP, "net %s: MTU '%s' is not 68..65535", n->name, f[3]);
	n->mtu = (unsigned int) v;
	if (n->ipam_dir[0] != '/' || strlen(n->ipam_dir) >= PATH_MAX - 64)
		return s1_fail_msg(err, STEP, "net %s: IPAM dir '%s' is not an absolute path", n->name, n->ipam_dir);
	slash = strchr(f[5], '/');
	if (slash == NULL)
		return s1_fail_msg(err, STEP, "net %s: subnet '%s' is not ADDRESS/PREFIX", n->name, f[5]);
	*slash = '\0';
	errno = 0;
	v = strtoul(slash + 1, &end, 10);
	if (errno != 0 || *end != '\0' || slash[1] == '\0' || v > 30)
		return s1_fail_msg(err, STEP, "net %s: subnet prefix '%s' is not 0..30", n->name, slash + 1);
	n->prefix = (int) v;
	dash = strchr(f[6], '-');
	if (dash == NULL)
		return s1_fail_msg(err, STEP, "net %s: range '%s' is not FIRST-LAST", n->name, f[6]);
	*dash = '\0';
	if (parse_ipv4(n->name, "subnet", f[5], &n->subnet, err) < 0 || parse_ipv4(n->name, "range start", f[6], &n->range_start, err) < 0 ||
	    parse_ipv4(n->name, "range end", dash + 1, &n->range_end, err) < 0 || parse_ipv4(n->name, "gateway", f[7], &n->gateway, err) < 0)
		return -1;
	*dash = '-'; /* kept whole for messages */
	if (strcmp(f[8], "default") != 0 && strcmp(f[8], "none") != 0)
		return s1_fail_msg(err, STEP, "net %s: route '%s' is not default or none", n->name, f[8]);
	n->default_route = f[8][0] == 'd';
	n->has_requested = f[9][0] != '\0';
	if (n->has_requested && parse_ipv4(n->name, "address", f[9], &n->requested, err) < 0)
		return -1;
	return 0;
}

int net_config_check(struct config *cfg, struct s1_error *err)
{
	cfg->nets = calloc(cfg->raw_nets.n + 1, sizeof *cfg->nets);
	if (cfg->nets == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	for (size_t i = 0; i < cfg->raw_nets.n; i++) {
		if (parse_net(&cfg->nets[i], (char *) cfg->raw_nets.v[i], err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->nets[j].name, cfg->nets[i].name) == 0 || strcmp(cfg->nets[j].ifname, cfg->nets[i].ifname) == 0)
				return s1_fail_msg(err, STEP, "net %s: a network or interface name given twice", cfg->nets[i].name);
		cfg->n_nets++;
	}
	if (cfg->n_nets > 10)
		return s1_fail_msg(err, STEP, "net: at most 10 networks per pod");
	/* The supervisor makes the netns it attaches to: a pod joining the host's or another's cannot have its own links. */
	if (cfg->n_nets > 0 && strcmp(cfg->netns, "new") != 0)
		return s1_fail_msg(err, STEP, "net: networks need netns new, not '%s'", cfg->netns);
	return 0;
}
