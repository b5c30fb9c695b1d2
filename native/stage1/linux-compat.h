/*
 * What stage1 needs from Linux that musl does not declare.
 *
 * stage1 is built with musl when musl-gcc is installed (see Makefile: a
 * static musl binary starts with a fraction of glibc's resident pages, and two
 * stage1 processes stay resident per pod), else with glibc (>= 2.36, Debian
 * 12), which declares all of this itself. musl 1.2 has the syscall numbers
 * but no wrappers for the new mount API or close_range, and musl-gcc does
 * not see the kernel's UAPI headers (-nostdinc): pointing it at
 * /usr/include would drag in glibc's headers too. So the few constants and
 * structs are copied here from the UAPI headers (linux/mount.h,
 * linux/close_range.h, linux/capability.h: stable kernel ABI) and the
 * wrappers are plain syscall(2)s. Only what stage1 uses.
 */
#ifndef SKIFF_STAGE1_LINUX_COMPAT_H
#define SKIFF_STAGE1_LINUX_COMPAT_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<linux/capability.h>)
#include <linux/capability.h>
#else
#define _LINUX_CAPABILITY_VERSION_3 0x20080522
struct __user_cap_header_struct {
	uint32_t version;
	int pid;
};
struct __user_cap_data_struct {
	uint32_t effective, permitted, inheritable;
};
#endif

#ifndef __GLIBC__
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_SYMLINKS 0x00000010
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#define FSMOUNT_CLOEXEC 0x00000001
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static inline int open_tree(int dfd, const char *path, unsigned int flags)
{
	return (int) syscall(SYS_open_tree, dfd, path, flags);
}

static inline int move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path, unsigned int flags)
{
	return (int) syscall(SYS_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

static inline int mount_setattr(int dfd, const char *path, unsigned int flags, struct mount_attr *attr, size_t size)
{
	return (int) syscall(SYS_mount_setattr, dfd, path, flags, attr, size);
}

static inline int fsopen(const char *fsname, unsigned int flags)
{
	return (int) syscall(SYS_fsopen, fsname, flags);
}

static inline int fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
	return (int) syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

static inline int fsmount(int fd, unsigned int flags, unsigned int attr_flags)
{
	return (int) syscall(SYS_fsmount, fd, flags, attr_flags);
}

static inline int close_range(unsigned int first, unsigned int last, int flags)
{
	return (int) syscall(SYS_close_range, first, last, flags);
}
#endif /* !__GLIBC__ */

#endif
