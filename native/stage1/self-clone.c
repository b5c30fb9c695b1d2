/*
 * Re-exec safety (CVE-2019-5736's class): no process of a pod may write, or reopen, the
 * skiff-stage1 binary of the host.
 *
 * What a pod could reach: the pod's PID 1 runs this binary for the pod's whole life, and an
 * `enter` child runs it from its fork until its execve of CMD, both in the pod's pid namespace,
 * so /proc/1/exe and /proc/<child>/exe are in the pod's /proc. Both are non-dumpable (init.c,
 * enter.c), which makes those links need CAP_SYS_PTRACE; but `--caps-retain` may give a pod that
 * capability, and then /proc/1/exe opens. Writing through it is refused with ETXTBSY while the
 * file is being executed (checked on 6.18: writes to a running executable still fail), but an
 * fd kept open (O_RDONLY or O_PATH) could be reopened for writing through /proc/self/fd/N the
 * moment no process executes it any more, and the kernel has tried dropping that ETXTBSY
 * (2024's "fs: don't block i_writecount during exec"). So, as runc does, stage1 never runs from the
 * host's file inside a pod: `run` and `enter` first copy the binary into a memfd, seal it
 * (F_SEAL_SEAL, SHRINK, GROW, WRITE: no one can ever change its bytes), and execveat() that; the
 * host file is not mapped, not open and not reachable from any /proc entry of the process or its
 * children. /proc/1/exe then names "/memfd:skiff-stage1 (deleted)", whose bytes are public
 * anyway and cannot be written by anyone, root on the host included.
 *
 * Who copies: the launcher execs the sealed copy itself on its paths (a replayed run, enter;
 * native/common/sealed-exec.c), so stage1 only checks the seals; started any other way (stage0's
 * Node handoff, by hand), stage1 finds /proc/self/exe unsealed and re-execs itself from a copy.
 * Only the part of the binary an exec reads is copied (the ELF's segments: 184 of its 500 kB, the
 * rest is debug info). Measured here (medians of 2000 fork+exec of stage1): the launcher's sealed
 * exec costs 0.24 ms more than a plain execve (0.11 ms of it the copy), the re-exec of the Node
 * path 0.5 ms (beside Node's own start-up, noise). gdb on a pod's stage1 reads the symbols from
 * native/build/skiff-stage1. If the kernel refuses executable memfds (vm.memfd_noexec=2), stage1
 * refuses to start rather than run from the host file; the error says which sysctl to change.
 */
#define STEP "self-clone"

#include "stage1.h"
#include "../common/sealed-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

extern char **environ;

int self_clone_exec(char **argv, struct s1_error *err)
{
	const char *failed = "open";

	/* The launcher execs the copy itself (replay.c, enter.c): then there is nothing to do. */
	{
		cleanup_fd int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

		if (exe < 0)
			return s1_fail(err, errno, STEP, "open", "/proc/self/exe");
		if (is_sealed_copy(exe)) {
			/* execveat(fd, "") names the process after the fd ("3"): back to ours, for ps and top. */
			prctl(PR_SET_NAME, "skiff-stage1", 0, 0, 0);
			return 0;
		}
	}
	exec_sealed_copy("/proc/self/exe", argv, environ, &failed);
	return s1_fail(err, errno, STEP, failed, "a sealed copy of skiff-stage1 (if memfd_create or execveat is refused: vm.memfd_noexec must be 0 or 1)");
}
