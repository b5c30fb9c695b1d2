/* Sealed memfd copies of an executable: see sealed-exec.h and stage1/self-clone.c. */
#include "sealed-exec.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int is_sealed_copy(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & SEALS) == SEALS;
}

static int fail(int fd, const char *call, const char **failed)
{
	int saved = errno;

	if (failed != NULL)
		*failed = call;
	if (fd >= 0)
		close(fd);
	errno = saved;
	return -1;
}

/*
 * How much of the file an exec needs: up to the end of the last segment's bytes (and of the
 * program headers). What follows is for debuggers only (sections, symbols, the -g build's DWARF:
 * two thirds of skiff-stage1), and copying it is most of the copy's cost (0.5 ms against 0.17 ms
 * measured here). The kernel reads nothing but the ELF header, the program headers and the
 * segments. Anything but a well-formed ELF64 is copied whole.
 */
static off_t exec_extent(int fd, off_t size)
{
	Elf64_Ehdr eh;
	off_t end;

	if (pread(fd, &eh, sizeof eh, 0) != (ssize_t) sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phoff > (Elf64_Off) size)
		return size;
	end = (off_t) (eh.e_phoff + (Elf64_Off) eh.e_phnum * sizeof(Elf64_Phdr));
	for (Elf64_Half i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof ph, (off_t) (eh.e_phoff + i * sizeof ph)) != (ssize_t) sizeof ph ||
		    ph.p_offset > (Elf64_Off) size || ph.p_filesz > (Elf64_Off) size - ph.p_offset)
			return size;
		if ((off_t) (ph.p_offset + ph.p_filesz) > end)
			end = (off_t) (ph.p_offset + ph.p_filesz);
	}
	return end > size ? size : end;
}

int sealed_copy(int from, const char **failed)
{
	struct stat st;
	off_t off = 0;
	int fd;

	if (fstat(from, &st) < 0)
		return fail(-1, "fstat", failed);
	/* MFD_EXEC says so outright (6.3+, where memfds may default to no-exec); older kernels know no such flag. */
	fd = (int) syscall(SYS_memfd_create, "skiff-stage1", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = (int) syscall(SYS_memfd_create, "skiff-stage1", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return fail(-1, "memfd_create", failed);
	st.st_size = exec_extent(from, st.st_size);
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, from, &off, (size_t) (st.st_size - off));

		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return fail(fd, "sendfile", failed);
		}
	}
	if (fcntl(fd, F_ADD_SEALS, SEALS) < 0)
		return fail(fd, "fcntl(F_ADD_SEALS)", failed);
	return fd;
}

int exec_sealed_copy(const char *path, char *const argv[], char *const envp[], const char **failed)
{
	int from = open(path, O_RDONLY | O_CLOEXEC), copy;

	if (from < 0)
		return fail(-1, "open", failed);
	copy = sealed_copy(from, failed);
	close(from);
	if (copy < 0)
		return -1;
	/* The copy is CLOEXEC: the kernel keeps it for this exec, and no fd of it survives. */
	syscall(SYS_execveat, copy, "", argv, envp, AT_EMPTY_PATH);
	return fail(copy, "execveat", failed);
}
