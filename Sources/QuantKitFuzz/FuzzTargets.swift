import Foundation
import QuantKit

/// One fuzz target per kind of input qtui reads. Each writes the input where qtui would find it and
/// drives the same library entry points `qtui scan` does. Throwing is the expected outcome for almost
/// every input; what counts as a finding is a crash, a sanitizer report, a timeout, an allocation over
/// the limit — or an error that breaks the command line's contract (not a `BadInputError`, or more
/// than one line), which `check` turns into a crash so libFuzzer keeps the input.
enum FuzzTarget: String, CaseIterable {
    case safetensors, gguf, tokenizer, config, runtime

    func run(_ data: Data, in scratch: Scratch) {
        do {
            switch self {
            case .safetensors: try Self.safetensors(data, scratch)
            case .gguf: try Self.gguf(data, scratch)
            case .tokenizer: try Self.tokenizer(data, scratch)
            case .config: try Self.config(data, scratch)
            case .runtime: try Self.runtime(data, scratch)
            }
        } catch {
            // The runtime target builds only models that pass validation: refusing one is a finding too.
            if self == .runtime { fatalError("a valid tiny model was refused: \(error)") }
            Self.check(error)
        }
    }

    /// The command line prints a BadInputError as one line and exits 2; anything else would reach the
    /// user as an unexplained exit 1 or a multi-line message.
    static func check(_ error: Error) {
        if let error = error as? any BadInputError {
            guard !"\(error)".contains("\n") else { fatalError("error spans lines: \(error)") }
            return
        }
        if error is AnalysisError { return }
        fatalError("not a BadInputError: \(type(of: error)): \(error)")
    }

    /// open + layer plan + weight analysis of every converted layer, one thread.
    static func safetensors(_ data: Data, _ scratch: Scratch) throws {
        guard let path = scratch.write(data, as: "input.safetensors") else { return }
        try analyseWeights(Checkpoint(path: path))
    }

    /// read + cache entry + open in place + every tensor decoded + weight analysis.
    static func gguf(_ data: Data, _ scratch: Scratch) throws {
        guard let path = scratch.write(data, as: "input.gguf") else { return }
        let cache = scratch.folder("cache")
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let result = try GGUFConversion(path: path, cacheFolder: cache).run()
        let checkpoint = try Checkpoint(path: result.folder)
        for tensor in checkpoint.tensors {
            var values = [Float](repeating: 0, count: tensor.elementCount)
            values.withUnsafeMutableBufferPointer {
                TensorDecoder.decode(tensor, bytes: checkpoint.bytes(of: tensor), start: 0, count: $0.count, into: $0.baseAddress!)
            }
        }
        try analyseWeights(checkpoint)
        _ = try ModelRuntime(checkpoint: checkpoint)
    }

    /// tokenizer.json: load, then encode texts that reach every stage (specials, spaces, digits,
    /// several scripts, bytes that need fallback) and, as text, the input itself.
    static func tokenizer(_ data: Data, _ scratch: Scratch) throws {
        let tokenizer = try Tokenizer(json: data, source: "tokenizer.json")
        for text in sampleTexts + [String(decoding: data.prefix(256), as: UTF8.self)] {
            _ = try tokenizer.encode(text)
        }
    }

    /// config.json (or, when the input has a weight_map, model.safetensors.index.json) beside a real
    /// tiny llama checkpoint: open, model description and shape checks, one forward pass.
    static func config(_ data: Data, _ scratch: Scratch) throws {
        let sharded = String(decoding: data, as: UTF8.self).contains("weight_map")
        guard let model = scratch.llamaFolder(sharded: sharded),
              scratch.write(data, as: (sharded ? "sharded/model.safetensors.index.json" : "plain/config.json")) != nil
        else { return }
        let checkpoint = try Checkpoint(path: model)
        let runtime = try ModelRuntime(checkpoint: checkpoint)
        _ = try runtime.logits(tokens: [1, 2, 3, 4])
    }

    /// A tiny llama-family model whose geometry comes from the input (always one that passes
    /// validation), run forward on tokens from the input: the runtime's arithmetic on shapes.
    static func runtime(_ data: Data, _ scratch: Scratch) throws {
        var bytes = TinyModel.Bytes(data)
        let model = TinyModel(&bytes)
        let folder = scratch.folder("tiny")
        guard (try? model.write(to: folder)) != nil else { return }
        let runtime = try ModelRuntime(checkpoint: Checkpoint(path: folder))
        let tokens = (0..<(1 + bytes.next() % 24)).map { _ in bytes.next() % model.vocabulary }
        _ = try runtime.logits(tokens: tokens)
        _ = try runtime.negativeLogLikelihood(tokens: tokens)
    }

    static func analyseWeights(_ checkpoint: Checkpoint) throws {
        _ = try ModelAnalyzer(OpenedModel(checkpoint), weights: WeightAnalyzer(blocksize: 64, threads: 1)).report()
    }

    static let sampleTexts = [
        "Hello world! The quick brown fox, 12345 jumps.", "  leading   spaces\tand\nlines  ",
        "<s>special</s> <unk> [CLS] [SEP] <|endoftext|>", "Ünïcödé café 日本語 한국어 العربية 🙂👍🏽",
        "\u{0}\u{1F}\u{7F} e\u{301} ﬁ ＡＢＣ", String(repeating: "ab", count: 300),
    ]
}

/// Where the fixtures the config target builds on live (run from the repository root, as `make fuzz`
/// does, or point QTUI_FUZZ_FIXTURES at Tests/Fixtures).
enum Fixtures {
    static let root = ProcessInfo.processInfo.environment["QTUI_FUZZ_FIXTURES"] ?? "Tests/Fixtures"
    static let llama = root + "/runtime/llama-f32"
}

/// A per-process folder for the files a target writes; /dev/shm when there is one, so the disk is
/// not worn by millions of tiny writes. The harness's own file work can fail (libFuzzer's timer signals
/// interrupt system calls): such an input is skipped, never reported as a finding of the code under test.
struct Scratch {
    let root: String

    init() {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        root = (base as NSString).appendingPathComponent("qtui-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func folder(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    /// Writes `data` to `name` under the root, retrying interrupted writes; nil when it cannot.
    func write(_ data: Data, as name: String) -> String? {
        let path = folder(name)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let written = data.withUnsafeBytes { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let count = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        return written ? path : nil
    }

    /// `plain/` (the fixture's model.safetensors; the input becomes config.json) or `sharded/` (the
    /// fixture's config.json and its weights as the one shard an index may name), made once, by links.
    func llamaFolder(sharded: Bool) -> String? {
        let model = folder(sharded ? "sharded" : "plain")
        let fixture = Fixtures.llama.hasPrefix("/") ? Fixtures.llama : FileManager.default.currentDirectoryPath + "/" + Fixtures.llama
        let links = sharded
            ? ["config.json": fixture + "/config.json", "model-00001-of-00001.safetensors": fixture + "/model.safetensors"]
            : ["model.safetensors": fixture + "/model.safetensors"]
        for (name, target) in links where !FileManager.default.fileExists(atPath: model + "/" + name) {
            try? FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
            guard (try? FileManager.default.createSymbolicLink(atPath: model + "/" + name, withDestinationPath: target)) != nil
            else { return nil }
        }
        return model
    }
}
