/*
 * Every syscall name stage1 knows, with what Docker's default seccomp profile
 * (moby profiles/seccomp/default.json) does with it. Numbers come from the
 * libc's __NR_* macros (musl's or glibc's, for the architecture built for);
 * names only x86_64 has are in its #ifdef. The names are also what
 * `--seccomp` accepts (runtime/pods/syscall-names.ts, checked against this
 * file by test/unit/seccomp-option.test.ts).
 *
 * Departures from that profile, each on purpose:
 *   io_uring_*    refused: its operations bypass seccomp altogether, and it
 *                 has been the source of many kernel escapes (newer Docker
 *                 refuses it too)
 *   syscalls newer than the profile  cachestat, fchmodat2, futex_wake/wait/
 *                 requeue, map_shadow_stack, mseal, *xattrat, file_getattr/
 *                 setattr and lsm_get_self_attr/list_modules are allowed (new
 *                 forms of allowed calls, or about the caller only);
 *                 statmount, listmount and open_tree_attr need sys_admin as
 *                 the rest of the mount API; lsm_set_self_attr is refused
 *   ptrace, process_vm_readv/writev  allowed as Docker does on kernels >= 4.8,
 *                 where seccomp is checked again after a tracer changes a
 *                 syscall, so a tracer cannot lift a tracee's filter
 */
#include "seccomp.h"

#include <sys/syscall.h>

/* Numbers from 424 on are the same on every architecture; musl 1.2.3 stops at 446. */
#ifndef __NR_quotactl_fd
#define __NR_quotactl_fd 443
#endif
#ifndef __NR_memfd_secret
#define __NR_memfd_secret 447
#endif
#ifndef __NR_process_mrelease
#define __NR_process_mrelease 448
#endif
#ifndef __NR_futex_waitv
#define __NR_futex_waitv 449
#endif
#ifndef __NR_set_mempolicy_home_node
#define __NR_set_mempolicy_home_node 450
#endif
#ifndef __NR_cachestat
#define __NR_cachestat 451
#define __NR_fchmodat2 452
#define __NR_map_shadow_stack 453
#define __NR_futex_wake 454
#define __NR_futex_wait 455
#define __NR_futex_requeue 456
#define __NR_statmount 457
#define __NR_listmount 458
#define __NR_lsm_get_self_attr 459
#define __NR_lsm_set_self_attr 460
#define __NR_lsm_list_modules 461
#define __NR_mseal 462
#endif
#ifndef __NR_setxattrat
#define __NR_setxattrat 463
#define __NR_getxattrat 464
#define __NR_listxattrat 465
#define __NR_removexattrat 466
#endif
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif
#ifndef __NR_file_getattr
#define __NR_file_getattr 468
#define __NR_file_setattr 469
#endif

/* Capability numbers (linux/capability.h). */
#define K(cap) (UINT64_C(1) << (cap))
#define DAC_READ_SEARCH K(2)
#define SYS_MODULE K(16)
#define SYS_RAWIO K(17)
#define SYS_CHROOT K(18)
#define SYS_PTRACE K(19)
#define SYS_PACCT K(20)
#define SYS_ADMIN K(21)
#define SYS_BOOT K(22)
#define SYS_NICE K(23)
#define SYS_TIME K(25)
#define SYS_TTY_CONFIG K(26)
#define SYSLOG K(34)
#define PERFMON K(38)
#define BPF K(39)

#define A(n) { #n, __NR_##n, SC_ALLOW, 0 }
#define C(n, caps) { #n, __NR_##n, SC_CAP, caps }
#define D(n) { #n, __NR_##n, SC_DENY, 0 }
#define X(n, kind) { #n, __NR_##n, kind, 0 }

const struct sc_syscall sc_table[] = {
	/* Allowed. */
	A(accept), A(accept4), A(adjtimex), A(bind), A(brk), A(cachestat), A(capget), A(capset), A(chdir),
	A(clock_adjtime), A(clock_getres), A(clock_gettime), A(clock_nanosleep), A(close), A(close_range), A(connect),
	A(copy_file_range), A(dup), A(dup3), A(epoll_create1), A(epoll_ctl), A(epoll_pwait), A(epoll_pwait2),
	A(eventfd2), A(execve), A(execveat), A(exit), A(exit_group), A(faccessat), A(faccessat2), A(fadvise64),
	A(fallocate), A(fanotify_mark), A(fchdir), A(fchmod), A(fchmodat), A(fchmodat2), A(fchown), A(fchownat),
	A(fcntl), A(fdatasync), A(fgetxattr), A(file_getattr), A(file_setattr), A(flistxattr), A(flock),
	A(fremovexattr), A(fsetxattr), A(fstat), A(fstatfs), A(fsync), A(ftruncate), A(futex), A(futex_requeue),
	A(futex_wait), A(futex_waitv), A(futex_wake), A(get_robust_list), A(getcpu), A(getcwd), A(getdents64),
	A(getegid), A(geteuid), A(getgid), A(getgroups), A(getitimer), A(getpeername), A(getpgid), A(getpid),
	A(getppid), A(getpriority), A(getrandom), A(getresgid), A(getresuid), A(getrlimit), A(getrusage), A(getsid),
	A(getsockname), A(getsockopt), A(gettid), A(gettimeofday), A(getuid), A(getxattr), A(getxattrat),
	A(inotify_add_watch), A(inotify_init1), A(inotify_rm_watch), A(io_cancel), A(io_destroy), A(io_getevents),
	A(io_pgetevents), A(io_setup), A(io_submit), A(ioctl), A(ioprio_get), A(ioprio_set), A(kill),
	A(landlock_add_rule), A(landlock_create_ruleset), A(landlock_restrict_self), A(lgetxattr), A(linkat),
	A(listen), A(listxattr), A(listxattrat), A(llistxattr), A(lremovexattr), A(lseek), A(lsetxattr),
	A(lsm_get_self_attr), A(lsm_list_modules), A(madvise), A(map_shadow_stack), A(membarrier), A(memfd_create),
	A(memfd_secret), A(mincore), A(mkdirat), A(mknodat), A(mlock), A(mlock2), A(mlockall), A(mmap), A(mprotect),
	A(mq_getsetattr), A(mq_notify), A(mq_open), A(mq_timedreceive), A(mq_timedsend), A(mq_unlink), A(mremap),
	A(mseal), A(msgctl), A(msgget), A(msgrcv), A(msgsnd), A(msync), A(munlock), A(munlockall), A(munmap),
	A(name_to_handle_at), A(nanosleep), A(newfstatat), A(openat), A(openat2), A(pidfd_open), A(pidfd_send_signal),
	A(pipe2), A(pkey_alloc), A(pkey_free), A(pkey_mprotect), A(ppoll), A(prctl), A(pread64), A(preadv), A(preadv2),
	A(prlimit64), A(process_mrelease), A(process_vm_readv), A(process_vm_writev), A(pselect6), A(ptrace),
	A(pwrite64), A(pwritev), A(pwritev2), A(read), A(readahead), A(readlinkat), A(readv), A(recvfrom), A(recvmmsg),
	A(recvmsg), A(remap_file_pages), A(removexattr), A(removexattrat), A(renameat), A(renameat2),
	A(restart_syscall), A(rseq), A(rt_sigaction), A(rt_sigpending), A(rt_sigprocmask), A(rt_sigqueueinfo),
	A(rt_sigreturn), A(rt_sigsuspend), A(rt_sigtimedwait), A(rt_tgsigqueueinfo), A(sched_get_priority_max),
	A(sched_get_priority_min), A(sched_getaffinity), A(sched_getattr), A(sched_getparam), A(sched_getscheduler),
	A(sched_rr_get_interval), A(sched_setaffinity), A(sched_setattr), A(sched_setparam), A(sched_setscheduler),
	A(sched_yield), A(seccomp), A(semctl), A(semget), A(semop), A(semtimedop), A(sendfile), A(sendmmsg),
	A(sendmsg), A(sendto), A(set_robust_list), A(set_tid_address), A(setfsgid), A(setfsuid), A(setgid),
	A(setgroups), A(setitimer), A(setpgid), A(setpriority), A(setregid), A(setresgid), A(setresuid), A(setreuid),
	A(setrlimit), A(setsid), A(setsockopt), A(setuid), A(setxattr), A(setxattrat), A(shmat), A(shmctl), A(shmdt),
	A(shmget), A(shutdown), A(sigaltstack), A(signalfd4), A(socketpair), A(splice), A(statfs), A(statx),
	A(symlinkat), A(sync), A(sync_file_range), A(syncfs), A(sysinfo), A(tee), A(tgkill), A(timer_create),
	A(timer_delete), A(timer_getoverrun), A(timer_gettime), A(timer_settime), A(timerfd_create),
	A(timerfd_gettime), A(timerfd_settime), A(times), A(tkill), A(truncate), A(umask), A(uname), A(unlinkat),
	A(utimensat), A(vmsplice), A(wait4), A(waitid), A(write), A(writev),
#ifdef __x86_64__
	A(access), A(alarm), A(arch_prctl), A(chmod), A(chown), A(creat), A(dup2), A(epoll_create), A(epoll_ctl_old),
	A(epoll_wait), A(epoll_wait_old), A(eventfd), A(fork), A(futimesat), A(get_thread_area), A(getdents),
	A(getpgrp), A(inotify_init), A(lchown), A(link), A(lstat), A(mkdir), A(mknod), A(modify_ldt), A(open),
	A(pause), A(pipe), A(poll), A(readlink), A(rename), A(rmdir), A(select), A(set_thread_area), A(signalfd),
	A(stat), A(symlink), A(time), A(unlink), A(utime), A(utimes), A(vfork),
#endif

	/* Allowed with one of these capabilities in the app's set (Docker's "includes caps"). */
	C(open_by_handle_at, DAC_READ_SEARCH),
	C(bpf, SYS_ADMIN | BPF), C(perf_event_open, SYS_ADMIN | PERFMON), C(syslog, SYS_ADMIN | SYSLOG),
	C(fanotify_init, SYS_ADMIN), C(lookup_dcookie, SYS_ADMIN), C(quotactl, SYS_ADMIN), C(quotactl_fd, SYS_ADMIN),
	C(mount, SYS_ADMIN), C(umount2, SYS_ADMIN), C(fsopen, SYS_ADMIN), C(fsconfig, SYS_ADMIN), C(fsmount, SYS_ADMIN),
	C(fspick, SYS_ADMIN), C(move_mount, SYS_ADMIN), C(open_tree, SYS_ADMIN), C(open_tree_attr, SYS_ADMIN),
	C(mount_setattr, SYS_ADMIN), C(statmount, SYS_ADMIN), C(listmount, SYS_ADMIN),
	C(setns, SYS_ADMIN), C(unshare, SYS_ADMIN), C(sethostname, SYS_ADMIN), C(setdomainname, SYS_ADMIN),
	C(reboot, SYS_BOOT), C(chroot, SYS_CHROOT), C(acct, SYS_PACCT),
	C(init_module, SYS_MODULE), C(finit_module, SYS_MODULE), C(delete_module, SYS_MODULE),
	C(kcmp, SYS_PTRACE), C(pidfd_getfd, SYS_PTRACE), C(process_madvise, SYS_PTRACE),
	C(settimeofday, SYS_TIME), C(clock_settime, SYS_TIME), C(vhangup, SYS_TTY_CONFIG),
	C(get_mempolicy, SYS_NICE), C(mbind, SYS_NICE), C(set_mempolicy, SYS_NICE), C(set_mempolicy_home_node, SYS_NICE),
#ifdef __x86_64__
	C(iopl, SYS_RAWIO), C(ioperm, SYS_RAWIO),
#endif

	/* Allowed for some arguments only (seccomp.c). */
	X(clone, SC_CLONE), X(clone3, SC_CLONE3), X(personality, SC_PERSONALITY), X(socket, SC_SOCKET),

	/* Refused: the keyring (not namespaced: a pod would share the host's keys), kexec, swap, userfaultfd, io_uring, obsolete calls. */
	D(add_key), D(io_uring_enter), D(io_uring_register), D(io_uring_setup), D(kexec_file_load), D(kexec_load),
	D(keyctl), D(lsm_set_self_attr), D(migrate_pages), D(move_pages), D(nfsservctl), D(pivot_root), D(request_key),
	D(swapoff), D(swapon), D(userfaultfd),
#ifdef __x86_64__
	D(_sysctl), D(afs_syscall), D(create_module), D(get_kernel_syms), D(getpmsg), D(putpmsg), D(query_module),
	D(security), D(sysfs), D(tuxcall), D(uselib), D(ustat), D(vserver),
#endif
};

const size_t sc_table_len = sizeof sc_table / sizeof sc_table[0];
