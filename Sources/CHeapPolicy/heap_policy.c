#include "heap_policy.h"
#include <limits.h>
#include <malloc.h>

void qtui_keep_freed_buffers(void) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

void qtui_return_free_memory(void) { malloc_trim(0); }
