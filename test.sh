#!/usr/bin/env bash
# Builds everything and runs every test: the C op harness (ctest), then JUnit in each module.
# Test data is read from ../shared/testdata (or -Dllmj.testdata=DIR); with CI=true a missing file
# fails the test instead of skipping it. GPU tests skip where no usable CUDA device exists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/env.sh
mvn -B install "$@"
