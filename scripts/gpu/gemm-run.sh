#!/usr/bin/env bash
# Runs on the GPU machine from the repository root with .gpu-gemm/ carried (scripts/gpu/pack.sh's
# flow, written for the prefill-GEMM work): the C harness of convert.cu, the CUDA JUnit tests the GEMM
# path touches, and CudaGemmBenchmark. Logs land in $OUT.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=/tmp/llmj-gemm
rm -rf "$work" && mkdir -p "$work"
tar xzf "$here/bundle.tar.gz" -C "$work"
bundle="$work/llmj-bundle"
out="${OUT:-$work/out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || true
export LD_LIBRARY_PATH="$bundle/native:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
echo "== C harness: llmj_cuda_convert_tests"
"$here/llmj_cuda_convert_tests" > "$out/convert.txt" 2>&1; echo "rc=$?"; grep -c '^ok' "$out/convert.txt"; grep -v '^ok' "$out/convert.txt" | tail -5
for j in "$here"/tests/llmj-*-tests.jar; do
  d="$work/tests/$(basename "$j" .jar)"; mkdir -p "$d"; python3 -m zipfile -e "$j" "$d"
done
cp="$(ls -d "$bundle"/lib/*.jar "$work"/tests/* | tr '\n' ':')"
java=("$bundle/runtime/bin/java" --enable-native-access=ALL-UNNAMED -Dllmj.library.path="$bundle/native"
      -Dllmj.testdata="$here/testdata" -Dllmj.bench=true)
sel=()
for c in ${GEMM_CLASSES:-CudaGemmTest CudaGemmModelsTest CudaOpsTest CudaStoriesReferenceTest CudaStoriesF16CacheTest CudaHfTinyReferenceTest CudaQuantModelsReferenceTest CudaMatvecTest CudaAvailabilityTest CudaGemmBenchmark}; do
  sel+=(--select-class "io.llmj.ffm.cuda.$c")
done
echo "== JUnit"
"${java[@]}" -jar "$here/tests/junit-platform-console-standalone.jar" execute --class-path "$cp" "${sel[@]}" \
  --details=tree --disable-banner > "$out/junit.txt" 2>&1
status=$?
grep -E '^\[(bench|gemm-models)\]' "$out/junit.txt"
grep -E '^\[gemm\]' "$out/junit.txt" | sort -t'(' -k1,1 | awk '{print}' > "$out/gemm-cases.txt"; wc -l < "$out/gemm-cases.txt"
grep -E 'tests (successful|failed|skipped|aborted)' "$out/junit.txt"
grep -E '✘' "$out/junit.txt" | head -20
# end to end: a synthetic llama2-7b in F16, prefill of 512 tokens with the GEMM and with the per-token kernels
if [ "${GEMM_E2E:-1}" = 1 ]; then
  llmj="$bundle/bin/llmj"
  m=/tmp/synth-llama2-7b-F16.gguf
  s=$(date +%s)
  timeout 150 "$llmj" synth --shape llama2-7b --type F16 --vocab "$here/testdata/models/stories260K.gguf" -q "$m"
  echo "synth: $(( $(date +%s) - s )) s"
  echo "== llmj bench (gemm auto)"; timeout 90 "$llmj" bench -m "$m" -p 512 -n 16 -r 2 2>&1 | tee "$out/bench-auto.txt" | tail -8
  echo "== llmj bench (-Dllmj.cuda.gemm=off)"
  LLMJ_JAVA_OPTS=-Dllmj.cuda.gemm=off timeout 60 "$llmj" bench -m "$m" -p 512 -n 0 -r 1 2>&1 | tee "$out/bench-off.txt" | tail -5
fi
exit "$status"
