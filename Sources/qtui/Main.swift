import ArgumentParser
import Foundation
import QuantKit

/// Entry point: runs the command tree and turns errors into the documented exit codes —
/// 0 ok, 1 usage, 2 bad input (one line naming the file and what is wrong).
@main
enum Main {
    static func main() {
        BLAS.useSingleThreaded
        HeapPolicy.keepFreedBuffers()
        do {
            var command = try Qtui.parseAsRoot()
            try command.run()
        } catch let error as any BadInputError {
            fail("\(error)", code: 2)
        } catch let error as AnalysisError {
            fail("\(error)", code: 1)
        } catch is CancellationError {
            guard let signal = Interruption.signalNumber else { fail("cancelled", code: 130) }
            fail("interrupted by \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); nothing was written", code: 128 + signal)
        } catch {
            let code = Qtui.exitCode(for: error)
            if code == .success || code == .validationFailure {
                let message = Qtui.fullMessage(for: error)
                if code == .success {
                    print(message)
                    exit(0)
                }
                FileHandle.standardError.write(Data((message + "\n").utf8))
                exit(1)
            }
            fail(Qtui.message(for: error), code: code.rawValue)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("qtui: \(message)\n".utf8))
        exit(code)
    }
}

/// A problem with something the user gave (a file, a value), reported like CheckpointError.
struct InputError: BadInputError {
    let file: String
    let message: String
}
