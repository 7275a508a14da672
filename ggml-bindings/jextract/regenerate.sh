#!/usr/bin/env bash
# Regenerates the FFM bindings in ggml-bindings/src/main/java/io/llmj/ffm/generated/ with a
# jextract found on PATH (openjdk/jextract built for JDK 23+, on libclang 14 or 15).
#
#   llmj/     io.llmj.ffm.generated.llmj     Llmj (libllmj.so) and LlmjCuda (libllmj_cuda.so), from native/include/llmj.h
#   cuda/     io.llmj.ffm.generated.cuda     CudaRuntime, from cuda_runtime_api.h
#   cublas/   io.llmj.ffm.generated.cublas   Cublas, from cublas_v2.h
#
# The symbol lists are the *.includes files beside this script (jextract @argfiles): add a symbol
# there and rerun; never edit the generated files. No --library is given: the generated classes
# look symbols up in the libraries that io.llmj.ffm.NativeLibraries has loaded (System.load),
# which binds the versioned sonames libcudart.so.13 and libcublas.so.13.
#
# Environment: CUDA_HOME (default /usr/local/cuda) for the CUDA headers; CUBLAS_INCLUDE for the
# folder holding cublas_v2.h (default: $CUDA_HOME/include, else the headers inside an
# nvidia_cublas-13*.whl found under CUBLAS_WHEEL_DIRS, default "/opt/pypi-more/files $HOME/.cache/pip").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/ggml-bindings/src/main/java"
gen="$out/io/llmj/ffm/generated"
cuda_home="${CUDA_HOME:-/usr/local/cuda}"

command -v jextract >/dev/null || { echo "regenerate.sh: jextract is not on PATH" >&2; exit 1; }
jextract --version | head -1

cublas_inc="${CUBLAS_INCLUDE:-}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -z "$cublas_inc" ]; then
  if [ -f "$cuda_home/include/cublas_v2.h" ]; then
    cublas_inc="$cuda_home/include"
  else
    whl="$(find ${CUBLAS_WHEEL_DIRS:-/opt/pypi-more/files $HOME/.cache/pip} -name 'nvidia_cublas-13*.whl' 2>/dev/null | sort | tail -1 || true)"
    [ -n "$whl" ] || { echo "regenerate.sh: no cublas_v2.h; set CUBLAS_INCLUDE" >&2; exit 1; }
    (cd "$tmp" && unzip -q -o "$whl" 'nvidia/*/include/*')
    cublas_inc="$(dirname "$(find "$tmp" -name cublas_v2.h | head -1)")"
  fi
fi

rm -rf "$gen"
mkdir -p "$gen"

jextract --output "$out" -t io.llmj.ffm.generated.llmj --header-class-name Llmj \
  @"$here/llmj-cpu.includes" "$root/native/include/llmj.h"
jextract --output "$out" -t io.llmj.ffm.generated.llmj --header-class-name LlmjCuda \
  @"$here/llmj-cuda.includes" "$root/native/include/llmj.h"
jextract --output "$out" -t io.llmj.ffm.generated.cuda --header-class-name CudaRuntime \
  -I "$cuda_home/include" @"$here/cudart.includes" "$cuda_home/include/cuda_runtime_api.h"
jextract --output "$out" -t io.llmj.ffm.generated.cublas --header-class-name Cublas \
  -I "$cuda_home/include" -I "$cublas_inc" @"$here/cublas.includes" "$cublas_inc/cublas_v2.h"

# jextract's output calls SymbolLookup.findOrThrow, new in Java 23; llmj targets Java 22, so
# that one call is rewritten to the Java 22 equivalent. Nothing else is changed.
find "$gen" -name '*.java' -print0 | xargs -0 sed -i -E \
  's/SYMBOL_LOOKUP\.findOrThrow\(("[^"]*")\)/SYMBOL_LOOKUP.find(\1).orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol: " + \1))/g'

echo "regenerated: $(find "$gen" -name '*.java' | wc -l) files under ${gen#$root/}"
