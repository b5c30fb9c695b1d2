/*
 * The pod's device allow-list on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE
 * program attached to each cgroup2 dir the pod joins (cgroup v2 has no
 * devices controller; this is how crun and runc do it). On v1 the driver
 * writes the same list into the pod's devices cgroup (runtime/cgroups).
 *
 * The supervisor attaches it before it forks PID 1, so nothing of the pod
 * ever runs without it, and `enter` gets it by joining the same dir. It lives
 * as long as the cgroup: stage1 closes its fd after the attach, and rmdir at
 * teardown releases it. On a hybrid host the kernel runs the program first,
 * then the v1 controller (devcgroup_check_permission): both must allow.
 *
 * The program, for a request (type, major, minor, access) in its context
 * (struct bpf_cgroup_dev_ctx: access_type = ACCESS << 16 | TYPE, major,
 * minor), tries each rule in order and returns 1 (allow) at the first one
 * that matches, 0 (deny, EPERM) when none does:
 *
 *   r2 = ctx->access_type; r3 = r2 & 0xffff; r4 = r2 >> 16
 *   r5 = ctx->major; r6 = ctx->minor
 *   per rule:  if r3 != TYPE goto next          (not for `a`)
 *              if r4 & ~ACCESS goto next        (not for rwm: asks more than allowed)
 *              if r5 != MAJOR goto next         (not for *)
 *              if r6 != MINOR goto next         (not for *)
 *              r0 = 1; exit
 *   r0 = 0; exit
 */
#include "stage1.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STEP "devices"
#define CGROUP2_MAGIC 0x63677270

/* From linux/bpf.h (stable ABI); musl-gcc does not see the UAPI headers (linux-compat.h says why). */
enum {
	BPF_PROG_LOAD_CMD = 5,
	BPF_PROG_ATTACH_CMD = 8,
	BPF_PROG_TYPE_CGROUP_DEVICE_ = 15,
	BPF_CGROUP_DEVICE_ = 6,
	BPF_F_ALLOW_MULTI_ = 2,
	DEVCG_DEV_BLOCK = 1,
	DEVCG_DEV_CHAR = 2,
};

struct bpf_insn_ {
	uint8_t code;
	uint8_t regs; /* dst in the low nibble, src in the high one (little-endian bitfields) */
	int16_t off;
	int32_t imm;
};

union bpf_attr_ {
	struct {
		uint32_t prog_type, insn_cnt;
		uint64_t insns, license;
		uint32_t log_level, log_size;
		uint64_t log_buf;
	} load;
	struct {
		uint32_t target_fd, attach_bpf_fd, attach_type, attach_flags;
	} attach;
	uint8_t pad[128]; /* the kernel wants every byte past what we set to be zero */
};

#define INSN(c, dst, src, o, i) ((struct bpf_insn_) { .code = (c), .regs = (uint8_t) ((dst) | ((src) << 4)), .off = (o), .imm = (i) })
#define LDX_W(dst, src, o) INSN(0x61, dst, src, o, 0)      /* BPF_LDX | BPF_MEM | BPF_W */
#define MOV_X(dst, src) INSN(0xbf, dst, src, 0, 0)         /* BPF_ALU64 | BPF_MOV | BPF_X */
#define MOV_K(dst, imm) INSN(0xb7, dst, 0, 0, imm)         /* BPF_ALU64 | BPF_MOV | BPF_K */
#define AND_K(dst, imm) INSN(0x57, dst, 0, 0, imm)         /* BPF_ALU64 | BPF_AND | BPF_K */
#define RSH_K(dst, imm) INSN(0x77, dst, 0, 0, imm)         /* BPF_ALU64 | BPF_RSH | BPF_K */
#define JNE_K(dst, imm, o) INSN(0x55, dst, 0, o, imm)      /* BPF_JMP | BPF_JNE | BPF_K */
#define JSET_K(dst, imm, o) INSN(0x45, dst, 0, o, imm)     /* BPF_JMP | BPF_JSET | BPF_K */
#define EXIT() INSN(0x95, 0, 0, 0, 0)                      /* BPF_JMP | BPF_EXIT */

#define PROLOGUE 7
#define MAX_RULE_INSNS 6

static int bpf(int cmd, union bpf_attr_ *attr)
{
	return (int) syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

static struct bpf_insn_ *program(const struct config *cfg, size_t *count)
{
	struct bpf_insn_ *p = calloc(PROLOGUE + cfg->n_device_rules * MAX_RULE_INSNS + 2, sizeof *p);
	size_t n = 0;

	if (p == NULL)
		return NULL;
	p[n++] = LDX_W(2, 1, 0);
	p[n++] = MOV_X(3, 2);
	p[n++] = AND_K(3, 0xffff);
	p[n++] = MOV_X(4, 2);
	p[n++] = RSH_K(4, 16);
	p[n++] = LDX_W(5, 1, 4);
	p[n++] = LDX_W(6, 1, 8);
	for (size_t i = 0; i < cfg->n_device_rules; i++) {
		const struct device_rule *r = &cfg->device_rules[i];
		size_t start = n;

		if (r->type != 'a')
			p[n++] = JNE_K(3, r->type == 'b' ? DEVCG_DEV_BLOCK : DEVCG_DEV_CHAR, 0);
		if (r->access != DEVICE_RWM)
			p[n++] = JSET_K(4, (int32_t) (~r->access & DEVICE_RWM), 0);
		if (r->major >= 0)
			p[n++] = JNE_K(5, (int32_t) r->major, 0);
		if (r->minor >= 0)
			p[n++] = JNE_K(6, (int32_t) r->minor, 0);
		p[n++] = MOV_K(0, 1);
		p[n++] = EXIT();
		/* Each test jumps past the end of its rule: to the next one. */
		for (size_t j = start; j < n - 2; j++)
			p[j].off = (int16_t) (n - j - 1);
	}
	p[n++] = MOV_K(0, 0);
	p[n++] = EXIT();
	*count = n;
	return p;
}

static int load(const struct config *cfg, struct s1_error *err)
{
	size_t count = 0;
	cleanup_free struct bpf_insn_ *insns = program(cfg, &count);
	union bpf_attr_ attr;
	int fd;

	if (insns == NULL)
		return s1_fail(err, ENOMEM, STEP, "calloc", NULL);
	memset(&attr, 0, sizeof attr);
	attr.load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE_;
	attr.load.insn_cnt = (uint32_t) count;
	attr.load.insns = (uint64_t) (uintptr_t) insns;
	attr.load.license = (uint64_t) (uintptr_t) "GPL";
	/* The kernel makes program fds close-on-exec itself. */
	fd = bpf(BPF_PROG_LOAD_CMD, &attr);
	if (fd < 0)
		return s1_fail(err, errno, STEP, "bpf(BPF_PROG_LOAD)", "device program of %zu rules", cfg->n_device_rules);
	return fd;
}

int devices_restrict(const struct config *cfg, struct s1_error *err)
{
	cleanup_fd int prog = -1;

	if (cfg->n_device_rules == 0)
		return 0;
	for (size_t i = 0; i < cfg->cgroups.n; i++) {
		const char *dir = cfg->cgroups.v[i];
		cleanup_fd int dfd = -1;
		union bpf_attr_ attr;
		struct statfs sfs;

		if (statfs(dir, &sfs) < 0)
			return s1_fail(err, errno, STEP, "statfs", "%s", dir);
		if (sfs.f_type != CGROUP2_MAGIC)
			continue; /* v1: the devices cgroup holds the same list */
		if (prog < 0 && (prog = load(cfg, err)) < 0)
			return -1;
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return s1_fail(err, errno, STEP, "open", "%s", dir);
		memset(&attr, 0, sizeof attr);
		attr.attach.target_fd = (uint32_t) dfd;
		attr.attach.attach_bpf_fd = (uint32_t) prog;
		attr.attach.attach_type = BPF_CGROUP_DEVICE_;
		/* MULTI: ancestors' programs (systemd's) still run too; every one must allow. */
		attr.attach.attach_flags = BPF_F_ALLOW_MULTI_;
		if (bpf(BPF_PROG_ATTACH_CMD, &attr) < 0)
			return s1_fail(err, errno, STEP, "bpf(BPF_PROG_ATTACH)", "%s", dir);
	}
	return 0;
}
