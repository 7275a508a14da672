#!/usr/bin/env bash
# Builds everything (native kernels with CMake, CUDA kernels when nvcc is found, the Java modules)
# and the self-contained bundle samples/target/llmj-bundle/ (bin/llmj, a jlink runtime, jars,
# native libraries). Tests are not run: ./test.sh does that.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/env.sh
mvn -B -q install -DskipTests "$@"
echo "built: samples/target/llmj-bundle/bin/llmj" >&2
