/*
 * The apps' seccomp filter: a classic-BPF program assembled here from a
 * syscall table (seccomp-syscalls.c, numbers from the libc's __NR_* macros),
 * without libseccomp: stage1 is a static musl binary, and the filter is
 * small enough that a purpose-built assembler is shorter than the glue
 * libseccomp would need (test/integration/seccomp-bpf.test.ts checks it
 * against libseccomp's own decisions).
 *
 * Modes (the `seccomp` app key, native/stage1-protocol.md):
 *   default  Docker's default profile: an allow-list, the capability-gated
 *            calls allowed only with their capability in the app's set,
 *            clone without namespace flags, personality's usual values,
 *            socket but AF_VSOCK; refused calls fail with EPERM
 *   retain   only the listed calls (rkt's retain-set)
 *   remove   every call but the listed ones (rkt's remove-set)
 *   off      no filter (`--insecure-options=seccomp`)
 * In every mode, a foreign ABI (another AUDIT_ARCH, i386 through int 0x80,
 * x32 on x86_64) kills the process, and a number the table does not know
 * (a syscall newer than this build) fails with ENOSYS, as the kernel answers
 * for syscalls it lacks, so libcs fall back to the older call.
 */
#ifndef SKIFF_STAGE1_SECCOMP_H
#define SKIFF_STAGE1_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The kernel ABI (linux/filter.h, linux/seccomp.h, linux/audit.h): musl-gcc does not see the UAPI headers. */
struct sc_insn {
	uint16_t code;
	uint8_t jt, jf;
	uint32_t k;
};

enum sc_mode { SC_MODE_DEFAULT = 0, SC_MODE_OFF, SC_MODE_RETAIN, SC_MODE_REMOVE };

/* Kinds of table entries: what the default filter does with the call. */
enum sc_kind {
	SC_ALLOW,       /* always */
	SC_CAP,         /* with any capability of `caps` in the app's set */
	SC_DENY,        /* never */
	SC_CLONE,       /* without namespace flags (any, with sys_admin) */
	SC_CLONE3,      /* ENOSYS (its flags are behind a pointer), any with sys_admin: libcs fall back to clone */
	SC_PERSONALITY, /* Linux personalities and the query only */
	SC_SOCKET,      /* any family but AF_VSOCK (the host's hypervisor sockets) */
};

struct sc_syscall {
	const char *name;
	int nr;
	uint8_t kind;
	uint64_t caps;
};

extern const struct sc_syscall sc_table[];
extern const size_t sc_table_len;

#define SC_MAX_SYSCALLS 512
#define SC_SET_WORDS (SC_MAX_SYSCALLS / 64)

struct seccomp_spec {
	enum sc_mode mode;
	int errnum;          /* retain/remove: errno of a refused call; 0: the process is killed (SIGSYS) */
	bool with_default;   /* @docker/default-whitelist (retain) or @docker/default-blacklist (remove) */
	bool all;            /* @appc.io/all */
	uint64_t listed[SC_SET_WORDS]; /* bit i: sc_table[i] is named */
};

/* App `app`'s `seccomp` value: absent (NULL) = default, `none`, or `MODE\tERRNO\tNAME,...`; -1 with err on a bad one. */
int seccomp_parse(const char *app, const char *value, struct seccomp_spec *out, struct s1_error *err);

/*
 * Assembles the filter for `spec` and an app with capability set `caps`
 * into out[max]; returns the instruction count, or -1 with err. The
 * calls stage1 makes between loading the filter and the app's execve are
 * always allowed; `identity` adds those of the identity change (the filter
 * is loaded before it when no_new_privs is off, see app.c).
 */
int seccomp_build(const struct seccomp_spec *spec, uint64_t caps, bool identity, struct sc_insn *out, size_t max,
		  struct s1_error *err);

/* Builds and loads the filter into this process (nothing for mode off). */
int seccomp_apply(const struct seccomp_spec *spec, uint64_t caps, bool identity, const char *step, struct s1_error *err);

#endif
