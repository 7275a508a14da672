#!/usr/bin/env bash
# Build step of the bundle (samples/pom.xml): an ahead-of-time cache for the bundle's runtime (JDK 25's
# -XX:AOTCacheOutput, JEP 514), written by one training run of `llmj generate` on stories260K, so that each
# later start loads and links llmj's classes from it instead of from the jars (on the 2-core dev VM, alternating
# with -XX:AOTMode=off: a cold `llmj generate` on stories260K in 435-471 ms against 615-787 ms). The training run
# generates 120 tokens (stories260K's context is 128), so that the cache also holds the decode loop's method
# profiles (JEP 515): a later decode compiles its hot methods sooner and less. 2-core dev VM, `llmj generate` of
# 300 tokens on a llama-1b Q4_0 synth with -XX:+CITime, three runs alternating with a cache from a 16-token
# training run: C2 compile time 0.83-1.06 s against 1.37-1.61 s, tier-4 compilations after the first 3 s 12-14
# against 21-35 (on 2 cores, compiler threads take a core from the decode's two threads). The cold start of a
# 16-token generate is unchanged (415-741 ms against 515-662 ms, four runs alternating).
# The launcher passes the cache when it is there; a JVM that cannot use it (another runtime, changed jars) starts
# without it. Skipped, with a line saying why, on a runtime older than 25 or without the model.
# Usage: make-aot-cache.sh BUNDLE_DIR MODEL
set -uo pipefail
bundle="$1"; model="$2"
java="$bundle/runtime/bin/java"
cache="$bundle/lib/llmj.aot"
rm -f "$cache"
version="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -1)"
if [ -z "$version" ] || [ "${version%%.*}" -lt 25 ] 2>/dev/null; then
  echo "llmj bundle: no AOT cache (the runtime is Java ${version:-?}; -XX:AOTCacheOutput needs 25)"; exit 0
fi
if [ ! -f "$model" ]; then
  echo "llmj bundle: no AOT cache ($model, its training run's model, is missing)"; exit 0
fi
if "$java" --enable-native-access=ALL-UNNAMED -XX:AOTCacheOutput="$cache" -Xlog:aot=warning -Xlog:cds=warning \
    -Dllmj.library.path="$bundle/native" -cp "$bundle/lib/*" io.llmj.samples.cli.Main \
    generate -m "$model" -p "Once upon a time" -n 120 --temp 0 --ignore-eos --backend cpu > "$bundle/lib/.aot-training.log" 2>&1 \
    && [ -f "$cache" ]; then
  rm -f "$bundle/lib/.aot-training.log"
  echo "llmj bundle: AOT cache $(du -h "$cache" | cut -f1) from a training run on $(basename "$model")"
else
  rm -f "$cache"
  echo "llmj bundle: no AOT cache (the training run failed; its log: $bundle/lib/.aot-training.log)"
fi
exit 0
