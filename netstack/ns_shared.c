/*
 * One stack per process tree: the ranges ns_shared.ld gathers (lwIP's,
 * netstack's and bond's shared state) become MAP_SHARED memory before the
 * stack starts, at the same addresses, so fork() shares them as it shares
 * the kernel's sockets. DPDK's own memory (mbufs, rings, device data) is
 * shared already: a memfd, or hugepages, mapped MAP_SHARED.
 *
 * A program linked without the script (zpnet-stackdemo) has no ranges and
 * keeps its stack private.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ns_shared.h"

#define NS_PAGE		4096ul

extern char __zp_shared_data_start[] __attribute__((weak, visibility("hidden")));
extern char __zp_shared_data_end[] __attribute__((weak, visibility("hidden")));
extern char __zp_shared_bss_start[] __attribute__((weak, visibility("hidden")));
extern char __zp_shared_bss_end[] __attribute__((weak, visibility("hidden")));

static bool shared;

static bool
page_is_zero(const unsigned char *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < NS_PAGE / sizeof(*w); i++)
		if (w[i] != 0)
			return false;
	return true;
}

/*
 * Move [start, end) onto shared memory with the same contents. Only the
 * pages that hold something are copied (lwIP's heap and pools are tens of
 * MiB of zeroes until used: mincore() says which pages were ever touched).
 */
static int
share_range(char *start, char *end, char *err, size_t errlen)
{
	size_t len = (size_t)(end - start), pages = len / NS_PAGE;
	unsigned char vec[256];
	char *tmp;

	if (len == 0)
		return 0;
	if ((uintptr_t)start % NS_PAGE || len % NS_PAGE) {
		snprintf(err, errlen, "shared range %p-%p is not page aligned",
			 (void *)start, (void *)end);
		return -EINVAL;
	}
	tmp = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %zu KiB of shared memory: %s",
			 len / 1024, strerror(errno));
		return -errno;
	}
	for (size_t first = 0; first < pages; first += sizeof(vec)) {
		size_t n = pages - first < sizeof(vec) ? pages - first : sizeof(vec);

		if (mincore(start + first * NS_PAGE, n * NS_PAGE, vec) < 0)
			memset(vec, 1, n);	/* cannot tell: look at every page */
		for (size_t i = 0; i < n; i++) {
			char *src = start + (first + i) * NS_PAGE;

			if ((vec[i] & 1) && !page_is_zero((unsigned char *)src))
				memcpy(tmp + (src - start), src, NS_PAGE);
		}
	}
	if (mremap(tmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, start) == MAP_FAILED) {
		snprintf(err, errlen, "cannot move the stack's memory to shared "
			 "pages: %s", strerror(errno));
		munmap(tmp, len);
		return -errno;
	}
	return 0;
}

int
ns_shared_init(char *err, size_t errlen)
{
	int rc;

	if (shared || __zp_shared_bss_start == NULL)
		return 0;
	rc = share_range(__zp_shared_data_start, __zp_shared_data_end, err, errlen);
	if (rc == 0)
		rc = share_range(__zp_shared_bss_start, __zp_shared_bss_end, err, errlen);
	if (rc == 0)
		shared = true;
	return rc;
}

bool
ns_shared_active(void)
{
	return shared;
}
