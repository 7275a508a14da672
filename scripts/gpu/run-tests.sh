#!/usr/bin/env bash
# Runs on the GPU machine (from the repository root, with .gpu/ carried): unpacks the bundle, prints
# `llmj info`, and runs the JUnit tests (GPU tests included) with the bundle's own Java runtime.
# Reports land in $OUT (when set). Extra arguments go to `llmj` after the tests, e.g. a bench.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=/tmp/llmj-gpu
rm -rf "$work" && mkdir -p "$work"
tar xzf "$here/bundle.tar.gz" -C "$work"
bundle="$work/llmj-bundle"
out="${OUT:-$work/out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || true
echo "== llmj info"
"$bundle/bin/llmj" info
echo "== JUnit (all tests, GPU tests included)"
# test jars are unpacked to folders: the bundle's runtime has no zip file system to scan jars with
for j in "$here"/tests/llmj-*-tests.jar; do
  d="$work/tests/$(basename "$j" .jar)"; mkdir -p "$d"; python3 -m zipfile -e "$j" "$d"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64"
"$bundle/runtime/bin/java" --enable-native-access=ALL-UNNAMED -Dllmj.library.path="$bundle/native" \
  -Dllmj.testdata="${LLMJ_TESTDATA:-$here/testdata}" \
  -jar "$here/tests/junit-platform-console-standalone.jar" execute \
  --class-path "$(ls -d "$bundle"/lib/*.jar "$work"/tests/* | tr '\n' ':')" \
  --scan-class-path "$(ls -d "$work"/tests/* | tr '\n' ':')" --details=summary --disable-banner 2>&1 | tee "$out/junit.txt"
status=${PIPESTATUS[0]}
if [ $# -gt 0 ]; then echo "== llmj $*"; "$bundle/bin/llmj" "$@"; fi
exit "$status"
