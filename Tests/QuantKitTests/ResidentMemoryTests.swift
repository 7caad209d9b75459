import Foundation
import XCTest
@testable import QuantKit

/// Passes over a big model release the file pages they have finished with, so a model bigger than memory
/// streams through a resident set of about one layer (here "big" is any size: `releaseAbove: 0`).
/// Measured as the kernel counts it: the resident bytes of the model file's mapping in /proc/self/smaps.
final class ResidentMemoryTests: XCTestCase {
    private var model: SyntheticModel {
        var model = SyntheticModel()
        model.layers = 2
        model.hiddenSize = 256
        model.intermediateSize = 1024
        return model  // about 6 MB of F16
    }

    func testWeightAnalysisAndOutputErrorsLeaveNoLayerResident() throws {
        let folder = TemporaryFolder()
        try model.write(to: folder.path)
        let checkpoint = try Checkpoint(path: folder.path, releaseAbove: 0)
        let file = (folder.path as NSString).appendingPathComponent("model.safetensors")
        let layers = LinearLayerPlan(checkpoint: checkpoint).linears
        try withExtendedLifetime(checkpoint) {
            for layer in layers { _ = try WeightAnalyzer(threads: 2).analyze(layer, in: checkpoint) }
            XCTAssertLessThan(try residentBytes(of: file), limit(file), "after the weight analysis")
            let sample = [Float](repeating: 0.5, count: 8 * layers[0].inFeatures)
            for layer in layers.filter({ $0.inFeatures == layers[0].inFeatures }) {
                _ = try ActivationErrors.measure(layer, in: checkpoint, sample: sample, rows: 8)
            }
            XCTAssertLessThan(try residentBytes(of: file), limit(file), "after the output errors")
        }
    }

    func testForwardPassLeavesNoBlockResident() throws {
        let folder = TemporaryFolder()
        try model.write(to: folder.path)
        let runtime = try ModelRuntime(checkpoint: Checkpoint(path: folder.path, releaseAbove: 0))
        let file = (folder.path as NSString).appendingPathComponent("model.safetensors")
        try withExtendedLifetime(runtime) {
            _ = try runtime.logits(tokens: Array(0..<40))
            XCTAssertLessThan(try residentBytes(of: file), limit(file))
        }
    }

    /// An eighth of the file: pages shared by neighbouring tensors and the small norm vectors stay.
    private func limit(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 8
    }

    /// Σ Rss of the mappings of `path` in this process, in bytes.
    private func residentBytes(of path: String) throws -> Int {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        // Read to the end: /proc files report size 0, and a one-shot read returns only the first page.
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        let smaps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var inside = false, total = 0, mappings = 0
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), fields.count >= 5, !first.hasSuffix(":") {
                inside = fields.count >= 6 && fields[5...].joined(separator: " ") == target
                if inside { mappings += 1 }
            } else if inside, fields.first == "Rss:", fields.count >= 2, let kilobytes = Int(fields[1]) {
                total += kilobytes * 1024
            }
        }
        XCTAssertGreaterThan(mappings, 0, "\(target) is not mapped")
        return total
    }
}
