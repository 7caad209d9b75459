# Entry points named in README.md. `make test` is what CI runs.
.PHONY: test build release demo bench bench-runtime bench-large fixtures fuzz

test:
	scripts/install-deps.sh
	swift test

build:
	scripts/install-deps.sh
	swift build

release:
	scripts/install-deps.sh
	swift build -c release

demo: release
	scripts/demo.sh

bench: release
	scripts/bench/bench.sh

bench-runtime: release
	scripts/bench/bench_runtime.sh

# Issue 18's scale benchmark on a 7B-shaped checkpoint (written once, ~15 GB); SIZE=1b for a quick run,
# ONLY=/SKIP= pick measures (scripts/bench/bench_large.sh says more).
bench-large: release
	scripts/bench/bench_large.sh

# Regenerates every golden fixture with the reference venv and fails if any changed.
fixtures:
	scripts/fixtures/regenerate.sh

# Coverage-guided fuzzing (libFuzzer + AddressSanitizer), one mode at a time; not part of `make test`.
# make fuzz MODE=gguf SECONDS=1800 — findings in fuzz/findings/MODE (scripts/tools/fuzz.sh says more).
MODE ?= gguf
SECONDS ?= 300
fuzz:
	scripts/install-deps.sh
	MODE=$(MODE) SECONDS_BUDGET=$(SECONDS) scripts/tools/fuzz.sh
