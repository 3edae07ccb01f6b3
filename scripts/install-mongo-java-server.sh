#!/usr/bin/env bash
# Fetches mongo-java-server 1.46.0 (an in-memory MongoDB-wire server in Java) and its
# dependencies from Maven Central into ~/.cache/durable/mongo-java-server-1.46.0 for the Mongo
# tests (packages/test-support/src/mongo.ts runs it with `java`). Maven's own cache (~/.m2)
# keeps the download for the next run. Exits 0 without Java or Maven (the tests then skip).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${XDG_CACHE_HOME:-$HOME/.cache}/durable/mongo-java-server-1.46.0"
if [[ -f "$target/mongo-java-server-1.46.0.jar" ]]; then exit 0; fi
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  echo "install-mongo-java-server: no java or mvn; the MongoDB suites on mongo-java-server will be skipped"
  exit 0
fi
echo "install-mongo-java-server: fetching mongo-java-server 1.46.0 into $target ..."
mkdir -p "$target"
mvn -q -f "$here/../packages/test-support/servers/mongo-java-server/pom.xml" dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$target"
ls "$target"/*.jar | wc -l | xargs echo "install-mongo-java-server: jars:"
