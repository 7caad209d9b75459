import Foundation
import XCTest
@testable import QuantKit

/// GGUF files read in place: the cache entry holds small files only, and every tensor read through the
/// checkpoint — whole, row range by row range, element range by element range — has the bits the old
/// F32 conversion wrote (`referenceValues`, that conversion's loop kept here as the reference), so weight
/// analysis, export and logits are those of the converted folder.
final class GGUFInPlaceTests: XCTestCase {
    /// Every architecture the converter supports, the weight-only path, and together Q8_0, Q4_0, Q4_1,
    /// Q5_0, Q5_1, F16 and F32 tensors, q/k rows un-permuted (llama) and norms stored as w + 1 (gemma).
    static let fixtures = ["tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-phi3", "tiny-falcon", "tiny-gemma2", "tiny-gemma3"]
        .map { fixturesFolder + "/gguf/\($0)/\($0).gguf" } + [fixturesFolder + "/gguf/weight-only/phi2.gguf"]

    /// The old converter's tensor loop (GGUFConversion.writeWeights up to converter version 3): the whole
    /// tensor dequantized, q/k rows un-permuted, Gemma's norms less one.
    static func referenceValues(_ file: GGUFFile) throws -> [(name: String, shape: [Int], values: [Float])] {
        guard let architecture = GGUFArchitecture.of(file) else {
            return try GGUFWeightOnly.tensors(file).map { ($1, $0.shape, try file.dequantize($0)) }
        }
        let config = try GGUFModelConfig(file: file, architecture: architecture)
        return try GGUFConversion.mappedTensors(file, architecture: architecture, config: config).map { tensor, name in
            var values = try file.dequantize(tensor)
            if let heads = config.ropeHeads(forTransformersName: name), tensor.shape.count == 2 {
                values = GGUFRoPEPermutation.unpermuteRows(values, rows: tensor.shape[0], columns: tensor.shape[1], heads: heads)
            }
            if architecture.normsStoredPlusOne, tensor.name.contains("norm.weight") {
                for i in values.indices { values[i] -= 1 }
            }
            return (name, tensor.shape, values)
        }
    }

    /// The folder the old converter wrote for `gguf`: its F32 model.safetensors beside the entry's small files.
    static func referenceFolder(_ gguf: String, entry: String, in folder: TemporaryFolder) throws -> String {
        let target = folder.path + "/reference"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: entry) {
            try FileManager.default.copyItem(atPath: entry + "/" + name, toPath: target + "/" + name)
        }
        var writer = SafetensorsWriter(metadata: GGUFInPlace.metadata)
        for tensor in try referenceValues(try GGUFFile(path: gguf)) {
            writer.add(.init(name: tensor.name, dtype: .f32, shape: tensor.shape, data: tensor.values.withUnsafeBytes { Data($0) }))
        }
        try writer.write(to: target + "/model.safetensors")
        return target
    }

    func testEveryTensorOfEveryFixtureReadsAsTheOldConversionWroteIt() throws {
        for gguf in Self.fixtures {
            try checkValues(of: gguf)
        }
    }

    func testSmolLM2ReadsAsTheOldConversionWroteIt() throws {
        try checkValues(of: try GGUFRealModelTests.model(), rangesPerTensor: 2)
    }

    /// Names, order, shapes and F32 of the old folder, and the same bits whole, by row ranges (the
    /// readers' unit) and by element ranges that start and end inside rows.
    private func checkValues(of gguf: String, rangesPerTensor: Int = 12) throws {
        let cache = TemporaryFolder()
        let checkpoint = try Checkpoint(path: try GGUFConversion(path: gguf, cacheFolder: cache.path).run().folder)
        let reference = try Self.referenceValues(try GGUFFile(path: gguf))
        XCTAssertEqual(checkpoint.tensors.map(\.name), reference.map(\.name), gguf)
        XCTAssertEqual(checkpoint.metadata, ["format": "pt", "source": "gguf"])
        var generator = SplitMix64(seed: 7)
        for (tensor, expected) in zip(checkpoint.tensors, reference) {
            XCTAssertEqual(tensor.shape, expected.shape, tensor.name)
            XCTAssertEqual(tensor.dtype, .f32, tensor.name)
            let count = tensor.elementCount
            var ranges = [0..<count]
            if count > 1 {
                let rowLength = try XCTUnwrap(tensor.gguf).rowLength
                for _ in 0..<rangesPerTensor {
                    let rows = count / rowLength
                    let first = Int(generator.next() % UInt64(rows)), last = first + 1 + Int(generator.next() % UInt64(rows - first))
                    ranges.append(first * rowLength..<last * rowLength)
                    let start = Int(generator.next() % UInt64(count)), end = start + 1 + Int(generator.next() % UInt64(count - start))
                    ranges.append(start..<end)
                }
            }
            for range in ranges {
                var values = [Float](repeating: .nan, count: range.count)
                values.withUnsafeMutableBufferPointer {
                    TensorDecoder.decode(tensor, bytes: checkpoint.bytes(of: tensor), start: range.lowerBound, count: range.count,
                                         into: $0.baseAddress!)
                }
                let same = values.withUnsafeBytes { ours in
                    expected.values[range].withUnsafeBytes { ours.count == $0.count && memcmp(ours.baseAddress!, $0.baseAddress!, ours.count) == 0 }
                }
                XCTAssertTrue(same, "\(gguf): \(tensor.name) \(range): values differ")
            }
        }
    }

    /// What opening writes: three small files, whatever the model's size; the tensors stay in the GGUF.
    func testOpeningWritesNoTensorData() throws {
        let gguf = try GGUFRealModelTests.model()
        let cache = TemporaryFolder()
        let result = try GGUFConversion(path: gguf, cacheFolder: cache.path).run()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: result.folder).sorted(), ["config.json", "source.txt", "tokenizer.json"])
        let bytes = try FileManager.default.contentsOfDirectory(atPath: cache.path).reduce(0) { sum, name in
            try FileManager.default.contentsOfDirectory(atPath: cache.path + "/" + name).reduce(sum) {
                $0 + (try FileManager.default.attributesOfItem(atPath: cache.path + "/" + name + "/" + $1)[.size] as! Int)
            }
        }
        XCTAssertLessThan(bytes, 2_000_000, "the 1.6 MB tokenizer.json and a little more, not 538 MB of F32")
        let checkpoint = try Checkpoint(path: result.folder)
        XCTAssertEqual(checkpoint.file(of: checkpoint.tensors[0]).path, gguf)
        XCTAssertEqual(checkpoint.fileBytes, try FileManager.default.attributesOfItem(atPath: gguf)[.size] as? Int)
    }

    /// A GGUF far larger than the disk (512 GB declared, sparse) opens: nothing it holds is written.
    func testAGGUFLargerThanTheDiskOpensInPlace() throws {
        let cache = TemporaryFolder()
        let metadata: [String: GGUFValue] = [
            "general.architecture": .string("llama"), "llama.embedding_length": .uint32(524_288),
            "llama.feed_forward_length": .uint32(524_288), "llama.block_count": .uint32(1), "llama.attention.head_count": .uint32(16),
            "llama.context_length": .uint32(128), "llama.vocab_size": .uint32(32000),
        ]
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
        var bytes = GGUFConversionTests.metadataOnlyGGUF(metadata)
        bytes.replaceSubrange(8..<16, with: le(UInt64(1)))  // tensor count
        let name = "blk.0.ffn_down.weight"
        bytes += le(UInt64(name.utf8.count)) + Array(name.utf8) + le(UInt32(2)) + le(UInt64(524_288)) + le(UInt64(524_288))
            + le(UInt32(1)) + le(UInt64(0))  // F16, offset 0
        bytes += [UInt8](repeating: 0, count: (32 - bytes.count % 32) % 32)
        let path = cache.write("huge.gguf", bytes)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        do { try handle.truncate(atOffset: UInt64(bytes.count) + (1 << 39)) } catch { throw XCTSkip("no sparse 512 GB file here: \(error)") }
        try handle.close()
        let result = try GGUFConversion(path: path, cacheFolder: cache.path + "/converted").run()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: result.folder).sorted(), ["config.json", "source.txt"])
        let checkpoint = try Checkpoint(path: result.folder)
        let tensor = try XCTUnwrap(checkpoint.tensor(named: "model.layers.0.mlp.down_proj.weight"))
        XCTAssertEqual(tensor.shape, [524_288, 524_288])
        var row = [Float](repeating: .nan, count: 524_288)
        row.withUnsafeMutableBufferPointer {
            TensorDecoder.decode(tensor, bytes: checkpoint.bytes(of: tensor), start: 1_000 * 524_288, count: 524_288, into: $0.baseAddress!)
        }
        XCTAssertTrue(row.allSatisfy { $0 == 0 }, "a sparse file reads as zeros")
    }

    /// Weight analysis, export bytes and logits of the in-place model equal those of the folder the old
    /// converter wrote: tiny-llama (permuted q/k, five block types) and tiny-gemma2 (norms w + 1).
    func testAnalysisExportAndLogitsEqualTheOldConvertedFolder() throws {
        for name in ["tiny-llama", "tiny-gemma2"] {
            let gguf = fixturesFolder + "/gguf/\(name)/\(name).gguf"
            let folder = TemporaryFolder()
            let inPlace = try Checkpoint(path: try GGUFConversion(path: gguf, cacheFolder: folder.path + "/cache").run().folder)
            let converted = try Checkpoint(path: try Self.referenceFolder(gguf, entry: inPlace.path, in: folder))
            XCTAssertNil(converted.gguf)

            let plan = LinearLayerPlan(checkpoint: inPlace)
            XCTAssertEqual(plan.linears.map(\.name), LinearLayerPlan(checkpoint: converted).linears.map(\.name))
            for layer in plan.linears {
                let reference = try XCTUnwrap(LinearLayerPlan(checkpoint: converted).linears.first { $0.name == layer.name })
                let analyzer = WeightAnalyzer(threads: 1)
                XCTAssertEqual(try analyzer.analyze(layer, in: inPlace), try analyzer.analyze(reference, in: converted), layer.name)
            }

            for (method, kept) in [(ExportMethod.nf4, DType?.some(.f16)), (.int8, nil)] {
                var exportPlan = ExportPlan(method: method)
                exportPlan.keptDType = kept
                func export(_ checkpoint: Checkpoint, to target: String) throws -> String {
                    let exporter = Exporter(checkpoint: checkpoint, plan: exportPlan, threads: 2)
                    return try exporter.write(try exporter.layout(), to: folder.path + "/" + target, force: false).directory
                }
                let ours = try export(inPlace, to: "in-place-\(method)"), theirs = try export(converted, to: "converted-\(method)")
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: ours).sorted(),
                               try FileManager.default.contentsOfDirectory(atPath: theirs).sorted())
                for file in try FileManager.default.contentsOfDirectory(atPath: theirs) {
                    XCTAssertTrue(try Data(contentsOf: URL(fileURLWithPath: ours + "/" + file)) == Data(contentsOf: URL(fileURLWithPath: theirs + "/" + file)),
                                  "\(name) \(method): \(file)")
                }
            }

            let ids = Array(0..<12)
            let ours = try ModelRuntime(checkpoint: inPlace).logits(tokens: ids).values
            let theirs = try ModelRuntime(checkpoint: converted).logits(tokens: ids).values
            XCTAssertEqual(ours.map(\.bitPattern), theirs.map(\.bitPattern), "\(name): logits bit for bit")
        }
    }

    /// The F32 folders older versions wrote are listed as stale and removed by every clean, however
    /// recently used; current entries are kept when newer than the cutoff.
    func testStaleF32ConversionsAreListedAndCleaned() throws {
        let cache = TemporaryFolder()
        let current = try GGUFConversion(path: Self.fixtures[0], cacheFolder: cache.path).run().folder
        let stale = current.replacingOccurrences(of: "-c\(GGUFConversion.converterVersion)", with: "-c3")
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        for file in ["config.json", "model.safetensors", "source.txt"] {
            _ = FileManager.default.createFile(atPath: stale + "/" + file, contents: Data(repeating: 1, count: 1000))
        }
        let entries = GGUFCache(folder: cache.path).entries()
        XCTAssertEqual(Set(entries.map(\.folder)), [current, stale])
        XCTAssertEqual(entries.first { $0.folder == stale }?.isStale, true)
        XCTAssertEqual(entries.first { $0.folder == current }?.isStale, false)
        let removed = try GGUFCache(folder: cache.path).clean(usedBefore: Date().addingTimeInterval(-86_400))
        XCTAssertEqual(removed.map(\.folder), [stale])
        XCTAssertEqual(GGUFCache(folder: cache.path).entries().map(\.folder), [current])
    }

    /// An entry whose GGUF is gone, or has other content now, is refused in one line naming the entry.
    func testAnEntryWhoseGGUFChangedOrWentIsRefused() throws {
        let folder = TemporaryFolder()
        let copy = folder.path + "/model.gguf"
        try FileManager.default.copyItem(atPath: Self.fixtures[0], toPath: copy)
        let entry = try GGUFConversion(path: copy, cacheFolder: folder.path + "/cache").run().folder
        _ = try Checkpoint(path: entry)
        try FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: Self.fixtures[1], toPath: copy)
        func refused(_ fragment: String) -> (CheckpointError.Problem) -> Bool {
            { if case .cannotOpen(let reason) = $0 { return reason.contains(fragment) } else { return false } }
        }
        XCTAssertThrowsCheckpointError(try Checkpoint(path: entry), file: entry, refused("has changed since this entry was made"))
        try FileManager.default.removeItem(atPath: copy)
        XCTAssertThrowsCheckpointError(try Checkpoint(path: entry), file: entry, refused("is gone"))
    }

    /// The C twins (qk_gguf_decode) against the Swift decoders on arbitrary bytes — every fp16 scale
    /// pattern possible, NaN among them — bit for bit, for every type with a twin.
    func testCDecodersEqualTheSwiftReferenceOnArbitraryBytes() throws {
        var generator = SplitMix64(seed: 11)
        for type in [0, 1, 2, 3, 8, 12, 14, 30].map({ GGMLType(rawValue: $0) }) {
            let traits = try XCTUnwrap(type.traits)
            let count = 4099
            let bytes = (0..<(count * traits.bytesPerBlock)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            var fast = [Float](repeating: 0, count: count * traits.blockSize), reference = fast
            bytes.withUnsafeBytes { raw in
                fast.withUnsafeMutableBufferPointer { GGUFDequantize.blocks(type, bytes: raw, first: 0, count: count, into: $0.baseAddress!) }
                reference.withUnsafeMutableBufferPointer { GGUFDequantize.blocksReference(type, raw.baseAddress!, count: count, into: $0.baseAddress!) }
            }
            XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), "\(type)")
            XCTAssertTrue(reference.contains { $0.isNaN }, "\(type): the bytes reach NaN")
        }
    }
}
