/*
 * syscalls.def's libc prototypes checked once more, without
 * _FILE_OFFSET_BITS=64: bond_preload.c cannot include <sys/sendfile.h>,
 * which under it renames sendfile to sendfile64, so there sendfile and
 * sendfile64 would be checked against nothing. Here each BOND_LIBC line is
 * declared beside glibc's own declaration, in the header set of a program
 * built without large-file offsets; a type that differs fails the build.
 * Declarations only: this file adds no code.
 */
#undef _FILE_OFFSET_BITS
#ifndef _LARGEFILE64_SOURCE
#define _LARGEFILE64_SOURCE 1	/* sendfile64 */
#endif
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bond_sys.h"

#define BOND_LIBC(ret, name, sysname, types)	ret name(BOND_PARAMS(types));
#include "syscalls.def"
