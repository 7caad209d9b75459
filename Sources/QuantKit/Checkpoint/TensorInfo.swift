/// One tensor of a checkpoint: where its bytes are and how to read them. `dataOffset` is absolute in
/// the file of shard `shardIndex`, so a view needs no further arithmetic.
public struct TensorInfo: Sendable, Hashable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let shardIndex: Int
    public let dataOffset: Int
    public let byteCount: Int

    public init(name: String, dtype: DType, shape: [Int], shardIndex: Int, dataOffset: Int, byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.shardIndex = shardIndex
        self.dataOffset = dataOffset
        self.byteCount = byteCount
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var shapeText: String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
