import Foundation
import XCTest
import QuantKit
@testable import qtui

/// The perplexity part of `qtui scan`'s report, from a report decoded from the documented JSON fields
/// (docs/FORMATS.md), so the decoding checks the field names too.
final class ReportFormatterTests: XCTestCase {
    private func report(suggested: String) throws -> PerplexityReport {
        let json = """
        {"tokens": 512, "fp32": 39.934, "int8": 41.6, "int8Pure": 40.936, "nf4": 50.085, "nf4DoubleQuant": 49.989,
         "fp4": 56.712, "fp4DoubleQuant": 56.5,
         "klDivergence": {"int8": 0.0192, "int8Pure": 0.0317, "nf4": 0.2101, "nf4DoubleQuant": 0.2093, "fp4": 0.3456,
                          "fp4DoubleQuant": 0.3401},
         "int8Curve": [{"threshold": 1, "perplexity": 40.1, "klDivergence": 0.0061},
                       {"threshold": 2, "perplexity": 40.3, "klDivergence": 0.0079},
                       {"threshold": 6, "perplexity": 41.6, "klDivergence": 0.0192}],
         \(suggested) "tolerance": 0.01, "suggestedFp16ColumnShare": 0.127}
        """
        return try JSONDecoder().decode(PerplexityReport.self, from: Data(json.utf8))
    }

    func testPerplexityLinesShowKLAndTheSuggestionWithItsBoundAndCost() throws {
        let text = ReportFormatter.perplexityLines(try report(suggested: #""suggestedThreshold": 2,"#), threshold: 6)
        XCTAssertEqual(text, """
            perplexity on 512 tokens: fp32 39.934 · int8@6 41.600 · int8 40.936 · nf4 50.085 · nf4+dq 49.989 · fp4 56.712 · fp4+dq 56.500
            KL from fp32, nats: int8@6 0.0192 · int8 0.0317 · nf4 0.2101 · nf4+dq 0.2093 · fp4 0.3456 · fp4+dq 0.3401
            int8 by threshold, perplexity/KL: 1→40.100/0.0061 2→40.300/0.0079 6→41.600/0.0192
            suggested threshold: 2 (highest with int8's KL from fp32 ≤ ln(1 + 1.0%) = 0.0100 nats); 12.70% of input columns run in fp16 there


            """)
        // Searched from the top, the curve stops at the suggestion: the thresholds below it are counted.
        let searched = ReportFormatter.perplexityLines(try report(suggested: #""suggestedThreshold": 6,"#), threshold: 6)
        XCTAssertTrue(searched.contains("6→41.600/0.0192 (3 grid thresholds below the suggestion not measured: --full-curve)\n"), searched)
        let none = ReportFormatter.perplexityLines(try report(suggested: ""), threshold: 6)
        XCTAssertTrue(none.hasSuffix("no threshold keeps int8's KL from fp32 within ln(1 + 1.0%) = 0.0100 nats\n\n"), none)
    }

    func testJSONCarriesKLPerMethodAndPerThreshold() throws {
        let encoded = try JSONEncoder().encode(try report(suggested: #""suggestedThreshold": 2,"#))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        let divergences = try XCTUnwrap(object["klDivergence"] as? [String: Double])
        XCTAssertEqual(Set(divergences.keys), ["int8", "int8Pure", "nf4", "nf4DoubleQuant", "fp4", "fp4DoubleQuant"])
        let curve = try XCTUnwrap(object["int8Curve"] as? [[String: Double]])
        XCTAssertEqual(curve.map { $0["klDivergence"] }, [0.0061, 0.0079, 0.0192])
        XCTAssertEqual(object["suggestedThreshold"] as? Double, 2)
    }

    func testBlockRangesJoinConsecutiveBlocks() {
        XCTAssertEqual(ReportFormatter.blockRanges([0, 1, 2, 5, 7, 8]), "0-2 5 7-8")
        XCTAssertEqual(ReportFormatter.blockRanges([3]), "3")
        XCTAssertEqual(ReportFormatter.blockRanges([]), "")
    }
}

extension ReportFormatterTests {
    /// A Mixtral scan says which share bitsandbytes leaves unquantized (the fixture's experts and routers:
    /// 198,656 of 429,312 bytes); a dense model's report has no such line.
    func testMoEReportSaysWhatBitsandbytesLeavesUnquantized() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
        let model = OpenedModel(try Checkpoint(path: fixtures.appendingPathComponent("moe/mixtral-f32").path))
        let report = try ModelAnalyzer(model, weights: WeightAnalyzer(blocksize: 64, threads: 2)).report()
        let line = ReportFormatter.moeLine(report)
        XCTAssertTrue(line.hasPrefix("Of these, 26 MoE expert and router tensors (198.7 kB) are not quantized by bitsandbytes"), line)
        XCTAssertTrue(line.contains(": 46% of the original, "), line)
        XCTAssertTrue(ReportFormatter.table(report, markdown: false).contains(line))
        let dense = OpenedModel(try Checkpoint(path: fixtures.appendingPathComponent("archs/phi3-f32").path))
        XCTAssertEqual(ReportFormatter.moeLine(try ModelAnalyzer(dense, weights: WeightAnalyzer(blocksize: 64, threads: 2)).report()), "")
    }
}
