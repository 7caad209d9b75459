import Foundation
import XCTest
import QuantKit

/// `qtui scan` on an MoE model through the real binary: the experts section in every format, its routed
/// counts those of transformers' hooks (scripts/fixtures/make_moe_fixtures.py's mixtral with 8 experts,
/// one per token, on 16 calibration tokens, so that some experts receive none), idle experts said to be
/// so, what-if errors labelled as not what bitsandbytes in transformers does.
final class ScanExpertsCommandTests: XCTestCase {
    private static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/moe")
    private static let model = fixtures.appendingPathComponent("mixtral-idle-f32").path

    /// transformers' routed-token counts per layer for the first 16 calibration tokens.
    private func routed() throws -> [Int: [Int]] {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("manifest.json")))
        let entry = try XCTUnwrap(((manifest as? [String: Any])?["cases"] as? [String: Any])?["mixtral-idle-f32"] as? [String: Any])
        let counts = try XCTUnwrap(entry["calibration_routed_tokens"] as? [String: [Int]])
        return Dictionary(uniqueKeysWithValues: counts.map { (Int($0.key)!, $0.value) })
    }

    private func scan(_ extra: [String]) throws -> String {
        let result = try CommandLineTests.run(["scan", Self.model, "--tokens", "16"] + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }

    func testTableListsRoutingPerExpertAndLabelsTheWhatIf() throws {
        let routed = try routed()
        let table = try scan([])
        XCTAssertTrue(table.contains("MoE experts (kept unquantized: bitsandbytes in transformers does not quantize routed experts). "
                                     + "Calibration tokens routed to each expert (each token to 1 of 8); what-if: the output error if the "
                                     + "expert were quantized, the largest of its gate/up/down projections — NOT what bitsandbytes in "
                                     + "transformers does."), table)
        XCTAssertTrue(table.contains("what-if int8@6  what-if int8  what-if nf4  what-if fp4"), table)
        var seen = 0
        for line in table.split(separator: "\n") where line.hasPrefix("model.layers.") && line.contains("block_sparse_moe ") {
            let cells = line.split(separator: " ").map(String.init)
            let block = Int(cells[0].split(separator: ".")[2])!, expert = Int(cells[1])!, tokens = Int(cells[2])!
            XCTAssertEqual(tokens, routed[block]?[expert], String(line))
            XCTAssertEqual(line.contains("no calibration tokens"), tokens == 0, String(line))
            seen += 1
        }
        XCTAssertEqual(seen, 16)
        XCTAssertFalse(try scan(["--no-calib"]).contains("MoE experts"), "without calibration there is no routing to show")
    }

    func testJSONCarriesRoutingStatisticsAndLabelledWhatIf() throws {
        let routed = try routed()
        let report = try JSONDecoder().decode(ModelReport.self, from: Data(try scan(["--format", "json"]).utf8))
        let layers = try XCTUnwrap(report.experts)
        XCTAssertEqual(layers.map(\.block), [0, 1])
        for layer in layers {
            XCTAssertEqual(layer.tokens, 16)
            XCTAssertEqual(layer.topK, 1)
            XCTAssertEqual(layer.experts.map(\.routedTokens), routed[layer.block])
            for expert in layer.experts {
                XCTAssertEqual(expert.gateUpInput?.tokens, expert.routedTokens == 0 ? nil : expert.routedTokens, expert.gate)
                XCTAssertEqual(expert.whatIf?.note, expert.routedTokens == 0 ? nil : ExpertReport.WhatIf.note, expert.gate)
            }
        }
        XCTAssertEqual(report.totals, try JSONDecoder().decode(ModelReport.self, from: Data(try scan(["--format", "json", "--no-calib"]).utf8)).totals,
                       "the experts are not in the totals")
    }

    func testCSVHasARowPerExpertProjection() throws {
        let routed = try routed()
        let rows = try scan(["--format", "csv"]).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        let column = { (name: String) in header.firstIndex(of: name)! }
        let experts = rows.dropFirst().filter { $0[0].contains(".experts.") }
        XCTAssertEqual(experts.count, 16 * 3)
        for row in experts {
            XCTAssertEqual(row.count, header.count)
            let parts = row[0].split(separator: ".")
            let tokens = try XCTUnwrap(routed[Int(parts[2])!]?[Int(parts[5])!])
            XCTAssertEqual(row[column("routed_tokens")], "\(tokens)", row[0])
            XCTAssertEqual(row[column("what_if")], tokens == 0 ? "no calibration tokens" : ExpertReport.WhatIf.note, row[0])
            XCTAssertEqual(row[column("out_err_nf4")].isEmpty, tokens == 0, row[0])
            XCTAssertEqual(row[column("int8_rel_err")], "", "no weight numbers: the expert is kept")
        }
        XCTAssertTrue(rows.dropFirst().filter { !$0[0].contains(".experts.") }.allSatisfy { $0[column("what_if")].isEmpty })
    }

    func testMarkdownTableOfExperts() throws {
        let markdown = try scan(["--format", "markdown"])
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("| moe layer") || $0.hasPrefix("| model.layers.0.block_sparse_moe") }
        XCTAssertEqual(rows.count, 1 + 8, markdown)
        XCTAssertTrue(rows[0].contains("max\\|x\\| gate/up in |"), String(rows[0]))
        XCTAssertTrue(rows.contains { $0.contains("| no calibration tokens |") }, markdown)
    }
}
