# Sourced by the project's scripts: selects a JDK 25+ and exports JAVA_HOME.
# Order: $JAVA_HOME when it is 25 or newer, else /usr/lib/jvm/temurin-25-jdk-amd64.
longctx_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}
longctx_select_jdk() {
  local fallback=/usr/lib/jvm/temurin-25-jdk-amd64 major
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    major=$(longctx_java_major "$JAVA_HOME")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then export JAVA_HOME; return 0; fi
  fi
  if [ -x "$fallback/bin/java" ]; then
    major=$(longctx_java_major "$fallback")
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then export JAVA_HOME="$fallback"; return 0; fi
  fi
  echo "longctx: no JDK 25 or newer found. Looked at JAVA_HOME='${JAVA_HOME:-<unset>}' and $fallback." >&2
  echo "longctx: install JDK 25 and set JAVA_HOME to it." >&2
  return 1
}
# JVM flags every launcher passes: the incubating Vector API and native access for mmap/FFM.
LONGCTX_JVM_FLAGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED"
