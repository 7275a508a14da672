#!/usr/bin/env bash
# Runs on the GPU machine with .gpu/ carried (after run-tests.sh or full-tests.sh unpacked the bundle, or
# unpacking it itself): `llmj synth` llama2-7b in each type given, `llmj bench --backend cuda` on each
# (pp512, TTFT, tg128; for the first type also tg128 at depth 4096), the JMH GenerationBenchmark on the
# first type when the benchmarks jar is there (the bundle's runtime then needs java.management: pack a bundle
# built with -Dbundle.modules=java.base,java.logging,jdk.unsupported,java.management,jdk.management), and an
# ncu look at the decode kernels (graphs off, so ncu sees each kernel).
# Usage: [NCU=0] [EXTRAS=0] bench-all.sh TYPE[,TYPE...]      Logs land in $OUT. NCU=0 skips the ncu profile,
# EXTRAS=0 the depth-4096 row, JMH and ncu (for a second call with more types).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-/tmp/llmj-gpu/out}"; mkdir -p "$out"
work=/tmp/llmj-gpu; bundle=$work/llmj-bundle; llmj=$bundle/bin/llmj
[ -x "$llmj" ] || { mkdir -p $work && tar xzf "$here/bundle.tar.gz" -C $work; }
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv,noheader
vocab="$here/testdata/models/stories260K.gguf"
first=${EXTRAS:-1}
for t in ${1//,/ }; do
  case $t in GPTQ*) m=/tmp/synth-$t; extra="--tokenizer $here/tokenizer.json";; *) m=/tmp/synth-$t.gguf; extra="--vocab $vocab";; esac
  s=$(date +%s%N)
  "$llmj" synth --shape llama2-7b --type $t $extra -q "$m" > "$out/synth-$t.txt" 2>&1 || { tail -5 "$out/synth-$t.txt"; continue; }
  echo "== $t: synth $(( ($(date +%s%N) - s) / 1000000 )) ms, $(du -sh "$m" | cut -f1)"
  cat /tmp/synth-$t* > /dev/null 2>&1 || cat "$m"/* > /dev/null   # page cache: load time is measured from cache
  "$llmj" bench -m "$m" --backend cuda -p 512 -n 128 -r 3 2>&1 | tee "$out/bench-$t.txt" | grep -v "^INFO"
  if [ $first = 1 ]; then
    first=0
    "$llmj" bench -m "$m" --backend cuda -p 0 -n 128 -r 2 -d 4096 2>&1 | grep -E "tg|bandwidth" | tee -a "$out/bench-$t.txt"
    if [ -f "$here/llmj-benchmarks.jar" ]; then
      timeout 150 $bundle/runtime/bin/java -jar "$here/llmj-benchmarks.jar" Generation -p model="$m" -p backend=cuda \
        -wi 1 -w 3 -i 3 -r 3 -f 1 -jvmArgsAppend "-Dllmj.library.path=$bundle/native" > "$out/jmh-$t.txt" 2>&1
      tail -3 "$out/jmh-$t.txt"
    fi
    if [ "${NCU:-1}" = 1 ] && command -v ncu > /dev/null; then
      LLMJ_JAVA_OPTS="-Dllmj.cuda.graphs=false" timeout 150 ncu --clock-control none --target-processes all --launch-skip 3000 \
        --launch-count 40 --section SpeedOfLight --csv "$llmj" bench -m "$m" --backend cuda -p 0 -n 32 -r 1 \
        > "$out/ncu-$t.csv" 2>&1
      echo "ncu exit $?"
    fi
  fi
  rm -rf "$m"
done
