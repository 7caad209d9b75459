// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "qtui",
    products: [
        .library(name: "QuantKit", targets: ["QuantKit"]),
        .executable(name: "qtui", targets: ["qtui"]),
        // The fuzz harness (`make fuzz`): libFuzzer when built with -sanitize=fuzzer,address, a replayer
        // otherwise.
        .executable(name: "QuantKitFuzz", targets: ["QuantKitFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // ncursesw from Debian's libncurses-dev; used only by the terminal backend of qtui.
        .systemLibrary(
            name: "CNcurses",
            path: "Sources/CNcurses",
            pkgConfig: "ncursesw",
            providers: [.apt(["libncurses-dev"])]
        ),
        // OpenBLAS's cblas from Debian's libopenblas-dev; the model runtime's matrix products.
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Hot loops (decode + quantize + error accumulation + the exact int8 product) with AVX2/F16C/AVX-512
        // paths chosen at run time, each beside a portable scalar twin that the tests hold it to.
        .target(
            name: "CQuantKernels",
            path: "Sources/CQuantKernels",
            cSettings: [.unsafeFlags(["-O3"])]
        ),
        // The explorer's crash handler: puts the terminal back when a crash skips endwin().
        .target(
            name: "CTerminalRescue",
            path: "Sources/CTerminalRescue"
        ),
        // glibc's malloc settings for the whole process (Sources/qtui/HeapPolicy.swift).
        .target(
            name: "CHeapPolicy",
            path: "Sources/CHeapPolicy"
        ),
        .target(
            name: "QuantKit",
            dependencies: ["CQuantKernels", "CBLAS"],
            path: "Sources/QuantKit",
            // The built-in calibration text, compiled into the binary (no bundle to find at run time).
            resources: [.embedInCode("Resources/calibration.txt")]
        ),
        .executableTarget(
            name: "qtui",
            dependencies: [
                "QuantKit",
                "CNcurses",
                "CTerminalRescue",
                "CHeapPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/qtui"
        ),
        // libFuzzer's entry point, weakly linked so that builds without the fuzzer sanitizer still link.
        .target(
            name: "CFuzzDriver",
            path: "Sources/CFuzzDriver"
        ),
        .executableTarget(
            name: "QuantKitFuzz",
            dependencies: ["QuantKit", "CFuzzDriver"],
            path: "Sources/QuantKitFuzz",
            // gold (the default linker) dies with an internal error on the sanitized link; the
            // toolchain's lld links it.
            linkerSettings: [.unsafeFlags(["-use-ld=lld"])]
        ),
        .testTarget(
            name: "QuantKitTests",
            dependencies: ["QuantKit", "CQuantKernels"],
            path: "Tests/QuantKitTests"
        ),
        // Drives the built qtui binary: exit codes, error lines, output formats.
        .testTarget(
            name: "qtuiTests",
            dependencies: ["qtui", "QuantKit"],
            path: "Tests/qtuiTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
