#!/usr/bin/env bash
# On the GPU machine, after run-tests.sh unpacked the bundle: synthesizes models with `llmj synth`
# (timed) and runs `llmj bench` on them. Usage: bench.sh SHAPE TYPE[,TYPE...] [bench args...]
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
llmj=/tmp/llmj-gpu/llmj-bundle/bin/llmj
shape="${1:-llama2-7b}"
types="${2:-Q4_0}"
shift 2 || true
vocab="${LLMJ_TESTDATA:-$here/testdata}/models/stories260K.gguf"
for t in ${types//,/ }; do
  model="/tmp/synth-$shape-$t.gguf"
  echo "== llmj synth --shape $shape --type $t ($(nproc) cores)"
  start=$(date +%s%N)
  "$llmj" synth --shape "$shape" --type "$t" --vocab "$vocab" -q "$model" || exit 1
  echo "synth wall: $(( ($(date +%s%N) - start) / 1000000 )) ms, file $(du -h "$model" | cut -f1)"
  echo "== llmj bench -m $model $*"
  "$llmj" bench -m "$model" "$@"
done
