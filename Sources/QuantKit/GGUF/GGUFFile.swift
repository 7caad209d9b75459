/// One tensor of a GGUF file. ggml lists dimensions innermost first (`ne[0]` is the length of a row);
/// `shape` is the PyTorch order, the reverse, so a [out, in] weight has `ggmlDimensions == [in, out]`.
public struct GGUFTensor: Sendable, Hashable {
    public let name: String
    public let type: GGMLType
    public let ggmlDimensions: [Int]
    /// The offset as stored: relative to the start of the data section, a multiple of the alignment.
    public let relativeOffset: Int
    /// Absolute offset in the file.
    public let dataOffset: Int
    /// nil when the type number is unknown (its size cannot be known).
    public let byteCount: Int?

    public var shape: [Int] { ggmlDimensions.reversed() }
    public var elementCount: Int { ggmlDimensions.reduce(1, *) }
    public var blockCount: Int? { type.traits.map { elementCount / $0.blockSize } }
    public var shapeText: String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}

public struct GGUFMetadataEntry: Sendable, Equatable {
    public let key: String
    public let value: GGUFValue
}

/// A GGUF file (versions 2 and 3), mapped and validated.
///
///     |u32 magic "GGUF"|u32 version|u64 tensor_count|u64 kv_count|kv × kv_count|tensor info × tensor_count|pad|data…|
///     kv          = |string key|u32 value_type|value|
///     string      = |u64 LE n|n bytes UTF-8|                    (no terminator)
///     value       = u8 i8 u16 i16 u32 i32 f32 | bool (1 byte) | string | u64 i64 f64 (all LE)
///                 | array = |u32 element_type|u64 count|count × value of that type|  (arrays may nest)
///     tensor info = |string name|u32 n_dims ≤ 4|u64 ne[0] … ne[n_dims−1]|u32 ggml_type|u64 offset|
///     pad         = zeros up to a multiple of general.alignment (u32 metadata, default 32)
///     offset      is relative to the data start, a multiple of the alignment; the tensor holds
///                 ne[0]·…·ne[n−1] / block_size × bytes_per_block bytes (ne[0] a multiple of block_size).
///
/// Version 1 (u32 counts) is refused. Every count is checked against the bytes left before anything is
/// allocated for it; every known-type tensor lies inside the file and no two overlap. Unknown type
/// numbers are kept so the tensor can be listed; decoding such a tensor throws.
public final class GGUFFile: Sendable {
    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    public static let maxDimensions = 4
    /// Nesting depth of arrays inside arrays beyond which a file is refused (ggml itself reads none).
    public static let maxArrayDepth = 8

    public let mapped: MappedFile
    public let version: UInt32
    /// In file order.
    public let metadata: [GGUFMetadataEntry]
    /// In file order.
    public let tensors: [GGUFTensor]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataStart: Int

    private let metadataIndex: [String: Int]

    public var path: String { mapped.path }

    public subscript(key: String) -> GGUFValue? { metadataIndex[key].map { metadata[$0].value } }

    public init(path: String) throws {
        mapped = try MappedFile(path: path)
        var reader = GGUFReader(cursor: ByteCursor(mapped.bytes, file: path))
        let magic = try reader.cursor.readBytes(4)
        guard Array(magic) == Self.magic else { throw CheckpointError(file: path, .notGGUF(magic: Array(magic))) }
        version = try reader.cursor.readUInt32()
        guard version == 2 || version == 3 else { throw CheckpointError(file: path, .unsupportedGGUFVersion(version)) }
        let tensorCount = try reader.cursor.readUInt64()
        let metadataCount = try reader.count(try reader.cursor.readUInt64(), minimumBytes: 8 + 4 + 1, what: "metadata count",
                                             at: reader.cursor.offset - 8)

        var entries: [GGUFMetadataEntry] = []
        var index: [String: Int] = [:]
        for _ in 0..<metadataCount {
            let entry = try reader.readEntry()
            guard index[entry.key] == nil else {
                throw CheckpointError(file: path, .invalidMetadata(key: entry.key, reason: "appears twice"))
            }
            index[entry.key] = entries.count
            entries.append(entry)
        }
        metadata = entries
        metadataIndex = index
        alignment = try Self.alignment(entries.first { $0.key == "general.alignment" }?.value, path: path)

        let infoCount = try reader.count(tensorCount, minimumBytes: 8 + 4 + 4 + 8, what: "tensor count", at: 8)
        var infos: [GGUFReader.Info] = []
        infos.reserveCapacity(infoCount)
        for _ in 0..<infoCount { infos.append(try reader.readTensorInfo()) }

        let headerEnd = reader.cursor.offset
        dataStart = (headerEnd + alignment - 1) / alignment * alignment
        tensors = try Self.place(infos, dataStart: dataStart, alignment: alignment,
                                 dataSize: max(0, mapped.bytes.count - dataStart), path: path)
    }

    /// The bytes of one of this file's tensors, a view into the mapping.
    public func bytes(of tensor: GGUFTensor) throws -> UnsafeRawBufferPointer {
        guard let count = tensor.byteCount else {
            throw CheckpointError(file: path, .unsupportedGGMLType(String(tensor.type.rawValue), known: false, tensor: tensor.name))
        }
        return UnsafeRawBufferPointer(rebasing: mapped.bytes[tensor.dataOffset..<(tensor.dataOffset + count)])
    }

    /// The whole tensor as Float, in its flat row-major (PyTorch) order.
    public func dequantize(_ tensor: GGUFTensor) throws -> [Float] {
        let bytes = try decodableBytes(of: tensor)
        return GGUFDequantize.tensor(tensor.type, bytes: bytes)
    }

    /// Blocks [first, first + count) of a tensor (`blockSize` values each, in flat order) into
    /// `destination`, which must hold count × blockSize values: a streaming reader's unit of work.
    public func dequantizeBlocks(of tensor: GGUFTensor, first: Int, count: Int,
                                 into destination: UnsafeMutablePointer<Float>) throws {
        let bytes = try decodableBytes(of: tensor)
        precondition(first >= 0 && count >= 0 && first + count <= tensor.blockCount!, "block range outside the tensor")
        GGUFDequantize.blocks(tensor.type, bytes: bytes, first: first, count: count, into: destination)
    }

    private func decodableBytes(of tensor: GGUFTensor) throws -> UnsafeRawBufferPointer {
        guard tensor.type.isDequantizable else {
            let type = tensor.type.traits?.name ?? String(tensor.type.rawValue)
            throw CheckpointError(file: path, .unsupportedGGMLType(type, known: tensor.type.isKnown, tensor: tensor.name))
        }
        return try bytes(of: tensor)
    }

    private static func alignment(_ value: GGUFValue?, path: String) throws -> Int {
        guard let value else { return defaultAlignment }
        guard case .uint32(let raw) = value else {
            throw CheckpointError(file: path, .invalidMetadata(key: "general.alignment", reason: "is \(value.type), not uint32"))
        }
        guard raw > 0, raw & (raw - 1) == 0 else {
            throw CheckpointError(file: path, .invalidMetadata(key: "general.alignment", reason: "\(raw) is not a power of two"))
        }
        return Int(raw)
    }

    /// Sizes and places every tensor, then checks that ranges stay inside the data and do not overlap.
    private static func place(_ infos: [GGUFReader.Info], dataStart: Int, alignment: Int, dataSize: Int,
                              path: String) throws -> [GGUFTensor] {
        var names = Set<String>()
        var tensors: [GGUFTensor] = []
        for info in infos {
            func bad(_ reason: String) -> CheckpointError { CheckpointError(file: path, .invalidEntry(tensor: info.name, reason: reason)) }
            guard names.insert(info.name).inserted else { throw bad("appears twice") }
            guard info.offset % UInt64(alignment) == 0 else { throw bad("offset \(info.offset) is not a multiple of the alignment \(alignment)") }
            let offset = Int(clamping: info.offset)
            var byteCount: Int?
            var end = offset
            if let traits = info.type.traits {
                let elements = info.dimensions.reduce(1, *)
                guard info.dimensions.first.map({ $0 % traits.blockSize == 0 }) ?? (traits.blockSize == 1) else {
                    throw bad("row length \(info.dimensions.first ?? 1) is not a multiple of \(info.type)'s block of \(traits.blockSize)")
                }
                let bytes = (elements / traits.blockSize).multipliedReportingOverflow(by: traits.bytesPerBlock)
                let sum = offset.addingReportingOverflow(bytes.partialValue)
                end = bytes.overflow || sum.overflow ? Int.max : sum.partialValue
                byteCount = bytes.partialValue
            }
            guard end <= dataSize else {
                throw CheckpointError(file: path, .offsetsOutsideData(tensor: info.name, end: end, dataSize: dataSize))
            }
            tensors.append(GGUFTensor(name: info.name, type: info.type, ggmlDimensions: info.dimensions,
                                      relativeOffset: offset, dataOffset: dataStart + offset, byteCount: byteCount))
        }
        let sized = tensors.filter { ($0.byteCount ?? 0) > 0 }.sorted { ($0.dataOffset, $0.name) < ($1.dataOffset, $1.name) }
        for (previous, tensor) in zip(sized, sized.dropFirst()) where tensor.dataOffset < previous.dataOffset + previous.byteCount! {
            throw CheckpointError(file: path, .overlapping(tensor: tensor.name, other: previous.name))
        }
        return tensors
    }
}

/// The header grammar on top of the bounds-checked cursor.
private struct GGUFReader {
    struct Info {
        let name: String
        let dimensions: [Int]
        let type: GGMLType
        let offset: UInt64
    }

    var cursor: ByteCursor

    var file: String { cursor.file }

    /// `declared` as an Int, refused when even `minimumBytes` per item would not fit in the bytes left.
    func count(_ declared: UInt64, minimumBytes: Int, what: String, at offset: Int) throws -> Int {
        let limit = cursor.remaining / minimumBytes
        guard declared <= UInt64(limit) else {
            throw CheckpointError(file: file, .absurdCount(what: what, count: declared, offset: offset, limit: limit))
        }
        return Int(declared)
    }

    mutating func readString() throws -> String {
        let at = cursor.offset
        let length = try cursor.readUInt64()
        guard length <= UInt64(cursor.remaining) else {
            throw CheckpointError(file: file, .stringTooLong(length: length, offset: at, available: cursor.bytes.count))
        }
        // Invalid UTF-8 is replaced (U+FFFD) rather than refused: ggml does not check it either.
        return String(decoding: try cursor.readBytes(Int(length)), as: UTF8.self)
    }

    mutating func readEntry() throws -> GGUFMetadataEntry {
        let key = try readString()
        let type = try valueType(try cursor.readUInt32(), key: key)
        return GGUFMetadataEntry(key: key, value: try readValue(type, key: key, depth: 0))
    }

    func valueType(_ raw: UInt32, key: String) throws -> GGUFValueType {
        guard let type = GGUFValueType(rawValue: raw) else {
            throw CheckpointError(file: file, .invalidMetadata(key: key, reason: "unknown value type \(raw) at offset \(cursor.offset - 4)"))
        }
        return type
    }

    mutating func readValue(_ type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try cursor.readUInt8())
        case .int8: return .int8(Int8(bitPattern: try cursor.readUInt8()))
        case .uint16: return .uint16(try cursor.readUInt16())
        case .int16: return .int16(Int16(bitPattern: try cursor.readUInt16()))
        case .uint32: return .uint32(try cursor.readUInt32())
        case .int32: return .int32(try cursor.readInt32())
        case .uint64: return .uint64(try cursor.readUInt64())
        case .int64: return .int64(try cursor.readInt64())
        case .float32: return .float32(try cursor.readFloat32())
        case .float64: return .float64(try cursor.readFloat64())
        case .bool:
            let byte = try cursor.readUInt8()
            guard byte <= 1 else {
                throw CheckpointError(file: file, .invalidMetadata(key: key, reason: "bool byte \(byte) at offset \(cursor.offset - 1) is not 0 or 1"))
            }
            return .bool(byte == 1)
        case .string: return .string(try readString())
        case .array:
            guard depth < GGUFFile.maxArrayDepth else {
                throw CheckpointError(file: file, .invalidMetadata(key: key, reason: "arrays nested deeper than \(GGUFFile.maxArrayDepth)"))
            }
            let elementType = try valueType(try cursor.readUInt32(), key: key)
            let count = try self.count(try cursor.readUInt64(), minimumBytes: Self.minimumSize(elementType),
                                       what: "array \(key) element count", at: cursor.offset - 8)
            var items: [GGUFValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try readValue(elementType, key: key, depth: depth + 1)) }
            return .array(elementType, items)
        }
    }

    /// The fewest bytes one value of a type can take (a string's length, an array's type and count).
    static func minimumSize(_ type: GGUFValueType) -> Int {
        switch type {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }

    mutating func readTensorInfo() throws -> Info {
        let name = try readString()
        let dimensionCount = try cursor.readUInt32()
        guard dimensionCount <= UInt32(GGUFFile.maxDimensions) else {
            throw CheckpointError(file: file, .invalidEntry(tensor: name, reason: "n_dims \(dimensionCount) is more than ggml's \(GGUFFile.maxDimensions)"))
        }
        var dimensions: [Int] = []
        for _ in 0..<dimensionCount {
            let raw = try cursor.readUInt64()
            guard raw <= UInt64(Int.max) else {
                throw CheckpointError(file: file, .invalidEntry(tensor: name, reason: "dimension \(raw) overflows 63 bits"))
            }
            dimensions.append(Int(raw))
        }
        // × 4: readers decode every element to F32 (and the widest block type is still less per element).
        guard ElementCount.of(dimensions, bytesPerElement: 4) != nil else {
            throw CheckpointError(file: file, .invalidEntry(tensor: name, reason: "dimensions \(dimensions) multiply past 64 bits"))
        }
        let type = GGMLType(rawValue: try cursor.readUInt32())
        return Info(name: name, dimensions: dimensions, type: type, offset: try cursor.readUInt64())
    }
}
