#!/usr/bin/env bash
# Runs on the GPU machine with .gpu/ carried (scripts/gpu/pack.sh, plus .gpu/native = the native sources
# and .gpu/testdata): every JUnit test with the bundle's runtime (run-tests.sh), the CUDA C harnesses
# built with CMake there (ctest, then their timing sections), compute-sanitizer memcheck over the GPU op
# tests, and `llmj generate --backend cuda`. Logs land in $OUT.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${OUT:-/tmp/llmj-gpu/out}"; mkdir -p "$out"
status=0
timeout 330 bash "$here/run-tests.sh" > "$out/junit-all.txt" 2>&1 || status=1
tail -25 "$out/junit-all.txt"
grep -E "FAILED|✘" "$out/junit-all.txt" | head -40
echo "== CUDA C harnesses (cmake, sm_90)"
b=/tmp/llmj-native-build; export LLMJ_TESTDATA="$here/testdata"
( cmake -S "$here/native" -B "$b" -DLLMJ_CUDA_ARCHITECTURES=90-real -DCMAKE_BUILD_TYPE=Release > "$out/cmake.txt" 2>&1 \
  && cmake --build "$b" -j16 >> "$out/cmake.txt" 2>&1 && cd "$b" && ctest --output-on-failure 2>&1 | tail -15 ) || status=1
for t in llmj_cuda_q_tests llmj_cuda_kquants_tests; do
  [ -x "$b/$t" ] && timeout 60 "$b/$t" --bench > "$out/$t-bench.txt" 2>&1; tail -4 "$out/$t-bench.txt" 2>/dev/null
done
[ -x "$b/llmj_cuda_attention_tests" ] && timeout 60 "$b/llmj_cuda_attention_tests" > "$out/attention-bench.txt" 2>&1; tail -12 "$out/attention-bench.txt" 2>/dev/null
echo "== compute-sanitizer memcheck over the GPU op tests"
bundle=/tmp/llmj-gpu/llmj-bundle
cp_tests="$(ls -d "$bundle"/lib/*.jar /tmp/llmj-gpu/tests/* | tr '\n' ':')"
timeout 200 compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
  "$bundle/runtime/bin/java" --enable-native-access=ALL-UNNAMED -Dllmj.library.path="$bundle/native" \
  -Dllmj.testdata="$here/testdata" -jar "$here/tests/junit-platform-console-standalone.jar" execute \
  --class-path "$cp_tests" --select-class io.llmj.ffm.cuda.CudaOpsTest --select-class io.llmj.ffm.cuda.CudaMatvecTest \
  --select-class io.llmj.ffm.cuda.CudaDequantizeTest \
  --select-method 'io.llmj.ffm.cuda.CudaGreedyTest#choiceMatchesTheHostGreedyChoice(int)' \
  --select-method 'io.llmj.ffm.cuda.CudaGreedyTest#degenerateRows()' --details=summary --disable-banner > "$out/memcheck.txt" 2>&1
echo "memcheck exit $?"; grep -E "ERROR SUMMARY|tests (successful|failed)" "$out/memcheck.txt" | head
echo "== llmj generate --backend cuda"
"$bundle/bin/llmj" generate -m "$here/testdata/models/stories260K.gguf" -p "Once upon a time" -n 48 --temp 0 --backend cuda 2>&1 | tail -5
"$bundle/bin/llmj" generate -m "$here/testdata/models/stories260K.gguf" -p "Once upon a time" -n 48 --temp 0 --backend cpu 2>&1 | tail -3
exit $status
