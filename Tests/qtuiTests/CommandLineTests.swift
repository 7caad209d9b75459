import Foundation
import XCTest
import QuantKit

/// Runs the real `qtui` binary the way a user does and checks exit codes, messages and outputs.
final class CommandLineTests: XCTestCase {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static let binary: URL = {
        // The products folder (.build/<config>) holds the binary; the bundle is that folder on Linux
        // and the .xctest inside it elsewhere.
        let bundle = Bundle(for: CommandLineTests.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("qtui") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Run { try Self.run(arguments, environment: environment) }

    /// The binary with these arguments (and these variables added to the environment), its exit status
    /// and both outputs.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "qtui-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    /// A two-layer llama-like checkpoint in F16 with its config.
    private func writeModel() throws -> String {
        let model = (folder as NSString).appendingPathComponent("tiny")
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        var tensors: [(String, [Int])] = [("model.embed_tokens.weight", [32, 16])]
        for layer in 0..<2 {
            tensors += [("model.layers.\(layer).self_attn.q_proj.weight", [16, 16]),
                        ("model.layers.\(layer).mlp.up_proj.weight", [40, 16]),
                        ("model.layers.\(layer).mlp.down_proj.weight", [16, 40]),
                        ("model.layers.\(layer).input_layernorm.weight", [16])]
        }
        tensors.append(("lm_head.weight", [32, 16]))
        var header: [String] = []
        var data = Data()
        var state: UInt32 = 12345
        for (name, shape) in tensors {
            let count = shape.reduce(1, *)
            let begin = data.count
            for _ in 0..<count {
                state = state &* 1_103_515_245 &+ 12345
                let value = Float16((Float(state >> 8) / Float(1 << 24) - 0.5) * 0.2)
                withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            }
            header.append("\"\(name)\": {\"dtype\": \"F16\", \"shape\": \(shape), \"data_offsets\": [\(begin), \(data.count)]}")
        }
        let json = Data(("{" + header.joined(separator: ", ") + "}").utf8)
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(data)
        FileManager.default.createFile(atPath: model + "/model.safetensors", contents: file)
        FileManager.default.createFile(atPath: model + "/config.json",
                                       contents: Data("{\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"]}".utf8))
        return model
    }

    func testScanPrintsATableWithEveryConvertedLayer() throws {
        let result = try run(["scan", try writeModel(), "--no-calib"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("tiny · llama"))
        XCTAssertTrue(result.stdout.contains("model.layers.1.mlp.down_proj"))
        XCTAssertTrue(result.stdout.contains("6 Linear layers"))
        XCTAssertTrue(result.stdout.contains("Weight-only analysis"))
        XCTAssertFalse(result.stdout.contains("lm_head"), "the output head is not converted")
        XCTAssertEqual(result.stderr, "", "no progress bar when stderr is not a terminal")
    }

    func testAModelQtuiCannotRunFallsBackToWeightsAndSaysWhy() throws {
        // The tiny model's config lacks the llama sizes, so the runtime refuses it.
        let result = try run(["scan", try writeModel()])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Weight-only analysis"))
        XCTAssertTrue(result.stdout.contains("which is unavailable"))
        XCTAssertTrue(result.stderr.hasPrefix("qtui: no activations (weight-only report): "), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)
    }

    private func writeCalibratableModel() throws -> String {
        try qtuiTests.writeCalibratableModel(to: (folder as NSString).appendingPathComponent("calibratable"))
    }

    func testCalibratedScanFindsThePlantedOutlierColumns() throws {
        let model = try writeCalibratableModel()
        let result = try run(["scan", model, "--format", "json", "--tokens", "200"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let report = try decoder.decode(ModelReport.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(report.analysis, "weights+activations")
        XCTAssertEqual(report.calibration?.tokens, 200)
        XCTAssertEqual(report.calibration?.source, "built-in text")
        let query = try XCTUnwrap(report.layers.first { $0.name == "model.layers.0.self_attn.q_proj" }?.activations)
        XCTAssertEqual(query.tokens, 200)
        XCTAssertEqual(query.outlierColumns(at: 6), 3)
        XCTAssertEqual(Set(query.topColumns.prefix(3).map(\.column)), [7, 61, 62])
        let errors = try XCTUnwrap(query.outputErrors)
        let atSix = try XCTUnwrap(errors.thresholds.firstIndex(of: 6))
        XCTAssertLessThan(errors.int8[atSix], errors.int8Pure, "keeping the outlier columns in fp16 helps")
        XCTAssertLessThan(errors.int8Pure, errors.nf4)
        let table = try run(["scan", model, "--tokens", "200", "--threshold", "5.5", "--perplexity", "--full-curve"])
        XCTAssertTrue(table.stdout.contains("outl.cols@5.5"), table.stdout)
        XCTAssertTrue(table.stdout.contains("Calibrated on 200 tokens of built-in text"))
        XCTAssertTrue(table.stdout.contains("perplexity on 200 tokens: fp32 "), table.stdout)
        XCTAssertTrue(table.stdout.contains("KL from fp32, nats: int8@5.5 "), table.stdout)
        XCTAssertTrue(table.stdout.contains("int8 by threshold, perplexity/KL: 1→"), table.stdout)
        XCTAssertTrue(table.stdout.contains("(highest with int8's KL from fp32 ≤ ln(1 + 1.0%) = 0.0100 nats)")
                      || table.stdout.contains("no threshold keeps int8's KL from fp32 within ln(1 + 1.0%) = 0.0100 nats"), table.stdout)
        XCTAssertEqual(try run(["scan", model, "--no-calib", "--perplexity"]).status, 1, "--perplexity needs calibration")
        let alone = try run(["scan", model, "--full-curve"])
        XCTAssertEqual(alone.status, 1)
        XCTAssertTrue(alone.stderr.contains("--full-curve is part of --perplexity"), alone.stderr)
    }

    /// QTUI_MAX_ISA caps every kernel dispatch: `bench` names what ran, and the capped paths give the
    /// same output errors (the int8 product is exact and the quantizers' variants byte-identical).
    func testInstructionSetCapKeepsTheOutputErrors() throws {
        let model = try writeCalibratableModel()
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var errors: [[LayerActivationReport.OutputErrors?]] = []
        for cap in ["", "avx2", "scalar"] {
            let scan = try run(["scan", model, "--format", "json", "--tokens", "64"], environment: ["QTUI_MAX_ISA": cap])
            XCTAssertEqual(scan.status, 0, scan.stderr)
            errors.append(try decoder.decode(ModelReport.self, from: Data(scan.stdout.utf8)).layers.map { $0.activations?.outputErrors })
            let bench = try run(["bench", model, "--repeat", "1"], environment: ["QTUI_MAX_ISA": cap])
            let isa = try XCTUnwrap(bench.stdout.components(separatedBy: "\"isa\":\"").dropFirst().first?.split(separator: "\"").first)
            if cap == "scalar" { XCTAssertEqual(isa, "scalar") }
            if cap == "avx2" { XCTAssertFalse(isa.hasPrefix("avx512"), bench.stdout) }
        }
        XCTAssertTrue(errors[0].contains { $0 != nil })
        XCTAssertEqual(errors[1], errors[0])
        XCTAssertEqual(errors[2], errors[0])
    }

    func testJSONOutputDecodesIntoTheReport() throws {
        let result = try run(["scan", try writeModel(), "--format", "json", "--layers", "mlp"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let report = try decoder.decode(ModelReport.self, from: Data(result.stdout.utf8))
        XCTAssertEqual(report.layers.count, 4)
        XCTAssertEqual(report.totals.linearCount, 6)
        XCTAssertEqual(report.layers.first?.methods.map(\.method), QuantMethod.allCases)
        let nf4 = try XCTUnwrap(report.layers.first?.result(for: .nf4))
        XCTAssertGreaterThan(nf4.relativeError, 0.01)
        XCTAssertLessThan(nf4.relativeError, 0.2)
    }

    func testCSVAndMarkdown() throws {
        let model = try writeModel()
        let csv = try run(["scan", model, "--format", "csv"])
        XCTAssertEqual(csv.status, 0)
        let lines = csv.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 7)
        XCTAssertTrue(lines[0].hasPrefix("layer,tensor,out_features,in_features,dtype"))
        XCTAssertTrue(lines[0].contains("nf4+dq_rel_err"))
        let markdown = try run(["scan", model, "--format", "markdown"])
        XCTAssertTrue(markdown.stdout.contains("| layer "))
    }

    func testBadInputIsOneLineNamingTheFileWithExitCode2() throws {
        let path = (folder as NSString).appendingPathComponent("broken.safetensors")
        FileManager.default.createFile(atPath: path, contents: Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x7B]))
        let result = try run(["scan", path])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1)
        XCTAssertTrue(result.stderr.contains(path), result.stderr)
        let missing = try run(["scan", "/no/such/model"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/no/such/model"))
    }

    func testUsageErrorsExitWith1() throws {
        let model = try writeModel()
        XCTAssertEqual(try run(["scan", model, "--blocksize", "100"]).status, 1)
        XCTAssertEqual(try run(["scan", model, "--format", "xml"]).status, 1)
        XCTAssertEqual(try run(["scan", model, "--layers", "(unclosed"]).status, 1)
        XCTAssertEqual(try run(["scan"]).status, 1)
        // The shared option checks say the same thing in every command that takes the option.
        let out = (folder as NSString).appendingPathComponent("never-written")
        for command in [["scan", model], ["export", model, "--method", "nf4", "--out", out]] {
            let blocksize = try run(command + ["--blocksize", "100"])
            XCTAssertEqual(blocksize.status, 1)
            XCTAssertTrue(blocksize.stderr.contains("--blocksize must be one of 32, 64, 128"), blocksize.stderr)
            let threads = try run(command + ["--threads", "0"])
            XCTAssertEqual(threads.status, 1)
            XCTAssertTrue(threads.stderr.contains("--threads must be at least 1"), threads.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertTrue(try run(["scan", model, "--threshold", "101"]).stderr.contains("--threshold must be between 0 and 100"))
    }

    func testHelpHasExamples() throws {
        let help = try run(["scan", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("Examples:"))
        XCTAssertTrue(help.stdout.contains("--blocksize"))
    }
}
