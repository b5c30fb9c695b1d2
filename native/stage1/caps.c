/*
 * Capabilities without libcap: names, the bounding set (prctl), the process
 * sets (capset v3) and the ambient set.
 *
 * Order matters and is split in two around the identity change (app.c):
 *   caps_drop_bounding()  while still uid 0 with CAP_SETPCAP
 *   setgroups/setresgid/setresuid with PR_SET_KEEPCAPS, so permitted survives
 *   caps_set()            effective = permitted = inheritable = the set, and
 *                         with `ambient` the ambient set too: without it a
 *                         non-root exec ends with no capabilities at all.
 * Root apps get their `caps` and no ambient set; non-root apps get their
 * `ambient-caps` (empty unless asked for: Docker and runc give a non-root
 * process none) as every process set, the bounding set still `caps`.
 */
#include "stage1.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STEP_CONFIG "config"

/* Index = capability number (linux/capability.h), names as `caps` writes them. */
static const char *const cap_names[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define N_CAP_NAMES (sizeof cap_names / sizeof cap_names[0])

int caps_parse(const char *list, uint64_t *mask, struct s1_error *err)
{
	const char *p = list;

	*mask = 0;
	while (*p != '\0') {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < N_CAP_NAMES; i++)
			if (strlen(cap_names[i]) == len && strncmp(cap_names[i], p, len) == 0)
				break;
		if (i == N_CAP_NAMES)
			return s1_fail_msg(err, STEP_CONFIG, "caps: unknown capability '%.*s' in '%s'", (int) len, p, list);
		*mask |= UINT64_C(1) << i;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The highest capability this kernel knows; the bounding set is dropped up to it. */
int caps_last_cap(struct s1_error *err)
{
	char buf[16];
	const char *path = "/proc/sys/kernel/cap_last_cap";

	if (read_small_file(path, buf, sizeof buf) < 0)
		return s1_fail(err, errno, "capabilities", "open", "%s", path);
	return atoi(buf);
}

int caps_drop_bounding(uint64_t caps, int cap_last, const char *step, struct s1_error *err)
{
	for (int c = 0; c <= cap_last && c < 64; c++) {
		if (caps & (UINT64_C(1) << c))
			continue;
		/* EINVAL: a capability the kernel does not have, nothing to drop. */
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return s1_fail(err, errno, step, "prctl(PR_CAPBSET_DROP)", "%s",
				       (size_t) c < N_CAP_NAMES ? cap_names[c] : "?");
	}
	return 0;
}

int caps_set(uint64_t caps, bool ambient, const char *step, struct s1_error *err)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	for (int i = 0; i < 2; i++) {
		uint32_t half = (uint32_t) (caps >> (32 * i));

		data[i].effective = data[i].permitted = data[i].inheritable = half;
	}
	/* EPERM here means the set asks for a capability stage1 itself lacks (e.g. sys_resource). */
	if (syscall(SYS_capset, &header, data) < 0)
		return s1_fail(err, errno, step, "capset", NULL);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return s1_fail(err, errno, step, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", NULL);
	if (!ambient)
		return 0;
	for (int c = 0; c < 64; c++)
		if ((caps & (UINT64_C(1) << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			return s1_fail(err, errno, step, "prctl(PR_CAP_AMBIENT_RAISE)", "%s",
				       (size_t) c < N_CAP_NAMES ? cap_names[c] : "?");
	return 0;
}
