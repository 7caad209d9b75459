import Foundation

/// Writes a safetensors file the way the reference implementation does, and never leaves a
/// half-written file behind: bytes go to a temporary file beside the target, are synced, then renamed.
///
///     |u64 LE n|header JSON, padded with spaces so that 8 + n is a multiple of 8|data…|
///     header = {"__metadata__": {...}, NAME: {"dtype", "shape", "data_offsets": [b, e]}, …}
///     tensors are laid out in the order given, back to back.
public struct SafetensorsWriter {
    public struct Entry {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public let data: Data

        /// Bytes of the tensor: its data, or its size when only reserved.
        public let byteCount: Int

        public init(name: String, dtype: DType, shape: [Int], data: Data) {
            precondition(Self.byteCount(shape, dtype) == data.count, "\(name): shape and data size disagree")
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.data = data
            byteCount = data.count
        }

        init(reserving name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            data = Data()
            byteCount = Self.byteCount(shape, dtype)
        }

        /// Shapes here come from readers that checked them (ElementCount); one that overflows is a bug
        /// in the caller, not bad input.
        private static func byteCount(_ shape: [Int], _ dtype: DType) -> Int {
            guard let elements = ElementCount.of(shape, bytesPerElement: dtype.byteSize) else {
                preconditionFailure("shape \(shape) multiplies past 64 bits")
            }
            return elements * dtype.byteSize
        }
    }

    public var metadata: [String: String]
    public private(set) var entries: [Entry] = []

    public init(metadata: [String: String] = ["format": "pt"]) {
        self.metadata = metadata
    }

    public mutating func add(_ entry: Entry) { entries.append(entry) }

    public mutating func add(_ name: String, float16 values: [Float], shape: [Int]) {
        var data = Data(capacity: values.count * 2)
        for value in values { withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        add(Entry(name: name, dtype: .f16, shape: shape, data: data))
    }

    /// Declares a tensor whose bytes are written later (by an exporter that fills files in place).
    public mutating func reserve(name: String, dtype: DType, shape: [Int]) {
        entries.append(Entry(reserving: name, dtype: dtype, shape: shape))
    }

    public func header() -> Data {
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.sorted { $0.key < $1.key }.map { "\(Self.quoted($0.key)):\(Self.quoted($0.value))" }
            parts.append("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        for entry in entries {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            parts.append("\(Self.quoted(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + entry.byteCount)]}")
            offset += entry.byteCount
        }
        var json = Data(("{" + parts.joined(separator: ",") + "}").utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        return json
    }

    /// Writes atomically; throws a CheckpointError naming the file on failure.
    public func write(to path: String) throws {
        let json = header()
        let temporary = path + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary) else {
            throw CheckpointError(file: path, .cannotOpen(reason: "cannot create \(temporary)"))
        }
        do {
            var length = UInt64(json.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: json)
            for entry in entries { try handle.write(contentsOf: entry.data) }
            try handle.synchronize()
            try handle.close()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError(file: path, .cannotOpen(reason: "write failed: \(error.localizedDescription)"))
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
