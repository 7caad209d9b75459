#!/usr/bin/env bash
# `make fuzz MODE=gguf SECONDS=600`: builds the libFuzzer + AddressSanitizer harness (Sources/QuantKitFuzz)
# into .build/fuzz (apart from the ordinary builds) and runs one mode, one process, for SECONDS.
#
#   MODE      safetensors | gguf | tokenizer | config | runtime        (default: gguf)
#   SECONDS   wall-clock budget                                       (default: 300)
#
# Seeds: the mode's files from Tests/Fixtures (small ones) and Tests/Fixtures/malformed, copied into
# fuzz/corpus/MODE, which keeps growing across runs (not committed). Dictionary: fuzz/dictionaries.
# Findings (crash-*, oom-*, timeout-*, leak-*) go to fuzz/findings/MODE/; replay one with
#   .build/fuzz/release/QuantKitFuzz MODE fuzz/findings/MODE/crash-…
# The run keeps going after a finding (-fork=1 with -ignore_*), so one long run collects them all.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${MODE:-gguf}
BUDGET=${SECONDS_BUDGET:-300}

case "$MODE" in
  safetensors) seeds=$(find Tests/Fixtures -name '*.safetensors' -size -100k) ;;
  gguf)        seeds=$(find Tests/Fixtures -name '*.gguf' -size -16k) ;;
  tokenizer)   seeds=$(find Tests/Fixtures -name '*tokenizer*.json' -size -40k) ;;
  config)      seeds=$(find Tests/Fixtures -name 'config.json' -o -name '*.config.json' -o -name '*index.json' | grep -v '/export/.*/[a-z0-9-]*dq\|skip') ;;
  runtime)     seeds="" ;;
  *) echo "MODE must be one of safetensors gguf tokenizer config runtime" >&2; exit 1 ;;
esac

swift build -c release --build-path .build/fuzz --product QuantKitFuzz -Xswiftc -sanitize=fuzzer,address

corpus=fuzz/corpus/$MODE findings=fuzz/findings/$MODE
mkdir -p "$corpus" "$findings"
for seed in $seeds; do cp -n "$seed" "$corpus/$(echo "$seed" | tr / _)"; done
if [ "$MODE" = runtime ] && [ -z "$(ls -A "$corpus")" ]; then
  for i in 0 1 2 3; do head -c 48 /dev/urandom > "$corpus/random-$i"; done
fi
dictionary=()
[ -f "fuzz/dictionaries/$MODE.dict" ] && dictionary=("-dict=fuzz/dictionaries/$MODE.dict")

# One job (the machine is shared); 10 s an input, 2 GB of memory, no single allocation over 1 GB; no leak
# check, neither per input nor at a job's exit (the Swift runtime and Foundation keep caches until exit —
# FoundationEssentials' file reading leaves a 4 KB buffer — which LeakSanitizer would report from every job).
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
exec .build/fuzz/release/QuantKitFuzz "$MODE" "$corpus" "${dictionary[@]}" \
  -max_total_time="$BUDGET" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
  -detect_leaks=0 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
  -artifact_prefix="$findings/" -print_final_stats=1
