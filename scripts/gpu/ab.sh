#!/usr/bin/env bash
# Same-run A/B of decode speed on the GPU machine (.gpu/ carried): synthesizes llama2-7b in TYPE once, then runs
# `llmj bench --backend cuda -p 0 -n 128 -r 3` for each variant in turn, ROUNDS times (alternating).
# Usage: [ROUNDS=2] ab.sh TYPE "label:VAR=value VAR2=value" ...   (LLMJ_JAVA_OPTS="-D..." passes system properties)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=/tmp/llmj-gpu; bundle=$work/llmj-bundle; llmj=$bundle/bin/llmj
[ -x "$llmj" ] || { mkdir -p $work && tar xzf "$here/bundle.tar.gz" -C $work; }
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64"
t=$1; shift
m=/tmp/synth-$t.gguf
[ -f "$m" ] || "$llmj" synth --shape llama2-7b --type $t --vocab "$here/testdata/models/stories260K.gguf" -q "$m" > /dev/null 2>&1
cat "$m" > /dev/null
for r in $(seq 1 "${ROUNDS:-2}"); do
  for v in "$@"; do
    label=${v%%:*}; assigns=${v#*:}
    res=$(env $assigns "$llmj" bench -m "$m" --backend cuda -p 0 -n 128 -r 3 2>&1 | grep -E "^\| .*tg128" | head -1)
    echo "$t round $r $label: $res"
  done
done
