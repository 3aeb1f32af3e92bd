#!/usr/bin/env bash
# Installs what building and testing kluis needs on Debian 12, and only what is missing:
# the build toolchain and libraries (libcurl for the kluis CLI), node and npm (for the JS SDK
# tests), Debian's python3-azure and python3-cryptography (for the Python SDK tests and their
# interop checks), python3-prometheus-client (its parser reads GET /metrics in the e2e tests),
# python3-matplotlib (the failure drills' plots, tests/e2e/drill/plot.py), azure-cli (az 2.45,
# driven against kluis by tests/e2e/py/test_az.py), the openssl command line, and name
# resolution of *.localhost to loopback (nss-myhostname), which the vault URLs
# https://NAME.vault.localhost:PORT rely on.
# Idempotent and quiet when there is nothing to do. Needs root (or sudo) only when it installs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(build-essential cmake pkg-config libmicrohttpd-dev libssl-dev libjansson-dev
	  liblmdb-dev libcmocka-dev libcurl4-openssl-dev openssl curl ca-certificates python3-azure
	  python3-cryptography libnss-myhostname clang libclang-rt-14-dev libpq-dev
	  postgresql-15 python3-prometheus-client python3-matplotlib azure-cli)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "deps.sh: need root to run: $*" >&2
		exit 1
	fi
}

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
# node and npm may come from outside Debian (e.g. a NodeSource build that bundles npm): the
# commands are what matter, not the packages.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps.sh: installing ${missing[*]}" >&2
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
	echo "deps.sh: warning: node $(node --version 2>/dev/null) is older than the Azure SDKs ask for (20)" >&2
fi

# *.localhost -> loopback: glibc's resolver does it only through nss-myhostname.
if ! grep -Eq '^hosts:.*[[:space:]]myhostname([[:space:]]|$)' /etc/nsswitch.conf; then
	echo "deps.sh: adding myhostname to the hosts line of /etc/nsswitch.conf" >&2
	if grep -Eq '^hosts:' /etc/nsswitch.conf; then
		# Right after "files", so /etc/hosts still wins and DNS is never asked for *.localhost.
		if grep -Eq '^hosts:.*[[:space:]]files([[:space:]]|$)' /etc/nsswitch.conf; then
			as_root sed -i -E '/^hosts:/ s/([[:space:]])files([[:space:]]|$)/\1files myhostname\2/' /etc/nsswitch.conf
		else
			as_root sed -i -E '/^hosts:/ s/^hosts:([[:space:]]*)/hosts:\1myhostname /' /etc/nsswitch.conf
		fi
	else
		echo "hosts:          files myhostname dns" | as_root tee -a /etc/nsswitch.conf >/dev/null
	fi
fi
if ! getent hosts default.vault.localhost >/dev/null; then
	echo "deps.sh: default.vault.localhost does not resolve (check /etc/nsswitch.conf)" >&2
	exit 1
fi
