#!/bin/bash
# Prefill (pp64) and decode (tg128) side by side with llama.cpp on this machine: llama-bench and `llmj bench`
# alternate on the same GGUF files for ROUNDS rounds (2 threads, 2 repetitions each), then the medians and their
# ratios are printed. On a shared machine whose bandwidth drifts, alternating runs are the fair comparison; a figure
# measured on another day is not. llama.cpp is not part of llmj: build its llama-bench yourself (CPU only,
# for example `cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF && cmake --build build --target llama-bench`)
# and pass its path.
#   LLAMA_BENCH=/path/to/llama-bench scripts/cpu/vs-llamacpp.sh [ROUNDS] MODEL.gguf...
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
llmj="$here/samples/target/llmj-bundle/bin/llmj"
[ -x "${LLAMA_BENCH:-}" ] || { echo "set LLAMA_BENCH to a llama-bench executable" >&2; exit 2; }
[ -x "$llmj" ] || { echo "build llmj first (./build.sh): $llmj is missing" >&2; exit 2; }
rounds=5
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then rounds="$1"; shift; fi
[ $# -ge 1 ] || { echo "usage: LLAMA_BENCH=... $0 [ROUNDS] MODEL.gguf..." >&2; exit 2; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for m in "$@"; do
  : > "$tmp/a"; : > "$tmp/b"; : > "$tmp/pa"; : > "$tmp/pb"
  for r in $(seq 1 "$rounds"); do
    out=$("$LLAMA_BENCH" -m "$m" -p 64 -n 128 -t 2 -r 2 2>"$tmp/err") \
      || { echo "llama-bench failed on $m:" >&2; tail -5 "$tmp/err" >&2; exit 1; }
    a=$(awk -F'|' '/tg128/ {gsub(/ /, "", $8); split($8, x, "±"); print x[1]}' <<< "$out")
    pa=$(awk -F'|' '/pp64/ {gsub(/ /, "", $8); split($8, x, "±"); print x[1]}' <<< "$out")
    out=$("$llmj" bench -m "$m" -p 64 -n 128 -r 2 --threads 2 2>"$tmp/err") \
      || { echo "llmj bench failed on $m:" >&2; tail -5 "$tmp/err" >&2; exit 1; }
    b=$(awk -F'|' '/^\| tg128/ {gsub(/ /, "", $3); print $3}' <<< "$out")
    pb=$(awk -F'|' '/^\| pp64/ {gsub(/ /, "", $3); print $3}' <<< "$out")
    [ -n "$a" ] && [ -n "$b" ] && [ -n "$pa" ] && [ -n "$pb" ] \
      || { echo "no pp64 / tg128 figure in a tool's output on $m (llama.cpp '$pa' '$a', llmj '$pb' '$b')" >&2; exit 1; }
    echo "$(basename "$m") round $r: pp64 llama.cpp $pa, llmj $pb; tg128 llama.cpp $a, llmj $b t/s"
    echo "$a" >> "$tmp/a"; echo "$b" >> "$tmp/b"; echo "$pa" >> "$tmp/pa"; echo "$pb" >> "$tmp/pb"
  done
  ma=$(median < "$tmp/a"); mb=$(median < "$tmp/b"); pa=$(median < "$tmp/pa"); pb=$(median < "$tmp/pb")
  echo "$(basename "$m"): median pp64 llama.cpp $pa, llmj $pb t/s: $(awk -v a="$pa" -v b="$pb" 'BEGIN {printf "%.2f", b / a}')x;" \
       "median tg128 llama.cpp $ma, llmj $mb t/s: $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", b / a}')x"
done
