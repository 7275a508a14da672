# Sourced by build.sh, test.sh and .ci/run: finds a JDK >= 22 and checks the build tools.
# Honours JAVA_HOME when it points at a JDK >= 22; otherwise looks under /usr/lib/jvm (where a
# Temurin 25 JDK sits beside the default Java 17 on Debian machines) and /opt.

llmj_java_version() {   # prints the feature version of $1/bin/java, or nothing
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -1
}

llmj_find_jdk() {
  local c v
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25* /usr/lib/jvm/* /opt/jdk* /opt/java/*; do
    [ -n "$c" ] && [ -x "$c/bin/javac" ] && [ -x "$c/bin/jlink" ] || continue
    v="$(llmj_java_version "$c")"
    if [ -n "$v" ] && [ "${v%%.*}" -ge 22 ] 2>/dev/null; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if ! JAVA_HOME="$(llmj_find_jdk)"; then
  echo "llmj needs a JDK 22 or newer (with javac and jlink); set JAVA_HOME to one." >&2
  exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"

llmj_missing=()
for tool in mvn cmake cc make; do
  command -v "$tool" >/dev/null 2>&1 || llmj_missing+=("$tool")
done
if [ ${#llmj_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing build tools (${llmj_missing[*]}) with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven cmake gcc make >&2
  else
    echo "missing build tools: ${llmj_missing[*]} (install Maven, CMake and a C compiler)" >&2
    exit 1
  fi
fi
