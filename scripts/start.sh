#!/usr/bin/env bash
# ./scripts/start.sh [kluisd flags...]
# Installs what is missing, builds kluisd and the kluis CLI (release, in build/), and runs kluisd
# in the foreground on ./data (or $KLUIS_DATA_DIR) at 127.0.0.1:8443 (or $KLUIS_LISTEN). Once it
# serves, prints the vault URL, the CA file to trust, the admin token, how to manage vaults and
# how to configure an unchanged application (DefaultAzureCredential) with environment variables.
# Ctrl-C or SIGTERM stops it; the script exits with kluisd's exit code. Extra arguments are passed
# to kluisd (e.g. --retention-days 7).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target kluisd kluis >/dev/null

data=${KLUIS_DATA_DIR:-$root/data}
listen=${KLUIS_LISTEN:-127.0.0.1:8443}
port=${listen##*:}
addr=${listen%:*}
addr=${addr#[}
addr=${addr%]}
case "$addr" in
"" | 0.0.0.0 | 127.0.0.1) addr=127.0.0.1 ;;
:: | ::1) addr=::1 ;;
esac

# Names the URL is printed with: the defaults, or what the caller passed to kluisd.
suffix=vault.localhost
vault=default
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	--dns-suffix) suffix=${args[i + 1]:-$suffix} ;;
	--dns-suffix=*) suffix=${args[i]#*=} ;;
	--default-vault) vault=${args[i + 1]:-$vault} ;;
	--default-vault=*) vault=${args[i]#*=} ;;
	esac
done
host="$vault.$suffix"
url="https://$host:$port/"

build/kluisd --data-dir "$data" --listen "$listen" "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM

# Wait for /health (the CA and the token exist once it answers).
ready=0
for _ in $(seq 1 300); do
	if ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	if [ -f "$data/tls/ca.pem" ] &&
		curl -fsS --max-time 2 --cacert "$data/tls/ca.pem" --resolve "$host:$port:$addr" \
			"https://$host:$port/health" >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done

if [ "$ready" = 1 ]; then
	ca=$(cd "$data/tls" && pwd)/ca.pem
	token=$(head -n1 "$data/admin-token" | tr -d '\r\n')
	cat <<EOF

kluis is running (pid $pid). Ctrl-C stops it.
  vault URL : $url
  CA file   : $ca
  token     : $token
  try       : curl --cacert '$ca' -H "Authorization: Bearer \$(cat '$data/admin-token')" \\
                -X PUT -H 'Content-Type: application/json' -d '{"value":"hello"}' \\
                '${url}secrets/hello?api-version=7.6'
  management: https://localhost:$port (Azure Resource Manager's vaults API and /kluis/v1)
  CLI       : export KLUIS_URL=https://localhost:$port KLUIS_CA='$ca'
              build/kluis --token-file '$data/admin-token' vault list

An application using DefaultAzureCredential (JS or Python), unchanged: with the CLI exports above,
make it a principal with a role once,
  build/kluis --token-file '$data/admin-token' principal create my-app
  build/kluis --token-file '$data/admin-token' role assign --principal my-app --role secrets-officer --vault $vault
then set its environment in the shell that runs it (IDENTITY_ENDPOINT, IDENTITY_HEADER and the CA
variables; a new token of my-app each time) and start it there:
  eval "\$(build/kluis --token-file '$data/admin-token' identity env my-app)"
  node app.mjs    # new SecretClient("$url", new DefaultAzureCredential())
Other routes (--route imds|workload|secret|certificate): docs/identity.md.

EOF
elif kill -0 "$pid" 2>/dev/null; then
	echo "start.sh: kluisd did not answer https://$host:$port/health within 30 s" >&2
	kill -TERM "$pid" 2>/dev/null || true
fi

# Wait for kluisd, also across the signals the trap forwards to it.
set +e
rc=0
while kill -0 "$pid" 2>/dev/null; do
	wait "$pid"
	rc=$?
done
wait "$pid" 2>/dev/null
last=$?
[ "$last" -ne 127 ] && rc=$last
[ "$ready" = 1 ] || [ "$rc" -ne 0 ] || rc=1
exit "$rc"
