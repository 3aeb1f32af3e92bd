#!/usr/bin/env bash
# Fails when a source file includes a header from a layer above it. Calls go one way:
# main -> http -> api -> vault -> {crypto, store}, with util under all; cli uses crypto and util.
# A layer is its folder with every folder under it: src/api/data/x.c is in the api layer, and
# "api/data/x.h" is a header of the api layer.
set -u
src=${1:?usage: layers.sh SRC_DIR}
declare -A allowed=(
  [util]="util"
  [store]="store util"
  [crypto]="crypto util"
  [vault]="vault crypto store util"
  [api]="api vault util"
  [http]="http api util"
  [cli]="cli crypto util"
)
bad=0
for layer in "${!allowed[@]}"; do
  [ -d "$src/$layer" ] || continue
  while IFS=: read -r file _ line; do
    inc=$(sed -n 's/^#include "\([a-z]*\)\/.*/\1/p' <<<"$line")
    [ -n "$inc" ] || continue
    case " ${allowed[$layer]} " in
      *" $inc "*) ;;
      *) echo "layers: $file includes $inc/ (layer $layer may include: ${allowed[$layer]})"; bad=1 ;;
    esac
  done < <(grep -rHn --include='*.[ch]' '^#include "' "$src/$layer" 2>/dev/null)
done
# Only crypto/ includes OpenSSL; only http/ (and, for the identity agent's loopback server, the
# CLI's cli/agent_http.c) includes microhttpd; only store/ includes lmdb and libpq.
check_only() {
  local pattern=$1 owner=$2 also=${3:-}
  local hits
  hits=$(grep -rln --include='*.[ch]' "^#include <$pattern" "$src" 2>/dev/null | grep -v "^$src/$owner/" |
         { if [ -n "$also" ]; then grep -vx "$src/$also"; else cat; fi; } || true)
  if [ -n "$hits" ]; then echo "layers: <$pattern> outside $owner/: $hits"; bad=1; fi
}
check_only 'openssl/' crypto
check_only 'microhttpd.h' http cli/agent_http.c
check_only 'lmdb.h' store
check_only 'libpq-fe.h' store
if [ $bad -eq 0 ]; then echo "layers: ok"; fi
exit $bad
