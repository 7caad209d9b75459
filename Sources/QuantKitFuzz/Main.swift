import CFuzzDriver
import Foundation

/// `QuantKitFuzz MODE [libFuzzer flags] [corpus folders]`, MODE one of FuzzTarget's cases.
/// The mode is also put in QTUI_FUZZ_MODE: libFuzzer's -fork children are started with the flags only.
///
/// Built with `-Xswiftc -sanitize=fuzzer,address` (`make fuzz`) this runs libFuzzer on the target;
/// built without (every ordinary `swift build`), it replays the files given — a way to rerun a
/// crash under the debugger or a plain release build.
@main
enum Main {
    nonisolated(unsafe) static var target = FuzzTarget.safetensors
    nonisolated(unsafe) static var scratch: Scratch!

    static func main() {
        var arguments = CommandLine.arguments
        if arguments.count >= 2, FuzzTarget(rawValue: arguments[1]) != nil {
            setenv("QTUI_FUZZ_MODE", arguments.remove(at: 1), 1)
        }
        guard let target = ProcessInfo.processInfo.environment["QTUI_FUZZ_MODE"].flatMap(FuzzTarget.init) else {
            let modes = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: QuantKitFuzz \(modes) [libFuzzer flags] [corpus…]\n".utf8))
            exit(1)
        }
        Self.target = target
        scratch = Scratch()
        // libFuzzer ends the process with exit(), never returning here.
        atexit { try? FileManager.default.removeItem(atPath: Main.scratch.root) }
        exit(runDriver(arguments))
    }

    static func runDriver(_ arguments: [String]) -> Int32 {
        var argc = Int32(arguments.count)
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = UnsafeMutablePointer.allocate(capacity: arguments.count + 1)
        for (index, argument) in arguments.enumerated() { argv![index] = strdup(argument) }
        argv![arguments.count] = nil
        let status = qk_fuzz_run_driver(&argc, &argv) { data, size in
            Main.target.run(Data(bytes: data!, count: size), in: Main.scratch)
            return 0
        }
        guard status == -1 else { return status }
        // No libFuzzer in this build: replay every file named after the flags.
        for path in arguments.dropFirst() where !path.hasPrefix("-") {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            FileHandle.standardError.write(Data("replaying \(path)\n".utf8))
            target.run(data, in: scratch)
        }
        return 0
    }
}
