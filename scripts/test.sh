#!/usr/bin/env bash
# ./scripts/test.sh
# Installs what is missing, then runs every test: the unit tests in an ASan+UBSan build
# (build-asan/; skipped with KLUIS_SKIP_ASAN=1), every libFuzzer target for a bounded time, one
# per core at a time (build-fuzz/; KLUIS_FUZZ_SECONDS, default 15; skipped with
# KLUIS_SKIP_FUZZ=1) next to the benchmark harness in smoke mode, then the release build
# (build/) with the end-to-end suites (official Azure SDKs for JavaScript and Python, hostile
# bytes) against a real kluisd, and its unit tests only when the sanitizer run was skipped. The
# main ctest run comes last (-j for the cores; the cluster tests and drills run alone,
# RUN_SERIAL), so its summary is the last thing printed.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
# Each phase's header says how long the run has taken so far (the README quotes the total).
phase() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

bash scripts/deps.sh
# promtool checks and unit-tests the alerting rules (tests/e2e/py/test_monitoring.py). It comes
# with Debian's prometheus package, whose server the tests do not want running: its service is
# stopped and disabled right after the install (as bench/run.sh does with nginx's).
if ! command -v promtool >/dev/null 2>&1; then
	echo "test.sh: installing prometheus (for promtool)" >&2
	sudo_=""
	[ "$(id -u)" -eq 0 ] || sudo_=sudo
	$sudo_ apt-get update -qq
	$sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		prometheus >/dev/null
	if [ -d /run/systemd/system ]; then
		$sudo_ systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
fi

phase "npm ci (tests/e2e/js)"
(cd tests/e2e/js && npm ci --no-audit --no-fund --loglevel=error)


if [ "${KLUIS_SKIP_ASAN:-0}" != 1 ]; then
	phase "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKLUIS_SANITIZE=address,undefined \
		-DKLUIS_E2E=OFF >/dev/null
	cmake --build build-asan -j"$jobs"
	(cd build-asan &&
		ASAN_OPTIONS=abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			ctest -L unit --output-on-failure -j"$jobs")
fi

# The benchmark's smoke run keeps its harness alive; its figures are not judged, so it runs next
# to the fuzzers (saving CI two minutes) and its output is printed when both are done.
smoke_log=$(mktemp)
bench/run.sh --smoke >"$smoke_log" 2>&1 &
smoke_pid=$!

if [ "${KLUIS_SKIP_FUZZ:-0}" != 1 ]; then
	phase "fuzzing every network parser for ${KLUIS_FUZZ_SECONDS:-15}s each (build-fuzz/, clang libFuzzer)"
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DKLUIS_FUZZ=ON \
		-DKLUIS_SANITIZE=address,undefined -DKLUIS_E2E=OFF >/dev/null
	cmake --build build-fuzz -j"$jobs" --target fuzzers >/dev/null
	# One target per core at a time (each is single-threaded); each prints its lines at its end.
	fuzz_one() {
		local target=$1 name corpus out rc
		name=$(basename "$target" _fuzz)
		corpus=$(mktemp -d)	# the committed seeds stay as they are
		cp -r "tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
		out=$("$target" -max_total_time="${KLUIS_FUZZ_SECONDS:-15}" -max_len=8192 \
			-print_final_stats=1 "$corpus" 2>&1 | tail -n 3; exit "${PIPESTATUS[0]}")
		rc=$?
		rm -rf "$corpus"
		printf '%s:\n%s\n' "$name" "$out"
		[ "$rc" -eq 0 ] || { echo "fuzz target $name failed (exit $rc)"; return 1; }
	}
	export -f fuzz_one
	printf '%s\n' build-fuzz/*_fuzz | xargs -P "$jobs" -I{} bash -c 'fuzz_one "$1"' _ {} ||
		{ echo "fuzzing failed"; exit 1; }
fi

phase "benchmark smoke (bench/run.sh --smoke, run next to the fuzzers; figures not judged)"
smoke_rc=0
wait "$smoke_pid" || smoke_rc=$?
cat "$smoke_log"
rm -f "$smoke_log"
[ "$smoke_rc" -eq 0 ] || { echo "benchmark smoke failed (exit $smoke_rc)"; exit 1; }

# The unit tests ran above under the sanitizers; the release build runs them only when that run
# was skipped (about a minute saved).
release_tests=()
what="unit and end-to-end tests"
if [ "${KLUIS_SKIP_ASAN:-0}" != 1 ]; then
	release_tests=(-LE '^unit$')
	what="end-to-end tests (the unit tests ran under the sanitizers)"
fi
phase "release build, $what (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKLUIS_E2E=ON >/dev/null
cmake --build build -j"$jobs"
cd build
exec ctest --output-on-failure -j"$jobs" "${release_tests[@]}"
