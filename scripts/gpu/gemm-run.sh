#!/usr/bin/env bash
# Runs on the GPU machine from the repository root with .gpu-gemm/ carried (scripts/gpu/pack.sh's
# flow, written for the prefill-GEMM work): the C harness of convert.cu, the CUDA JUnit tests the GEMM
# path touches, and CudaGemmBenchmark. Logs land in $OUT.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=/tmp/llmj-gemm
rm -rf "$work" && mkdir -p "$work"
tar xJf "$here/bundle.tar.xz" -C "$work"
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
  --details=summary --disable-banner > "$out/junit.txt" 2>&1
status=$?
grep -E '^\[(bench|gemm-models)\]' "$out/junit.txt"
grep -E '^\[gemm\]' "$out/junit.txt" | sort -t'(' -k1,1 | awk '{print}' > "$out/gemm-cases.txt"; wc -l < "$out/gemm-cases.txt"
grep -E 'tests (successful|failed|skipped|aborted)|MethodSource|=>' "$out/junit.txt" | head -40
exit "$status"
