/*
 * The seccomp filter: from a spec (seccomp.h) and the app's capabilities to
 * a classic-BPF program, loaded with seccomp(2).
 *
 * Why an allow-list (as Docker's) and not a list of the dangerous calls: a
 * syscall added to the kernel later is refused until someone decides
 * otherwise, instead of being open to every pod until someone notices.
 *
 * The program, in order:
 *   arch != the native one            -> KILL   (i386 through int 0x80 on x86_64 has
 *                                                AUDIT_ARCH_I386 and its own numbers)
 *   x86_64: nr & __X32_SYSCALL_BIT     -> KILL   (the x32 ABI: same arch, other numbers)
 *   the argument checks (clone's flags, clone3, personality, socket's family),
 *   only for the calls whose decision depends on them
 *   a binary search over the runs of numbers with one action (ALLOW, DENY,
 *   UNKNOWN = ENOSYS; the numbers past the table are one last UNKNOWN run)
 * ~10 instructions run per syscall (x86_64's default has ~70 runs), where a
 * compare per allowed call would run up to ~300. And the search uses only
 * loads of nr/arch, JGE/JEQ/JSET with constants and RET: the kernel's
 * seccomp cache (5.11+) can follow that, so it marks every call allowed
 * whatever its arguments and never runs the filter for them again; an
 * ALU or scratch-memory trick (a bitmap) would defeat it.
 *
 * Arguments: seccomp_data.args[] are 64-bit; clone's flags, personality and
 * socket's family are ints to the kernel (only the low 32 bits count), so
 * only the low word is loaded.
 */
#include "seccomp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* linux/filter.h and linux/bpf_common.h */
#define BPF_LD 0x00
#define BPF_JMP 0x05
#define BPF_RET 0x06
#define BPF_W 0x00
#define BPF_ABS 0x20
#define BPF_JA 0x00
#define BPF_JEQ 0x10
#define BPF_JGE 0x30
#define BPF_JSET 0x40
#define BPF_K 0x00

/* linux/seccomp.h and linux/audit.h */
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#define SECCOMP_RET_ERRNO 0x00050000U
#define SECCOMP_RET_ALLOW 0x7fff0000U
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG0_LOW 16 /* args[0]; little-endian: the low word first */
#define AUDIT_ARCH_X86_64 0xc000003eU
#define AUDIT_ARCH_AARCH64 0xc00000b7U
#define X32_SYSCALL_BIT 0x40000000U

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__) && defined(__AARCH64EL__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp.c: add this architecture's AUDIT_ARCH and check its argument layout"
#endif

#define STEP "config"
#define AF_VSOCK_FAMILY 40
#define CAP_SYS_ADMIN_BIT (UINT64_C(1) << 21)
/* CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (and NEWTIME: not in Docker's mask, but a namespace all the same) */
#define CLONE_NS_FLAGS (0x00020000U | 0x02000000U | 0x04000000U | 0x08000000U | 0x10000000U | 0x20000000U | 0x40000000U | 0x00000080U)
#define SC_MAX_NR 511

#define GROUP_DEFAULT_ALLOW "@docker/default-whitelist"
#define GROUP_DEFAULT_DENY "@docker/default-blacklist"
#define GROUP_ALL "@appc.io/all"
#define GROUP_EMPTY "@appc.io/empty"

/* What stage1 itself calls after loading the filter, up to the app's execve (or its failure report and exit). */
static const char *const own_calls[] = {
	"execve", "exit", "exit_group", "rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "chdir", "write", "writev",
};
/* ... and, loaded before the identity change (no_new_privs off), those of app_identity_apply(). */
static const char *const identity_calls[] = {
	"prctl", "capget", "capset", "setgroups", "setresgid", "setresuid", "prlimit64", "getrlimit", "setrlimit", "umask",
};

static int table_index(const char *name, size_t len)
{
	for (size_t i = 0; i < sc_table_len; i++)
		if (strlen(sc_table[i].name) == len && strncmp(sc_table[i].name, name, len) == 0)
			return (int) i;
	return -1;
}

static void set_bit(uint64_t *set, size_t i)
{
	set[i / 64] |= UINT64_C(1) << (i % 64);
}

static bool has_bit(const uint64_t *set, size_t i)
{
	return (set[i / 64] >> (i % 64)) & 1;
}

static int parse_errno(const char *s, size_t len, int *out)
{
	char *end;
	long v;

	if (len == 0) {
		*out = 0; /* no errno: refused calls kill the process, as rkt's isolators without one */
		return 0;
	}
	v = strtol(s, &end, 10);
	if (end != s + len || v < 1 || v > 4095)
		return -1;
	*out = (int) v;
	return 0;
}

int seccomp_parse(const char *app, const char *value, struct seccomp_spec *out, struct s1_error *err)
{
	const char *tab1, *tab2, *p;

	memset(out, 0, sizeof *out);
	if (value == NULL)
		return 0;
	if (strcmp(value, "none") == 0) {
		out->mode = SC_MODE_OFF;
		return 0;
	}
	tab1 = strchr(value, '\t');
	tab2 = tab1 == NULL ? NULL : strchr(tab1 + 1, '\t');
	if (tab2 == NULL)
		return s1_fail_msg(err, STEP, "app %s: seccomp: '%s' is not none or MODE\\tERRNO\\tSYSCALL,...", app, value);
	if (tab1 - value == 6 && strncmp(value, "retain", 6) == 0)
		out->mode = SC_MODE_RETAIN;
	else if (tab1 - value == 6 && strncmp(value, "remove", 6) == 0)
		out->mode = SC_MODE_REMOVE;
	else
		return s1_fail_msg(err, STEP, "app %s: seccomp: mode '%.*s' is not retain or remove", app, (int) (tab1 - value), value);
	if (parse_errno(tab1 + 1, (size_t) (tab2 - tab1 - 1), &out->errnum) < 0)
		return s1_fail_msg(err, STEP, "app %s: seccomp: errno '%.*s' is not 1..4095 or empty", app, (int) (tab2 - tab1 - 1), tab1 + 1);
	for (p = tab2 + 1; *p != '\0';) {
		size_t len = strcspn(p, ",");
		int i;

		if (len == strlen(GROUP_DEFAULT_ALLOW) && strncmp(p, GROUP_DEFAULT_ALLOW, len) == 0) {
			if (out->mode != SC_MODE_RETAIN)
				return s1_fail_msg(err, STEP, "app %s: seccomp: %s is for mode retain", app, GROUP_DEFAULT_ALLOW);
			out->with_default = true;
		} else if (len == strlen(GROUP_DEFAULT_DENY) && strncmp(p, GROUP_DEFAULT_DENY, len) == 0) {
			if (out->mode != SC_MODE_REMOVE)
				return s1_fail_msg(err, STEP, "app %s: seccomp: %s is for mode remove", app, GROUP_DEFAULT_DENY);
			out->with_default = true;
		} else if (len == strlen(GROUP_ALL) && strncmp(p, GROUP_ALL, len) == 0) {
			out->all = true;
		} else if (!(len == strlen(GROUP_EMPTY) && strncmp(p, GROUP_EMPTY, len) == 0)) {
			if ((i = table_index(p, len)) < 0 || i >= SC_MAX_SYSCALLS)
				return s1_fail_msg(err, STEP, "app %s: seccomp: unknown syscall '%.*s'", app, (int) len, p);
			set_bit(out->listed, (size_t) i);
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* ---- the assembler: instructions with symbolic forward jumps, resolved at the end ---- */

enum { L_ALLOW, L_DENY, L_UNKNOWN, L_KILL, L_ENOSYS, L_FIXED_COUNT };
#define MAX_LABELS (L_FIXED_COUNT + SC_MAX_NR + 16)
#define MAX_INSNS 1024
#define NO_LABEL 0xffff

struct bpf_asm {
	struct sc_insn *ins;
	size_t n, max;
	uint16_t jt[MAX_INSNS], jf[MAX_INSNS]; /* label of each conditional target, or NO_LABEL (offset 0: next) */
	uint16_t ja[MAX_INSNS];           /* label of an unconditional jump */
	int pos[MAX_LABELS];
	size_t n_labels;
	bool full;
};

static int new_label(struct bpf_asm *a)
{
	if (a->n_labels == MAX_LABELS) {
		a->full = true;
		return 0;
	}
	a->pos[a->n_labels] = -1;
	return (int) a->n_labels++;
}

static void place(struct bpf_asm *a, int label)
{
	a->pos[label] = (int) a->n;
}

static void emit(struct bpf_asm *a, uint16_t code, uint32_t k, int jt, int jf, int ja)
{
	if (a->n == a->max || a->n == sizeof a->jt / sizeof a->jt[0]) {
		a->full = true;
		return;
	}
	a->ins[a->n] = (struct sc_insn) { .code = code, .k = k };
	a->jt[a->n] = (uint16_t) jt;
	a->jf[a->n] = (uint16_t) jf;
	a->ja[a->n] = (uint16_t) ja;
	a->n++;
}

#define LD_ABS(a, off) emit(a, BPF_LD | BPF_W | BPF_ABS, off, NO_LABEL, NO_LABEL, NO_LABEL)
#define JMP(a, op, v, jt, jf) emit(a, BPF_JMP | (op) | BPF_K, v, jt, jf, NO_LABEL)
#define JA(a, l) emit(a, BPF_JMP | BPF_JA, 0, NO_LABEL, NO_LABEL, l)
#define RET(a, v) emit(a, BPF_RET | BPF_K, v, NO_LABEL, NO_LABEL, NO_LABEL)

static int resolve(struct bpf_asm *a, struct s1_error *err)
{
	if (a->full)
		return s1_fail(err, E2BIG, "seccomp", "assemble", "more than %zu instructions or labels", a->max);
	for (size_t i = 0; i < a->n; i++) {
		uint16_t labels[3] = { a->jt[i], a->jf[i], a->ja[i] };

		for (int w = 0; w < 3; w++) {
			long off;

			if (labels[w] == NO_LABEL)
				continue;
			off = (long) a->pos[labels[w]] - (long) i - 1;
			/* Classic BPF jumps only forward; a conditional one at most 255 instructions. */
			/* Only a list of hundreds of scattered calls gets there: refuse it rather than load half a filter. */
			if (a->pos[labels[w]] < 0 || off < 0 || (w < 2 && off > 255))
				return s1_fail(err, ERANGE, "seccomp", "assemble", "jump at %zu to label %u: the list is too scattered",
					       i, labels[w]);
			if (w == 0)
				a->ins[i].jt = (uint8_t) off;
			else if (w == 1)
				a->ins[i].jf = (uint8_t) off;
			else
				a->ins[i].k = (uint32_t) off;
		}
	}
	return (int) a->n;
}

/* ---- decisions ---- */

enum decision { D_ALLOW, D_DENY, D_SPECIAL };

static enum decision default_decision(const struct sc_syscall *s, uint64_t caps)
{
	switch (s->kind) {
	case SC_ALLOW:
		return D_ALLOW;
	case SC_CAP:
		return (caps & s->caps) ? D_ALLOW : D_DENY;
	case SC_DENY:
		return D_DENY;
	default:
		/* clone and clone3 are any with sys_admin (Docker's "includes caps"); the rest always checked. */
		if ((s->kind == SC_CLONE || s->kind == SC_CLONE3) && (caps & CAP_SYS_ADMIN_BIT))
			return D_ALLOW;
		return D_SPECIAL;
	}
}

static bool named(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static enum decision decide(const struct seccomp_spec *spec, size_t i, uint64_t caps, bool identity)
{
	const struct sc_syscall *s = &sc_table[i];

	if (named(own_calls, sizeof own_calls / sizeof own_calls[0], s->name) ||
	    (identity && named(identity_calls, sizeof identity_calls / sizeof identity_calls[0], s->name)))
		return D_ALLOW;
	switch (spec->mode) {
	case SC_MODE_RETAIN:
		/* A name given explicitly wins over the default's argument check. */
		if (spec->all || has_bit(spec->listed, i))
			return D_ALLOW;
		return spec->with_default ? default_decision(s, caps) : D_DENY;
	case SC_MODE_REMOVE:
		if (spec->all || has_bit(spec->listed, i))
			return D_DENY;
		return spec->with_default ? default_decision(s, caps) : D_ALLOW;
	default:
		return default_decision(s, caps);
	}
}

/* The argument check of one call, entered with A = nr; falls through with A = nr when nr is not `s`'s. */
static void emit_special(struct bpf_asm *a, const struct sc_syscall *s)
{
	static const uint32_t personas[] = { 0x0, 0x0008 /* UNAME26 */, 0x20000 /* LINUX32 */, 0x20008, 0xffffffff /* query */ };
	int next = new_label(a);

	JMP(a, BPF_JEQ, (uint32_t) s->nr, NO_LABEL, next);
	switch (s->kind) {
	case SC_CLONE:
		LD_ABS(a, OFF_ARG0_LOW);
		JMP(a, BPF_JSET, CLONE_NS_FLAGS, L_DENY, L_ALLOW);
		break;
	case SC_CLONE3:
		JA(a, L_ENOSYS);
		break;
	case SC_PERSONALITY:
		LD_ABS(a, OFF_ARG0_LOW);
		for (size_t k = 0; k < sizeof personas / sizeof personas[0]; k++)
			JMP(a, BPF_JEQ, personas[k], L_ALLOW, NO_LABEL);
		JA(a, L_DENY);
		break;
	case SC_SOCKET:
		LD_ABS(a, OFF_ARG0_LOW);
		JMP(a, BPF_JEQ, AF_VSOCK_FAMILY, L_DENY, L_ALLOW);
		break;
	}
	place(a, next);
}

/* The runs of equal action over syscall numbers: [start[i], start[i + 1]) all take action[i]. */
struct runs {
	uint32_t start[SC_MAX_NR + 2];
	uint8_t action[SC_MAX_NR + 2]; /* a label: L_ALLOW, L_DENY or L_UNKNOWN */
	size_t n;
};

/* Binary search over runs [lo, hi), entered with A = nr: only JGE and JA, nothing the kernel's cache cannot follow. */
static void emit_tree(struct bpf_asm *a, const struct runs *r, size_t lo, size_t hi)
{
	size_t mid;
	int right;

	if (hi - lo == 1) {
		JA(a, r->action[lo]);
		return;
	}
	mid = (lo + hi) / 2;
	right = new_label(a);
	JMP(a, BPF_JGE, r->start[mid], right, NO_LABEL);
	emit_tree(a, r, lo, mid);
	place(a, right);
	emit_tree(a, r, mid, hi);
}

int seccomp_build(const struct seccomp_spec *spec, uint64_t caps, bool identity, struct sc_insn *out, size_t max,
		  struct s1_error *err)
{
	static struct bpf_asm a; /* static: the child's stack need not hold it */
	static struct runs runs;
	uint8_t action[SC_MAX_NR + 1];
	uint32_t deny_ret, unknown_ret;
	size_t bound = 0;

	memset(&a, 0, sizeof a);
	a.ins = out;
	a.max = max;
	a.n_labels = L_FIXED_COUNT;
	for (int l = 0; l < L_FIXED_COUNT; l++)
		a.pos[l] = -1;
	deny_ret = spec->mode == SC_MODE_DEFAULT ? SECCOMP_RET_ERRNO | EPERM
		 : spec->errnum != 0 ? SECCOMP_RET_ERRNO | (uint32_t) spec->errnum : SECCOMP_RET_KILL_PROCESS;
	/* A remove-set allows what it does not name, also what this build does not know; otherwise ENOSYS. */
	unknown_ret = spec->mode == SC_MODE_REMOVE && !spec->with_default ? SECCOMP_RET_ALLOW
		    : spec->mode == SC_MODE_RETAIN && spec->all ? SECCOMP_RET_ALLOW : SECCOMP_RET_ERRNO | ENOSYS;
	memset(action, L_UNKNOWN, sizeof action);

	LD_ABS(&a, OFF_ARCH);
	JMP(&a, BPF_JEQ, NATIVE_ARCH, NO_LABEL, L_KILL);
	LD_ABS(&a, OFF_NR);
#ifdef __x86_64__
	JMP(&a, BPF_JSET, X32_SYSCALL_BIT, L_KILL, NO_LABEL);
#endif
	for (size_t i = 0; i < sc_table_len; i++) {
		const struct sc_syscall *s = &sc_table[i];
		enum decision d;

		if (s->nr < 0 || s->nr > SC_MAX_NR)
			return s1_fail(err, ERANGE, "seccomp", "table", "%s has number %d", s->name, s->nr);
		d = decide(spec, i, caps, identity);
		if (d == D_SPECIAL)
			emit_special(&a, s);
		else
			action[s->nr] = d == D_ALLOW ? L_ALLOW : L_DENY;
		if ((size_t) s->nr + 1 > bound)
			bound = (size_t) s->nr + 1;
	}
	/* Runs of one action over 0..bound-1, then everything from bound on is unknown. */
	runs.n = 0;
	for (size_t nr = 0; nr <= bound; nr++) {
		uint8_t act = nr == bound ? L_UNKNOWN : action[nr];

		if (runs.n == 0 || runs.action[runs.n - 1] != act) {
			runs.start[runs.n] = (uint32_t) nr;
			runs.action[runs.n++] = act;
		}
	}
	emit_tree(&a, &runs, 0, runs.n);
	place(&a, L_ALLOW);
	RET(&a, SECCOMP_RET_ALLOW);
	place(&a, L_DENY);
	RET(&a, deny_ret);
	place(&a, L_UNKNOWN);
	RET(&a, unknown_ret);
	place(&a, L_ENOSYS);
	RET(&a, SECCOMP_RET_ERRNO | ENOSYS);
	place(&a, L_KILL);
	RET(&a, SECCOMP_RET_KILL_PROCESS);
	return resolve(&a, err);
}

int seccomp_apply(const struct seccomp_spec *spec, uint64_t caps, bool identity, const char *step, struct s1_error *err)
{
	static struct sc_insn prog[MAX_INSNS];
	struct {
		unsigned short len;
		struct sc_insn *filter;
	} fprog;
	int n;

	if (spec->mode == SC_MODE_OFF)
		return 0;
	if ((n = seccomp_build(spec, caps, identity, prog, sizeof prog / sizeof prog[0], err)) < 0)
		return -1;
	fprog.len = (unsigned short) n;
	fprog.filter = prog;
	/* EACCES: neither no_new_privs nor CAP_SYS_ADMIN (app.c loads it while one of them holds). */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return s1_fail(err, errno, step, "seccomp", "SECCOMP_SET_MODE_FILTER");
	return 0;
}
