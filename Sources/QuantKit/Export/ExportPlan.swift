import Foundation

/// The storage a user plans for a model's Linear layers: bitsandbytes 8-bit or 4-bit.
public enum ExportMethod: String, CaseIterable, Sendable, Codable {
    case int8, nf4, fp4

    public var fourBitType: FourBitType? {
        switch self {
        case .int8: return nil
        case .nf4: return .nf4
        case .fp4: return .fp4
        }
    }

    public func quantMethod(doubleQuant: Bool) -> QuantMethod {
        switch self {
        case .int8: return .int8
        case .nf4: return doubleQuant ? .nf4DoubleQuant : .nf4
        case .fp4: return doubleQuant ? .fp4DoubleQuant : .fp4
        }
    }
}

/// Everything an export needs besides the checkpoint: what `BitsAndBytesConfig` would say.
public struct ExportPlan: Sendable, Equatable {
    public var method: ExportMethod
    /// llm_int8_threshold (8-bit only; written to the config, used at inference).
    public var threshold: Double = 6
    public var blocksize = 64
    public var doubleQuant = false
    /// bnb_4bit_compute_dtype: float16, bfloat16 or float32.
    public var computeDType = "float16"
    /// llm_int8_skip_modules: module keys left unconverted, matched as transformers does.
    public var skipModules: [String] = []
    /// Shards above this many bytes (transformers' default "5GB" = 5·10⁹).
    public var maxShardSize = 5_000_000_000
    /// The float dtype everything is loaded in before quantizing (`torch_dtype`): kept tensors are
    /// stored in it and converted weights quantized from values rounded to it. nil: as stored.
    public var keptDType: DType?

    public static let computeDTypes = ["float16", "bfloat16", "float32"]

    public init(method: ExportMethod) { self.method = method }

    public var quantMethod: QuantMethod { method.quantMethod(doubleQuant: doubleQuant) }

    /// The dtype a tensor stored as `dtype` is written (kept) or quantized from (converted) in: the
    /// plan's float dtype for F32/F16/BF16, anything else as it is.
    public func dtype(for dtype: DType) -> DType { dtype.kept(as: keptDType) }

    /// transformers' `should_convert_module`: a key matches a module when, read as a regular
    /// expression, it matches from the start of the name up to a module boundary, or when the name
    /// ends with it.
    public func isSkipped(_ module: String) -> Bool {
        skipModules.contains { Self.matches(module, key: $0) }
    }

    static func matches(_ module: String, key: String) -> Bool {
        if module.hasSuffix(key) { return true }
        guard let regex = try? NSRegularExpression(pattern: "^(?:\(key))(?:(?<=\\.)|(?=\\.|$))") else { return false }
        return regex.firstMatch(in: module, range: NSRange(module.startIndex..., in: module)) != nil
    }
}
