/// A bounds-checked reader over mapped bytes. Every read that would run past the end throws
/// `.truncated` with the offset and the number of bytes it needed; nothing is ever read by casting a
/// pointer to a struct, and unaligned data is fine.
public struct ByteCursor {
    public let bytes: UnsafeRawBufferPointer
    public let file: String
    public private(set) var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, file: String, offset: Int = 0) {
        self.bytes = bytes
        self.file = file
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func readUInt8() throws -> UInt8 { try read(UInt8.self) }
    public mutating func readUInt16() throws -> UInt16 { UInt16(littleEndian: try read(UInt16.self)) }
    public mutating func readUInt32() throws -> UInt32 { UInt32(littleEndian: try read(UInt32.self)) }
    public mutating func readUInt64() throws -> UInt64 { UInt64(littleEndian: try read(UInt64.self)) }
    public mutating func readInt32() throws -> Int32 { Int32(bitPattern: try readUInt32()) }
    public mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readUInt64()) }
    public mutating func readFloat32() throws -> Float { Float(bitPattern: try readUInt32()) }
    public mutating func readFloat64() throws -> Double { Double(bitPattern: try readUInt64()) }

    /// The next `count` bytes as a view into the mapping (no copy).
    public mutating func readBytes(_ count: Int) throws -> UnsafeRawBufferPointer {
        try require(count)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    private mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try require(MemoryLayout<T>.size)
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return value
    }

    private func require(_ count: Int) throws {
        guard count >= 0, count <= remaining else {
            throw CheckpointError(file: file, .truncated(offset: offset, needed: count, available: bytes.count))
        }
    }
}
