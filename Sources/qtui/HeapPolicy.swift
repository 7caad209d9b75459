import CHeapPolicy

/// How the process's heap treats large buffers. The analysis frees and allocates buffers of the same
/// few sizes over and over — a layer's decoded weight, its 4-bit reconstructions, a block's weights in
/// every perplexity pass (up to 235 MB each on a 7B model). glibc serves each one above 32 MB with a
/// fresh mmap and unmaps it on free, so every allocation faulted in and zeroed its pages again: 27 of
/// 130 CPU-seconds in the kernel on the 1B benchmark's output-error run, 6 of 48 in its forward passes.
/// Kept in the heap instead, a freed buffer is the next one's memory (1.3–2 s in the kernel).
enum HeapPolicy {
    /// Large allocations come from the heap, and freed memory stays there until `returnFreeMemory`.
    /// Process-wide, so the executable sets it, before any work starts.
    static func keepFreedBuffers() {
        qtui_keep_freed_buffers()
    }

    /// Gives the heap's free memory back to the kernel: after a job, so an idle explorer does not hold
    /// the analysis's high-water mark.
    static func returnFreeMemory() {
        qtui_return_free_memory()
    }
}
