/// The `quantization_config` transformers writes into config.json for bitsandbytes (all fields, as
/// BitsAndBytesConfig.to_dict() gives them), and the config.json around it.
public enum QuantizationConfig {
    public static func dictionary(_ plan: ExportPlan, skipModules: [String]) -> [String: JSONValue] {
        let fourBit = plan.method != .int8
        return [
            "_load_in_4bit": .bool(fourBit),
            "_load_in_8bit": .bool(!fourBit),
            "bnb_4bit_compute_dtype": .string(plan.computeDType),
            "bnb_4bit_quant_storage": .string("uint8"),
            "bnb_4bit_quant_type": .string(plan.method.fourBitType?.rawValue ?? "fp4"),
            "bnb_4bit_use_double_quant": .bool(fourBit && plan.doubleQuant),
            "llm_int8_enable_fp32_cpu_offload": .bool(false),
            "llm_int8_has_fp16_weight": .bool(false),
            "llm_int8_skip_modules": skipModules.isEmpty ? .null : .array(skipModules.map { .string($0) }),
            "llm_int8_threshold": .number(plan.threshold),
            "load_in_4bit": .bool(fourBit),
            "load_in_8bit": .bool(!fourBit),
            "quant_method": .string("bitsandbytes"),
        ]
    }

    /// The input's config.json with `quantization_config` added, written as transformers writes it.
    public static func configJSON(_ config: ModelConfig, layout: ExportLayout) throws -> String {
        guard case .object(var fields) = try JSONValue.parse(config.rawJSON) else { return "{}\n" }
        fields["quantization_config"] = .object(dictionary(layout.plan, skipModules: layout.skipModulesForConfig))
        if let dtype = layout.plan.keptDType {
            // The dtype from_pretrained(dir) loads in by default; transformers 5 names it "dtype",
            // older configs "torch_dtype" (that key is kept so nothing else changes).
            fields[fields["dtype"] == nil && fields["torch_dtype"] != nil ? "torch_dtype" : "dtype"] = .string(dtype.torchName)
        }
        // A composite config (Gemma3Config: text_config, vision_config) gets the model's dtype in every
        // sub-config too, as save_pretrained writes it after loading.
        if let dtype = fields["dtype"] {
            for (key, value) in fields {
                if case .object(var sub) = value, sub["model_type"] != nil {
                    sub["dtype"] = dtype
                    fields[key] = .object(sub)
                }
            }
        }
        return PythonJSON.text(.object(fields)) + "\n"
    }
}

/// model.safetensors.index.json for a sharded export.
enum ShardIndex {
    static func json(_ layout: ExportLayout) -> String {
        var map: [String: JSONValue] = [:]
        for shard in layout.shards { for tensor in shard.tensors { map[tensor.name] = .string(shard.fileName) } }
        return PythonJSON.text(.object([
            "metadata": .object(["total_size": .integer(layout.tensorBytes)]),
            "weight_map": .object(map),
        ])) + "\n"
    }
}
