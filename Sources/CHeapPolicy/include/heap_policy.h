#ifndef QTUI_HEAP_POLICY_H
#define QTUI_HEAP_POLICY_H
/* glibc's malloc settings the explorer and the commands run with (qtui's HeapPolicy.swift says why). */

/* Large allocations from the heap, never mmap; freed memory kept, never trimmed automatically. */
void qtui_keep_freed_buffers(void);
/* malloc_trim(0): the heap's free memory back to the kernel. */
void qtui_return_free_memory(void);
#endif
