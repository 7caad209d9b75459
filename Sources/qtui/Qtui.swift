import ArgumentParser

struct Qtui: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qtui",
        abstract: "Explore what bitsandbytes LLM.int8() and NF4/FP4 quantization will do to a model.",
        discussion: """
        Opens a safetensors checkpoint (a file, a Hugging Face folder, or sharded files with \
        model.safetensors.index.json) memory-mapped and read-only, or a GGUF file of a llama, qwen2, \
        qwen3, phi3, falcon, gemma2 or gemma3 model (read in place; its config and tokenizer kept in ~/.cache/qtui/gguf), runs the model \
        (llama, mistral, qwen2, qwen3, phi3, gpt_neox, opt, falcon, gpt2, bert) on calibration text on the CPU to see the activations entering every Linear layer transformers would convert, and \
        shows which inputs cross the LLM.int8 outlier threshold and what int8, NF4 and FP4 (± double \
        quantization) do to each layer's output, to perplexity and to the size — bit-exact with \
        bitsandbytes 0.50.2. Then it writes the quantized checkpoint for from_pretrained.

        Examples:
          qtui ./SmolLM2-135M                      open the explorer
          qtui scan ./SmolLM2-135M --perplexity    the same as a report, with perplexity per method
          qtui scan model.safetensors --format json > report.json
          qtui export ./SmolLM2-135M --method nf4 --double-quant --out ./SmolLM2-135M-nf4
          qtui scan SmolLM2-135M-Q4_1.gguf         a .gguf works the same

        Exit codes: 0 ok, 1 usage, 2 bad input (one line naming the file and what is wrong).
        """,
        subcommands: [Explore.self, Scan.self, Export.self, Bench.self, Synthesize.self, Cache.self],
        defaultSubcommand: Explore.self
    )
}
