import Foundation

/// A safetensors file, mapped and validated.
///
///     |u64 LE n|n bytes UTF-8 JSON header|data bytes …………………………………………………|
///      0        8                          8+n
///     header = { "__metadata__": {str: str}?,
///                NAME: {"dtype": "F16", "shape": [d0, d1, …], "data_offsets": [b, e]}, … }
///     [b, e) is relative to the start of the data (8+n); e − b = product(shape) × size(dtype).
///
/// Validation is strict because the mapped bytes are later read without further checks: every range is
/// inside the data, no two ranges overlap, sizes agree with shapes.
public final class SafetensorsFile: Sendable {
    /// Above this a header is refused (the reference implementation uses the same bound).
    public static let headerLimit = 100_000_000

    public let mapped: MappedFile
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    public let headerByteCount: Int

    public var path: String { mapped.path }

    public init(path: String, shardIndex: Int = 0) throws {
        mapped = try MappedFile(path: path)
        var cursor = ByteCursor(mapped.bytes, file: path)
        let declared = try cursor.readUInt64()
        // The header is a JSON object, so byte 8 is `{` (the reference implementation checks the same):
        // anything else is another kind of file, whatever its first 8 bytes read as a length.
        guard mapped.bytes.count <= 8 || mapped.bytes[8] == UInt8(ascii: "{") else {
            throw CheckpointError(file: path, .unsupportedFormat("not a safetensors file: no JSON header after the 8-byte header length"))
        }
        guard declared <= UInt64(Self.headerLimit) else {
            throw CheckpointError(file: path, .headerTooLarge(bytes: declared, limit: Self.headerLimit))
        }
        let headerBytes = try cursor.readBytes(Int(declared))
        headerByteCount = Int(declared)
        let dataStart = 8 + headerByteCount
        let dataSize = mapped.bytes.count - dataStart

        let header = try Self.parseHeader(headerBytes, path: path)
        metadata = try Self.parseMetadata(header["__metadata__"], path: path)
        var entries = try header.filter { $0.key != "__metadata__" }.map { (name: $0.key, entry: try TensorEntry(name: $0.key, json: $0.value, path: path)) }
        // In file order, so that a truncated file names the same tensor (the first cut) on every run.
        entries.sort { ($0.entry.begin, $0.name) < ($1.entry.begin, $1.name) }
        let parsed = try entries.map { name, entry in
            guard entry.end <= dataSize else {
                throw CheckpointError(file: path, .offsetsOutsideData(tensor: name, end: entry.end, dataSize: dataSize))
            }
            return TensorInfo(name: name, dtype: entry.dtype, shape: entry.shape, shardIndex: shardIndex,
                              dataOffset: dataStart + entry.begin, byteCount: entry.end - entry.begin)
        }
        try Self.checkNoOverlap(parsed, path: path)
        tensors = parsed
    }

    /// The bytes of one of this file's tensors, a view into the mapping.
    public func bytes(of tensor: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapped.bytes[tensor.dataOffset..<(tensor.dataOffset + tensor.byteCount)])
    }

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> [String: JSONValue] {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw CheckpointError(file: path, .headerNotUTF8)
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(Data(bytes))
        } catch {
            throw CheckpointError(file: path, .invalidJSON("header does not parse"))
        }
        guard let dictionary = value.object else {
            throw CheckpointError(file: path, .invalidJSON("header is not a JSON object"))
        }
        return dictionary
    }

    private static func parseMetadata(_ value: JSONValue?, path: String) throws -> [String: String] {
        guard let value else { return [:] }
        guard let dictionary = value.object else {
            throw CheckpointError(file: path, .invalidJSON("__metadata__ is not an object"))
        }
        var result: [String: String] = [:]
        for (key, item) in dictionary {
            guard let text = item.string else {
                throw CheckpointError(file: path, .invalidJSON("__metadata__ value for \(key) is not a string"))
            }
            result[key] = text
        }
        return result
    }

    private static func checkNoOverlap(_ sorted: [TensorInfo], path: String) throws {
        var previous: TensorInfo?
        for tensor in sorted where tensor.byteCount > 0 {
            if let previous, tensor.dataOffset < previous.dataOffset + previous.byteCount {
                throw CheckpointError(file: path, .overlapping(tensor: tensor.name, other: previous.name))
            }
            previous = tensor
        }
    }
}

/// One header entry, checked: known dtype, non-negative integer shape, ordered offsets, and a byte range
/// that holds exactly shape × dtype size bytes.
private struct TensorEntry {
    let dtype: DType
    let shape: [Int]
    let begin: Int
    let end: Int

    init(name: String, json: JSONValue, path: String) throws {
        func bad(_ reason: String) -> CheckpointError {
            CheckpointError(file: path, .invalidEntry(tensor: name, reason: reason))
        }
        guard let fields = json.object else { throw bad("entry is not an object") }
        guard let dtypeName = fields["dtype"]?.string else { throw bad("missing dtype") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw CheckpointError(file: path, .unsupportedDType(dtypeName, tensor: name))
        }
        guard let shapeItems = fields["shape"]?.array else { throw bad("missing shape") }
        let shape = try shapeItems.map { item -> Int in
            guard let dimension = item.integer, dimension >= 0 else { throw bad("shape has a non-integer or negative dimension") }
            return dimension
        }
        guard let offsets = fields["data_offsets"]?.array, offsets.count == 2,
              let begin = offsets[0].integer, let end = offsets[1].integer, begin >= 0, end >= begin
        else { throw bad("data_offsets must be two integers 0 ≤ begin ≤ end") }

        // At least 4 bytes an element: F16 and BF16 weights are decoded into Float copies.
        guard let elements = ElementCount.of(shape, bytesPerElement: max(dtype.byteSize, 4)) else {
            throw bad("shape \(shape) multiplies past 64 bits")
        }
        let expected = elements * dtype.byteSize
        guard expected == end - begin else {
            throw CheckpointError(file: path, .sizeMismatch(tensor: name, expectedBytes: expected, actualBytes: end - begin))
        }
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }
}
