import ArgumentParser

struct Qtui: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qtui",
        abstract: "Explore what bitsandbytes LLM.int8() and NF4/FP4 quantization will do to a model.",
        discussion: """
        Opens a safetensors checkpoint (a file, a Hugging Face folder, or sharded files with \
        model.safetensors.index.json) memory-mapped and read-only, and reports for every Linear layer \
        that transformers would convert how int8, NF4 and FP4 (with and without double quantization) \
        change its weights and its size — bit-exact with bitsandbytes 0.50.2.

        Examples:
          qtui ./all-MiniLM-L6-v2                  open the explorer
          qtui scan ./all-MiniLM-L6-v2
          qtui scan model.safetensors --format json > report.json
          qtui scan ./model --layers 'mlp\\.' --blocksize 128 --format markdown

        Exit codes: 0 ok, 1 usage, 2 bad input (one line naming the file and what is wrong).
        """,
        subcommands: [Explore.self, Scan.self, Export.self, Bench.self, Synthesize.self],
        defaultSubcommand: Explore.self
    )
}
