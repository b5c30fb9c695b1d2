/*
 * Host port claims: the `port-claim` keys (stage1-protocol.md). A pod that
 * forwards host ports (network/port-forward.ts) claims each one as a file
 * DIR/PROTO-PORT holding its UUID, before anything of the pod is wired, so
 * two pods never forward one host port, whether the CLI or a replayed plan
 * started them: the file is linked into place from a temp file (as the IPAM
 * files, net-attach.c), so it appears whole or not at all and link(2) fails
 * with EEXIST for the second pod. Released at teardown (only a file that
 * still names this pod), and by `gc` after a kill -9.
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEP "ports"

int port_claims_check(struct config *cfg, struct s1_error *err)
{
	cfg->port_claims = calloc(cfg->raw_port_claims.n + 1, sizeof *cfg->port_claims);
	if (cfg->port_claims == NULL)
		return s1_fail(err, ENOMEM, "config", "calloc", NULL);
	for (size_t i = 0; i < cfg->raw_port_claims.n; i++) {
		struct port_claim *c = &cfg->port_claims[i];
		char *f[3] = { 0 }, *end;
		unsigned long port;

		if (config_split_tabs((char *) cfg->raw_port_claims.v[i], f, 3) != 3)
			return s1_fail_msg(err, "config", "port-claim: '%s' is not DIR\\tPROTO\\tPORT", cfg->raw_port_claims.v[i]);
		errno = 0;
		port = strtoul(f[2], &end, 10);
		if (f[0][0] != '/' || strlen(f[0]) >= PATH_MAX - 64 || (strcmp(f[1], "tcp") != 0 && strcmp(f[1], "udp") != 0) ||
		    errno != 0 || *end != '\0' || f[2][0] < '1' || f[2][0] > '9' || port > 65535)
			return s1_fail_msg(err, "config", "port-claim: '%s\\t%s\\t%s' is not an absolute DIR, tcp or udp, and a port 1..65535",
					   f[0], f[1], f[2]);
		c->dir = f[0];
		c->proto = f[1];
		c->port = (unsigned int) port;
		snprintf(c->path, sizeof c->path, "%s/%s-%u", c->dir, c->proto, c->port);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->port_claims[j].path, c->path) == 0)
				return s1_fail_msg(err, "config", "port-claim: %s given twice", c->path);
		cfg->n_port_claims++;
	}
	return 0;
}

/* The UUID a claim file holds, "" when it cannot be read. */
static void claim_holder(const char *path, char *out, size_t len)
{
	if (read_small_file(path, out, len) < 0)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

int port_claims_take(const struct config *cfg, struct s1_error *err)
{
	char tmp[PATH_MAX], holder[64];

	for (size_t i = 0; i < cfg->n_port_claims; i++) {
		struct port_claim *c = &cfg->port_claims[i];

		if (claim_file_write(c->dir, cfg->uuid, STEP, tmp, sizeof tmp, err) < 0)
			return -1;
		if (link(tmp, c->path) == 0) {
			c->held = true;
			unlink(tmp);
			continue;
		}
		unlink(tmp);
		if (errno != EEXIST)
			return s1_fail(err, errno, STEP, "link", "%s", c->path);
		claim_holder(c->path, holder, sizeof holder);
		return s1_fail_msg(err, STEP, "host port %u/%s is taken by pod %s (claim %s; if that pod is gone, 'skiff gc' releases it)",
				   c->port, c->proto, holder[0] != '\0' ? holder : "(unknown)", c->path);
	}
	return 0;
}

void port_claims_release(const struct config *cfg)
{
	char holder[64];

	for (size_t i = 0; i < cfg->n_port_claims; i++) {
		const struct port_claim *c = &cfg->port_claims[i];

		if (!c->held)
			continue;
		claim_holder(c->path, holder, sizeof holder);
		if (strcmp(holder, cfg->uuid) == 0 && unlink(c->path) < 0 && errno != ENOENT)
			fprintf(stderr, "skiff-stage1: teardown: unlink %s: %s\n", c->path, s1_errno_name(errno));
	}
}
