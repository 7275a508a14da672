/* Page-granular host memory for data prepared at load (packed weights): anonymous mappings that
 * ask for transparent huge pages. Touching fresh 4 KiB pages one fault at a time was the cost of
 * repacking on the development VM (~0.3 GB/s into new memory against 4-7 GB/s into mapped
 * memory); 2 MiB pages take 512 times fewer faults. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "llmj.h"

int llmj_pages_alloc(size_t bytes, void ** out) {
    if (!out) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (bytes == 0) return LLMJ_FAIL(LLMJ_ERR_INVALID_ARGUMENT, "bytes is 0");
    void * p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return LLMJ_FAIL(LLMJ_ERR_OUT_OF_MEMORY, "mmap of %zu bytes failed: %s", bytes, strerror(errno));
    }
#ifdef MADV_HUGEPAGE
    (void) madvise(p, bytes, MADV_HUGEPAGE);   /* advisory: without THP the 4 KiB pages still work */
#endif
    *out = p;
    return LLMJ_OK;
}

void llmj_pages_free(void * p, size_t bytes) {
    if (p && bytes) munmap(p, bytes);
}
