/// One tensor of a checkpoint: where its bytes are and how to read them. `dataOffset` is absolute in
/// the file of shard `shardIndex` (or the GGUF file), so a view needs no further arithmetic.
///
/// A tensor of a GGUF read in place (`gguf` set) is seen as the F32 tensor a conversion would hold —
/// `dtype` F32, `shape` transformers' — while `dataOffset` and `byteCount` are its stored blocks; only
/// TensorDecoder turns those into values (through the transform), so readers go through it.
public struct TensorInfo: Sendable, Hashable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let shardIndex: Int
    public let dataOffset: Int
    public let byteCount: Int
    /// How the stored GGUF blocks become this tensor's values; nil for a safetensors tensor.
    public let gguf: GGUFTransform?

    public init(name: String, dtype: DType, shape: [Int], shardIndex: Int, dataOffset: Int, byteCount: Int,
                gguf: GGUFTransform? = nil) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.shardIndex = shardIndex
        self.dataOffset = dataOffset
        self.byteCount = byteCount
        self.gguf = gguf
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var shapeText: String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
