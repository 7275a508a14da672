#!/usr/bin/env bash
# Packs what a GPU run needs into .gpu/ (ignored by git; name it in the device tool's `carry`):
# the self-contained bundle (jlink runtime, jars, native libraries incl. libllmj_cuda.so), the test
# jars and JUnit's console launcher. The GPU machine has no Java and no Maven.
# Usage: scripts/gpu/pack.sh            (after `mvn install -DskipTests`)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
out="$root/.gpu"
rm -rf "$out"
mkdir -p "$out/tests"
[ -x samples/target/llmj-bundle/bin/llmj ] || { echo "build first: mvn install -DskipTests" >&2; exit 1; }
[ -f samples/target/llmj-bundle/native/libllmj_cuda.so ] || { echo "bundle has no libllmj_cuda.so (nvcc missing?)" >&2; exit 1; }
tar czf "$out/bundle.tar.gz" --exclude=llmj-bundle/lib/llmj.aot -C samples/target llmj-bundle   # the AOT cache: 5 MB of the 64 MiB carry
cp core/target/llmj-core-*-tests.jar ggml-bindings/target/llmj-ggml-bindings-*-tests.jar "$out/tests/"
junit_platform="$(sed -n 's:.*<junit.platform.version>\(.*\)</junit.platform.version>.*:\1:p' pom.xml)"
mvn -q dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:${junit_platform}" \
    -DoutputDirectory="$out/tests" -Dmdep.stripVersion=true
cp scripts/gpu/run-tests.sh scripts/gpu/bench.sh scripts/gpu/full-tests.sh scripts/gpu/bench-all.sh scripts/gpu/ab.sh "$out/"
mkdir -p "$out/native" && cp -r native/CMakeLists.txt native/include native/src native/tests native/dev "$out/native/"
du -sh "$out"
