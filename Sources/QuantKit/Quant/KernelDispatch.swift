import CQuantKernels

/// Which instruction-set paths the C kernels take in this process: the widest the CPU has, capped by the
/// environment variable QTUI_MAX_ISA (`avx2` or `scalar`) so a machine with AVX-512 can measure the paths
/// of one without. Decided once, in CQuantKernels' dispatch.c; benchmarks print it.
public enum KernelDispatch {
    /// "avx512-vnni", "avx512", "avx2" or "scalar".
    public static var instructionSet: String { String(cString: qk_isa_name()) }
}
