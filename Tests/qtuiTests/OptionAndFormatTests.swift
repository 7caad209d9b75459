import Foundation
import XCTest
import QuantKit

/// The shared options, the calibration text check and the report formats, through the real binary.
final class OptionAndFormatTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "qtui-options-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    private func run(_ arguments: [String]) throws -> CommandLineTests.Run { try CommandLineTests.run(arguments) }

    private func synthetic() throws -> String {
        let model = folder + "/model"
        var spec = SyntheticModel()
        spec.layers = 1
        spec.hiddenSize = 64
        spec.intermediateSize = 176
        spec.vocabularySize = 96
        try spec.write(to: model)
        return model
    }

    /// The calibration fixture with a real tokenizer, so the analysis runs the model.
    private func calibratable() throws -> String {
        try writeCalibratableModel(to: folder + "/calibratable")
    }

    /// A negative number is the option's value, so the user reads the range, not "Missing value".
    func testNegativeNumbersGetTheRangeMessage() throws {
        let model = try synthetic()
        let cases: [([String], String)] = [
            (["scan", model, "--threshold", "-1"], "--threshold must be between 0 and 100, not -1"),
            (["scan", model, "--tokens", "-5"], "--tokens must be at least 16, not -5"),
            (["scan", model, "--threads", "-2"], "--threads must be at least 1"),
            (["scan", model, "--blocksize", "-64"], "--blocksize must be one of 32, 64, 128"),
            (["export", model, "--method", "int8", "--threshold", "-0.5", "--out", folder + "/out"], "--threshold must be between 0 and 100, not -0.5"),
            (["explore", model, "--threshold", "-3"], "--threshold must be between 0 and 100, not -3"),
            (["bench", model, "--tokens", "-1"], "--tokens must be at least 1"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            XCTAssertEqual(result.status, 1, arguments.joined(separator: " "))
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("Missing value"), result.stderr)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out"))
    }

    func testHelpTextsReadOnceAndMentionGGUF() throws {
        for command in ["scan", "export", "explore", "bench"] {
            let help = try run([command, "--help"]).stdout
            XCTAssertTrue(help.contains("Worker threads (default: all cores).\n"), "\(command): \(help)")
        }
        XCTAssertTrue(try run(["--help"]).stdout.contains("GGUF"))
        XCTAssertTrue(try run(["export", "--help"]).stdout.contains("--dtype"))
    }

    /// Every file a `bench --help` example reads is written earlier in the same example.
    func testBenchExamplesNameFilesTheyWriteFirst() throws {
        let help = try run(["bench", "--help"]).stdout
        let lines = help.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.contains(" bench /") }
        XCTAssertFalse(lines.isEmpty, help)
        for line in lines {
            let read = try XCTUnwrap(line.components(separatedBy: " bench ").last?.split(separator: " ").first).description
            XCTAssertTrue(help.contains("--out \(read) "), "\(read) is not written by an example: \(help)")
        }
    }

    /// An empty or tiny --calib file is bad input naming the file and the count, not "Calibrated on 2 tokens".
    func testCalibrationFileMustGiveEnoughTokens() throws {
        let model = try calibratable()
        for (name, text) in [("empty.txt", ""), ("short.txt", "Hello there, world.")] {
            let path = folder + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            let result = try run(["scan", model, "--calib", path])
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertEqual(result.stdout, "")
            XCTAssertTrue(result.stderr.hasPrefix("qtui: \(path): gives "), result.stderr)
            XCTAssertTrue(result.stderr.hasSuffix("tokens with the model's tokenizer; calibration needs at least 16\n"), result.stderr)
        }
    }

    /// GitHub Markdown: a table is a header, a delimiter row and body rows with the same number of cells;
    /// a `|` in a cell must be escaped.
    func testMarkdownIsATableWhoseRowsHaveEqualCellCounts() throws {
        for arguments in [["--no-calib"], ["--tokens", "32"]] {
            let result = try run(["scan", try calibratable(), "--format", "markdown"] + arguments)
            XCTAssertEqual(result.status, 0, result.stderr)
            let tables = result.stdout.components(separatedBy: "\n\n").map { $0.split(separator: "\n").filter { $0.hasPrefix("|") } }
                .filter { !$0.isEmpty }
            // Calibrated, the outlier features (the planted dimensions) get a table of their own.
            XCTAssertEqual(tables.count, arguments == ["--no-calib"] ? 2 : 3, result.stdout)
            for table in tables {
                let counts = table.map { Self.cellCount(String($0)) }
                XCTAssertEqual(Set(counts).count, 1, "\(arguments): \(table.prefix(3))")
            }
            XCTAssertTrue(result.stdout.contains(arguments == ["--no-calib"] ? "max\\|w\\|" : "max\\|x\\|"), result.stdout)
            try? FileManager.default.removeItem(atPath: folder + "/calibratable")
        }
    }

    /// Cells of a GitHub table row: split on `|` not preceded by a backslash, outer pipes dropped.
    static func cellCount(_ row: String) -> Int {
        var cells = 1
        var previous: Character = " "
        for character in row.dropFirst().dropLast() {
            if character == "|" && previous != "\\" { cells += 1 }
            previous = character
        }
        return cells
    }

    /// Off the threshold grid the int8 error is measured exactly at the threshold too, and the CSV says so.
    func testCSVSaysWhereTheInt8ErrorWasMeasured() throws {
        let model = try calibratable()
        for (threshold, measuredAt) in [("5.7", "5.7"), ("6", "6.0")] {
            let result = try run(["scan", model, "--format", "csv", "--tokens", "32", "--threshold", threshold])
            XCTAssertEqual(result.status, 0, result.stderr)
            let rows = result.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let column = try XCTUnwrap(rows[0].firstIndex(of: "out_err_int8_measured_at"))
            XCTAssertEqual(rows[0][column - 1], "out_err_int8_at_threshold")
            XCTAssertEqual(Set(rows.dropFirst().map { $0[column] }), [measuredAt], threshold)
        }
    }

    /// The outlier features in every format: JSON's calibration.outlierFeatures, CSV's two columns per
    /// layer, the table's section.
    func testOutlierFeaturesInJSONCSVAndTable() throws {
        let model = try calibratable()
        let json = try run(["scan", model, "--format", "json", "--tokens", "32"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let report = try JSONDecoder().decode(ModelReport.self, from: Data(json.stdout.utf8))
        let features = try XCTUnwrap(report.calibration?.outlierFeatures)
        XCTAssertEqual(features.features.map(\.dimension), [7, 61, 62])
        XCTAssertEqual(features.countedInputs.map(\.role), [.attention, .mlp, .attention, .mlp])
        XCTAssertEqual(features.positions, 4 * 32)
        XCTAssertEqual(features.features.map(\.layers), [[0, 1], [0, 1], [0, 1]])

        let csv = try run(["scan", model, "--format", "csv", "--tokens", "32"])
        let rows = csv.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(Array(rows[0].suffix(4)), ["hidden_state_input", "outlier_features_in_block", "routed_tokens", "what_if"])
        let byLayer = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[0], Array($0.suffix(4).prefix(2))) })
        XCTAssertEqual(byLayer["model.layers.1.self_attn.k_proj"], ["attention", "7 61 62"])
        XCTAssertEqual(byLayer["model.layers.0.mlp.up_proj"], ["mlp", "7 61 62"])
        XCTAssertEqual(byLayer["model.layers.0.self_attn.o_proj"], ["", ""])
        XCTAssertEqual(byLayer["model.layers.1.mlp.down_proj"], ["", ""])

        let table = try run(["scan", model, "--tokens", "32"]).stdout
        XCTAssertTrue(table.contains("Outlier features (LLM.int8 paper): hidden dimensions with |x| ≥ 6 in ≥ 25% of 2 blocks and ≥ 6% of "
                                     + "128 positions (4 attention and first-MLP inputs, hidden size 64): 3."), table)
    }

    /// A GGUF's original is its own file (not the F32 cache folder), and totals count the kept tensors in
    /// the dtype an export writes them in: float16 by default for a GGUF, else --dtype.
    func testScanSizesAGGUFByItsFileAndKeptTensorsByDType() throws {
        let gguf = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gguf/tiny-llama/tiny-llama.gguf").path
        let fileBytes = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: gguf)[.size] as? Int)
        var reports: [ModelReport] = []
        for extra in [[], ["--dtype", "float32"]] {
            let result = try CommandLineTests.run(["scan", gguf, "--no-calib", "--format", "json"] + extra, environment: ["QTUI_CACHE": folder + "/cache"])
            XCTAssertEqual(result.status, 0, result.stderr)
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            reports.append(try decoder.decode(ModelReport.self, from: Data(result.stdout.utf8)))
        }
        let (half, single) = (reports[0], reports[1])
        XCTAssertEqual(half.model.fileBytes, fileBytes)
        XCTAssertEqual(half.totals.originalBytes, fileBytes)
        XCTAssertEqual(Set(half.kept.map(\.dtype)), [.f16])
        XCTAssertEqual(Set(single.kept.map(\.dtype)), [.f32])
        XCTAssertEqual(single.totals.keptBytes, 2 * half.totals.keptBytes)
        for (a, b) in zip(half.totals.methods, single.totals.methods) {
            XCTAssertEqual(b.bytes - a.bytes, half.totals.keptBytes, "\(a.method): only the kept tensors change")
        }
        let exported = try CommandLineTests.run(["export", gguf, "--method", "nf4", "--out", folder + "/nf4"], environment: ["QTUI_CACHE": folder + "/cache"])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        let tensorBytes = try Checkpoint(path: folder + "/nf4").tensors.reduce(0) { $0 + $1.byteCount }
        let predicted = try XCTUnwrap(half.totals.methods.first { $0.method == .nf4 }?.bytes)
        XCTAssertEqual(tensorBytes, predicted, "the scan's nf4 total is the export's tensor bytes")
    }
}

/// `--perplexity` on a model that predicts no next token says why instead of printing the same report.
final class EncoderPerplexityTests: XCTestCase {
    func testScanOfAnEncoderSaysWhyThereIsNoPerplexity() throws {
        let folder = NSTemporaryDirectory() + "qtui-encoder-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("runtime/bert-f32").path, toPath: folder)
        // The fixture's 256-entry vocabulary: BERT's tokenizer cut to the ids it has ([UNK] included).
        let tokenizer = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("tokenizers/bert.tokenizer.json")))
        var json = try XCTUnwrap(tokenizer as? [String: Any])
        var model = try XCTUnwrap(json["model"] as? [String: Any])
        model["vocab"] = try XCTUnwrap(model["vocab"] as? [String: Int]).filter { $0.value < 256 }
        json["model"] = model
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))

        let result = try CommandLineTests.run(["scan", folder, "--perplexity", "--tokens", "64", "--format", "json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("qtui: no perplexity: bert has no language-model head"), result.stderr)
        let report = try JSONDecoder().decode(ModelReport.self, from: Data(result.stdout.utf8))
        XCTAssertNil(report.calibration?.unavailable, "the encoder itself runs: its activations are there")
        XCTAssertNil(report.calibration?.perplexity)
        XCTAssertEqual(report.calibration?.perplexityUnavailable, "bert has no language-model head (an encoder predicts no next token)")
    }
}
