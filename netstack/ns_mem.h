/* lwIP's heap (ns_mem.c); lwIP's own API is lwip/mem.h. Lock held. */
#ifndef ZPNET_NS_MEM_H
#define ZPNET_NS_MEM_H

#include <stddef.h>

/* Walk the whole heap and its free lists and stop the process (NS_ASSERT)
 * on anything inconsistent: for tests. Returns the blocks in use; *free:
 * the payload bytes free. */
size_t ns_mem_check(size_t *free_bytes);

#endif
