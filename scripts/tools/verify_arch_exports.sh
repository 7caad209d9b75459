#!/usr/bin/env bash
# Exports every fixture of Tests/Fixtures/archs (phi3, gpt_neox, opt, falcon; scripts/fixtures/make_arch_fixtures.py),
# or of the folder FIXTURES names (FIXTURES=Tests/Fixtures/moe: mixtral, qwen2_moe, qwen3_moe, olmoe; make_moe_fixtures.py),
# with qtui as int8 at threshold 6 and as nf4 with double quantization, and checks each against
# transformers' own bitsandbytes quantization of the same folder with scripts/tools/verify_export.py (Δlogits must be 0).
#
#     scripts/tools/verify_arch_exports.sh [QTUI] [OUT_DIR]      (defaults: .build/debug/qtui, a temporary folder)
#
# Prints one line per export: fixture, method, verify_export's verdict line and its max |delta logits|.
set -euo pipefail
cd "$(dirname "$0")/../.."
qtui=${1:-.build/debug/qtui}
out=${2:-$(mktemp -d)}
python=${PYTHON:-$HOME/refenv/bin/python}
status=0
for fixture in "${FIXTURES:-Tests/Fixtures/archs}"/*/; do
    name=$(basename "$fixture")
    for method in int8 nf4-dq; do
        target="$out/$name-$method"
        rm -rf "$target"
        if [ "$method" = int8 ]; then
            "$qtui" export "$fixture" --method int8 --threshold 6 --out "$target" >/dev/null
        else
            "$qtui" export "$fixture" --method nf4 --double-quant --out "$target" >/dev/null
        fi
        log=$("$python" scripts/tools/verify_export.py "$fixture" "$target" 2>&1) || status=1
        echo "$name $method: $(grep -o 'max |delta logits| = [^ ]*' <<<"$log") $(tail -1 <<<"$log")"
    done
done
exit $status
