/*
 * The errno mapping (lwIP's err_t -> -errno); a file of its own because
 * lwIP's TCP_MSS clashes with <netinet/tcp.h>.
 */
#include <errno.h>
#include <stdio.h>

#include "lwip/err.h"

#include "bond.h"

extern int failures, checks;

#define EXPECT(cond) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__,	\
			#cond);						\
	}								\
} while (0)

void test_errno(void);

void
test_errno(void)
{
	EXPECT(bond_errno(ERR_OK, false) == 0);
	EXPECT(bond_errno(ERR_MEM, false) == -ENOBUFS);
	EXPECT(bond_errno(ERR_USE, false) == -EADDRINUSE);
	EXPECT(bond_errno(ERR_RTE, false) == -ENETUNREACH);
	EXPECT(bond_errno(ERR_RST, false) == -ECONNRESET);
	EXPECT(bond_errno(ERR_RST, true) == -ECONNREFUSED);
	EXPECT(bond_errno(ERR_ABRT, true) == -ETIMEDOUT);
	EXPECT(bond_errno(ERR_ABRT, false) == -ETIMEDOUT);	/* retransmit/keepalive gave up */
	EXPECT(bond_errno(ERR_ISCONN, false) == -EISCONN);
	EXPECT(bond_errno(ERR_CONN, false) == -ENOTCONN);
	EXPECT(bond_errno(-100, false) == -EIO);
	for (int e = ERR_ARG; e <= ERR_OK; e++)
		EXPECT(bond_errno(e, false) <= 0 && bond_errno(e, true) <= 0);
}

