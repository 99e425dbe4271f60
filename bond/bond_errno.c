/*
 * lwIP's err_t to the errno Linux reports: the only place it happens.
 */
#include <errno.h>

#include "lwip/err.h"

#include "bond.h"

int
bond_errno(int lwip_err, bool connecting)
{
	switch ((err_t)lwip_err) {
	case ERR_OK:
		return 0;
	case ERR_MEM:
	case ERR_BUF:
		return -ENOBUFS;
	case ERR_TIMEOUT:
		return -ETIMEDOUT;
	case ERR_RTE:
		return -ENETUNREACH;
	case ERR_INPROGRESS:
		return -EINPROGRESS;
	case ERR_VAL:
		return -EINVAL;
	case ERR_WOULDBLOCK:
		return -EAGAIN;
	case ERR_USE:
		return -EADDRINUSE;
	case ERR_ALREADY:
		return -EALREADY;
	case ERR_ISCONN:
		return -EISCONN;
	case ERR_CONN:
		return -ENOTCONN;
	case ERR_IF:
		return -ENETDOWN;
	case ERR_ABRT:
		/*
		 * lwIP reports ERR_ABRT when its timers give up on a
		 * connection: SYNs unanswered, retransmissions or keepalive
		 * probes exhausted. Linux says ETIMEDOUT for all three.
		 * (bond's own tcp_abort() calls detach the callbacks first.)
		 */
		return -ETIMEDOUT;
	case ERR_RST:
		return connecting ? -ECONNREFUSED : -ECONNRESET;
	case ERR_CLSD:
		return -ENOTCONN;
	case ERR_ARG:
		return -EINVAL;
	}
	return -EIO;
}
