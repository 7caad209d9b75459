import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Fills the files an `ExportLayout` describes: headers first, each file sized to its final length,
/// then every tensor written at its offset (`pwrite`), from any thread, in any order. Keeps a checksum
/// of every tensor for `verify`. Unchecked Sendable: descriptors and positions are set in `init` and only
/// read after; checksums and the byte count change under `lock`; each thread writes its own tensors.
final class ShardWriter: @unchecked Sendable {
    private let layout: ExportLayout
    private let folder: String
    private let checkpoint: Checkpoint
    private let plan: ExportPlan
    private let threads: Int
    private var descriptors: [Int32] = []
    /// Shard and absolute file offset of every tensor.
    private var positions: [String: (shard: Int, offset: Int)] = [:]
    private var checksums: [String: UInt64] = [:]
    private let lock = NSLock()
    private var bytesDone = 0

    init(layout: ExportLayout, folder: String, checkpoint: Checkpoint, plan: ExportPlan, threads: Int) throws {
        self.layout = layout
        self.folder = folder
        self.checkpoint = checkpoint
        self.plan = plan
        self.threads = threads
        for (index, shard) in layout.shards.enumerated() {
            let path = self.path(of: shard)
            let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw Self.failure(path, "cannot create") }
            descriptors.append(descriptor)
            var length = UInt64(shard.header.count).littleEndian
            try withUnsafeBytes(of: &length) { try write($0, at: 0, shard: index) }
            try shard.header.withUnsafeBytes { try write($0, at: 8, shard: index) }
            guard ftruncate(descriptor, off_t(shard.fileBytes)) == 0 else { throw Self.failure(path, "cannot size the file") }
            var offset = shard.dataStart
            for tensor in shard.tensors {
                positions[tensor.name] = (index, offset)
                offset += tensor.byteCount
            }
        }
    }

    deinit { for descriptor in descriptors where descriptor >= 0 { close(descriptor) } }

    private func path(of shard: ExportLayout.Shard) -> String { (folder as NSString).appendingPathComponent(shard.fileName) }

    /// Work for the threads: each copied or constant tensor, and each converted layer with its tensors.
    private enum Work {
        case tensor(ExportLayout.Tensor)
        case layer(Int, [ExportLayout.Tensor])
    }

    func fill(progress: @escaping (ExportProgress) -> Void, isCancelled: @escaping () -> Bool) throws {
        var perLayer = [[ExportLayout.Tensor]](repeating: [], count: layout.converted.count)
        var copies: [Work] = []
        for tensor in layout.shards.flatMap(\.tensors) {
            if let layer = Self.layerIndex(of: tensor.content) { perLayer[layer].append(tensor) } else { copies.append(.tensor(tensor)) }
        }
        let work = copies + perLayer.enumerated().map { .layer($0.offset, $0.element) }
        let total = layout.tensorBytes
        let failure = Mutex<Error?>(nil)
        let workers = min(threads, max(work.count, 1))
        Parallel.perform(iterations: workers) { worker in
            for item in stride(from: worker, to: work.count, by: workers) {
                if isCancelled() { record(CancellationError(), into: failure); return }
                if failure.withLock({ $0 != nil }) { return }
                do {
                    let written: Int
                    switch work[item] {
                    case .tensor(let tensor):
                        try writeTensor(tensor)
                        written = tensor.byteCount
                    case .layer(let index, let tensors):
                        try writeLayer(index, tensors)
                        written = tensors.reduce(0) { $0 + $1.byteCount }
                    }
                    lock.lock()
                    bytesDone += written
                    let done = bytesDone
                    progress(ExportProgress(phase: "writing", done: done, total: total))
                    lock.unlock()
                } catch {
                    record(error, into: failure)
                    return
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        for (index, descriptor) in descriptors.enumerated() where fsync(descriptor) != 0 {
            throw Self.failure(path(of: layout.shards[index]), "fsync failed")
        }
    }

    /// Keeps the first error: the one that stopped the others.
    private func record(_ error: Error, into failure: borrowing Mutex<Error?>) {
        failure.withLock { if $0 == nil { $0 = error } }
    }

    private static func layerIndex(of content: ExportLayout.Content) -> Int? {
        switch content {
        case .int8Codes(let layer), .int8Scale(let layer), .packed(let layer), .absmax(let layer),
             .absmaxCodes(let layer), .nestedAbsmax(let layer):
            return layer
        default:
            return nil
        }
    }

    /// Tensors whose bytes need no quantization: copies from the input and constants.
    private func writeTensor(_ tensor: ExportLayout.Tensor) throws {
        switch tensor.content {
        case .copy(let source) where source.gguf != nil:
            try emit(tensor, FloatCast.bytes(checkpoint.bytes(of: source), of: source, to: tensor.dtype))
            checkpoint.file(of: source).release(offset: source.dataOffset, count: source.byteCount)
        case .copy(let source):
            try emit(tensor, checkpoint.bytes(of: source))
            checkpoint.file(of: source).release(offset: source.dataOffset, count: source.byteCount)
        case .cast(let source):
            try emit(tensor, FloatCast.bytes(checkpoint.bytes(of: source), of: source, to: tensor.dtype))
            checkpoint.file(of: source).release(offset: source.dataOffset, count: source.byteCount)
        case .weightFormat: try emit(tensor, [UInt8(0)])
        case .quantMap(let type): try emit(tensor, type.code)
        case .nestedQuantMap: try emit(tensor, DynamicMap.values)
        case .quantState(_, let json): try emit(tensor, json)
        default: preconditionFailure("\(tensor.name) belongs to a layer")
        }
    }

    private func writeLayer(_ index: Int, _ tensors: [ExportLayout.Tensor]) throws {
        let layer = layout.converted[index]
        let quantized = QuantizedLayer(layer, in: checkpoint, plan: plan)
        checkpoint.file(of: layer.weight).release(offset: layer.weight.dataOffset, count: layer.weight.byteCount)
        for tensor in tensors {
            switch tensor.content {
            case .int8Codes: try emit(tensor, quantized.int8Codes)
            case .int8Scale: try emit(tensor, quantized.scale)
            case .packed: try emit(tensor, quantized.packed)
            case .absmax: try emit(tensor, quantized.absmax)
            case .absmaxCodes: try emit(tensor, quantized.doubleQuant!.codes)
            case .nestedAbsmax: try emit(tensor, quantized.doubleQuant!.storedNestedAbsmax)
            default: preconditionFailure("\(tensor.name) is not a layer tensor")
            }
        }
    }

    private func emit<T>(_ tensor: ExportLayout.Tensor, _ values: [T]) throws {
        try values.withUnsafeBytes { try emit(tensor, $0) }
    }

    private func emit(_ tensor: ExportLayout.Tensor, _ bytes: UnsafeRawBufferPointer) throws {
        precondition(bytes.count == tensor.byteCount, "\(tensor.name): \(bytes.count) bytes for \(tensor.byteCount)")
        let (shard, offset) = positions[tensor.name]!
        try write(bytes, at: offset, shard: shard)
        let checksum = Self.fnv1a(bytes)
        lock.lock()
        checksums[tensor.name] = checksum
        lock.unlock()
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int, shard: Int) throws {
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptors[shard], bytes.baseAddress! + done, min(bytes.count - done, 1 << 26), off_t(offset + done))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let reason = errno == ENOSPC ? "disk full" : String(cString: strerror(errno))
                throw Self.failure(path(of: layout.shards[shard]), "write failed: \(reason)")
            }
            done += count
        }
    }

    /// Re-opens every file (the reader validates it) and checks names, types, shapes, places and the
    /// checksum of every tensor, and the file sizes, against the layout.
    func verify() throws {
        for descriptor in descriptors { close(descriptor) }
        descriptors = descriptors.map { _ in -1 }
        for shard in layout.shards {
            let path = self.path(of: shard)
            let file: SafetensorsFile
            do { file = try SafetensorsFile(path: path) } catch { throw Self.failure(path, "does not read back: \(error)") }
            guard file.mapped.bytes.count == shard.fileBytes else { throw Self.failure(path, "size differs from the prediction") }
            let read = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0) })
            guard read.count == shard.tensors.count else { throw Self.failure(path, "holds \(read.count) tensors, expected \(shard.tensors.count)") }
            for tensor in shard.tensors {
                guard let found = read[tensor.name], found.dtype == tensor.dtype, found.shape == tensor.shape,
                      found.dataOffset == positions[tensor.name]!.offset else {
                    throw Self.failure(path, "tensor \(tensor.name) is not where it was written")
                }
                guard Self.fnv1a(file.bytes(of: found)) == checksums[tensor.name] else {
                    throw Self.failure(path, "tensor \(tensor.name) reads back different bytes")
                }
                file.mapped.release(offset: found.dataOffset, count: found.byteCount)
            }
        }
    }

    /// FNV-1a, 64 bits: enough to catch a torn or misplaced write.
    static func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    private static func failure(_ path: String, _ message: String) -> ExportError {
        ExportError(file: path, message: message + (errno != 0 && message.hasPrefix("cannot") ? ": \(String(cString: strerror(errno)))" : ""))
    }
}
