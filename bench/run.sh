#!/usr/bin/env bash
# bench/run.sh [--smoke] [--threads N] [--conns N] [--duration S]
# The kluis benchmark (issues 4 and 15): builds kluisd in release mode (bench/build/), the load
# generator (bench/loadgen.c) and the allocation counter (bench/alloccount.c, an LD_PRELOAD
# shim), installs what is missing (nginx, matplotlib, eatmydata; PostgreSQL 15 comes with
# scripts/deps.sh; pg_auto_failover and HAProxy for deploy/cluster.sh), then bench/bench.py
# starts kluisd and the references (nginx, openssl speed) on loopback, a private PostgreSQL 15
# and kluisd on it, and the one-region deployment (deploy/cluster.sh, torn down at the end),
# loads them, prints a table and writes bench/results/latest.json and latest.png (smoke.json and
# smoke.png with --smoke: a second per load and tiny sizes, so CI keeps the harness alive).
# KLUISD=/path/to/kluisd skips the build and benchmarks that binary. Other flags go to bench.py
# (--skip postgres,deployment,... leaves phases out; --help lists them).
# Exits non-zero when kluisd or the harness fails; a missed target is reported, not a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "bench/run.sh: need root to run: $*" >&2
		exit 1
	fi
}

bash scripts/deps.sh

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1 || missing+=(python3-matplotlib)
command -v eatmydata >/dev/null 2>&1 || missing+=(eatmydata)
command -v pg_autoctl >/dev/null 2>&1 || missing+=(postgresql-15-auto-failover)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench/run.sh: installing ${missing[*]}" >&2
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The benchmark starts its own nginx; the package's service (port 80) must not stay up.
	if [[ " ${missing[*]} " == *" nginx-light "* ]] && [ -d /run/systemd/system ]; then
		as_root systemctl disable --now nginx >/dev/null 2>&1 || true
	fi
fi

mkdir -p bench/build
if [ -z "${KLUISD:-}" ]; then
	cmake -S . -B bench/build -DCMAKE_BUILD_TYPE=Release -DKLUIS_E2E=OFF >/dev/null
	cmake --build bench/build -j"$(nproc 2>/dev/null || echo 2)" --target kluisd >/dev/null
	KLUISD=bench/build/kluisd
fi
cc -O2 -Wall -Wextra -Werror -o bench/build/loadgen bench/loadgen.c -lssl -lcrypto -lpthread
cc -O2 -Wall -Wextra -Werror -shared -fPIC -o bench/build/alloccount.so bench/alloccount.c

exec /usr/bin/python3 bench/bench.py --kluisd "$KLUISD" --loadgen bench/build/loadgen \
	--alloc-shim bench/build/alloccount.so "$@"
