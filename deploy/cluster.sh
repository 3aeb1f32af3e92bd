#!/usr/bin/env bash
# deploy/cluster.sh: a whole replicated kluis deployment on loopback, from Debian packages.
#
#   deploy/cluster.sh up [--regions 1|2] [--nodes N] DIR build it, or start what is not running
#   deploy/cluster.sh status DIR                          refresh DIR/topology.json, print a table
#   deploy/cluster.sh down [--purge] DIR                  stop what `up` started (--purge: and
#                                                         remove the data)
#   deploy/cluster.sh promote r1|r2 [--dry-run] [--force] DIR  make the secondary region the
#                                                         primary when the other is lost for good
#   deploy/cluster.sh switchover r1|r2 [--dry-run] DIR    move the writes to the secondary region,
#                                                         both healthy, losing nothing
#
# Region r1 (the primary region):
#   - PostgreSQL 15 managed by pg_auto_failover: a monitor and two data nodes, a primary and a
#     synchronous standby (synchronous_standby_names = 'ANY 1 (...)' on the primary), each run by
#     its own `pg_autoctl run` keeper, as the `postgres` system user, data in DIR/pg;
#   - N kluisd nodes (default 2) on one shared store: DIR/kluisd-K, each connected with a
#     multi-host conninfo and target_session_attrs=read-write, so that it follows the primary.
# Region r2 (with --regions 2; the secondary region, read-only):
#   - pg-3, a PostgreSQL hot standby streaming asynchronously from r1's primary (whichever node
#     that is: a multi-host primary_conninfo with target_session_attrs=read-write). Plain
#     streaming replication, outside pg_auto_failover: nothing ever promotes it;
#   - N more kluisd nodes on pg-3, started with --region r2: read-only, because their store is a
#     standby. Each region's nodes check the other region's database (--peer-postgres): after
#     `promote r2`, pg-3 is a primary under a new epoch, r2's nodes take writes, and r1's nodes,
#     should r1 come back, refuse every write (fenced). The next `up` rebuilds r1 as the
#     secondary region: its formation set aside, pg-1 a plain standby of pg-3, its nodes on it.
#     `switchover` moves the writes between healthy regions and rebuilds the old primary region
#     at once (deploy/cluster-regions.sh).
# HAProxy on 127.0.0.1:PORT in TCP mode (kluisd terminates TLS). With one region it sends traffic
# to the nodes that take writes and, when none does, to every node that answers. With two, the
# same: whichever region takes writes, its nodes take the new connections, and while none can
# write every node that serves at all does (reads go on in the secondary region). A node that
# refuses a write for being read-only closes the connection, so clients come back through
# HAProxy by themselves. HAProxy asks each node's agent port (kluisd --lb-agent), answered by a
# thread of its own that no request can hold up: whether it takes writes, and whether it is alive
# at all; a node that stops answering (frozen, not dead) has its connections cut within about
# 1.75 s, so that clients retry elsewhere instead of waiting on it.
#
# Everything listens on 127.0.0.1 only, on ports picked at the first `up` and kept in
# DIR/cluster.env. Authentication inside the deployment is `trust` on loopback (no passwords):
# fine on a machine of one's own, not across a network; see docs/deploy.md.
#
# `up` on an existing DIR starts exactly the parts that are not running, with their data kept,
# so a failure drill can kill -9 any process listed in DIR/topology.json and bring it back.
# Environment: KLUISD (the kluisd binary; default: build it in the repository's build/),
# KLUISD_ARGS (extra kluisd flags, split on spaces). Needs root to install packages and to run
# PostgreSQL as `postgres`; as another user it runs PostgreSQL as that user and installs nothing.
# Exit status: 0 success, 1 failure, 2 bad usage; `status` exits 3 when a process is down.
set -euo pipefail
umask 022

ME="cluster.sh"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
DBNAME=kluis	# the database kluisd keeps its table in, owned by the role of the same name
DBUSER=kluis
VAULT=default
SUFFIX=vault.localhost

# Failover timing (pg_auto_failover's defaults aim at minutes of patience; a vault aims at
# seconds). The monitor checks each node every second and calls a node unhealthy when its keeper
# has not reported for 3 s and the monitor's own check fails. When the keeper still runs (only
# postgres died) it reports that at once and the failover takes about 2 s. A primary that has
# lost both the monitor and its standby demotes itself after NETWORK_PARTITION_S; the monitor
# promotes a standby only after PRIMARY_DEMOTE_MS, which must stay longer than that. With
# synchronous replication an isolated old primary cannot acknowledge a write meanwhile anyway.
HEALTH_CHECK_PERIOD_MS=1000
HEALTH_CHECK_TIMEOUT_MS=1000
HEALTH_CHECK_MAX_RETRIES=1
HEALTH_CHECK_RETRY_DELAY_MS=500
UNHEALTHY_TIMEOUT_MS=3000
PRIMARY_DEMOTE_MS=4000
NETWORK_PARTITION_S=2

log() { printf '%s: %s\n' "$ME" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

usage() {
	cat >&2 <<EOF
usage: deploy/cluster.sh up [--regions 1|2] [--nodes N] DIR
       deploy/cluster.sh status DIR
       deploy/cluster.sh down [--purge] DIR
       deploy/cluster.sh promote r1|r2 [--dry-run] [--force] DIR
       deploy/cluster.sh switchover r1|r2 [--dry-run] DIR
EOF
	exit 2
}

# --- arguments ---------------------------------------------------------------------------------

[ $# -ge 1 ] || usage
cmd=$1
shift
opt_regions=""
opt_nodes=""
opt_purge=0
opt_force=0
opt_dry_run=0
promote_region=""
DIR=""
if { [ "$cmd" = promote ] || [ "$cmd" = switchover ]; } && [ $# -ge 1 ] && [[ "$1" != -* ]]; then
	promote_region=$1
	shift
fi
while [ $# -gt 0 ]; do
	case "$1" in
	--force) [ "$cmd" = promote ] || usage; opt_force=1; shift ;;
	--dry-run) [ "$cmd" = promote ] || [ "$cmd" = switchover ] || usage; opt_dry_run=1; shift ;;
	--regions) [ $# -ge 2 ] || usage; opt_regions=$2; shift 2 ;;
	--regions=*) opt_regions=${1#*=}; shift ;;
	--nodes) [ $# -ge 2 ] || usage; opt_nodes=$2; shift 2 ;;
	--nodes=*) opt_nodes=${1#*=}; shift ;;
	--purge) opt_purge=1; shift ;;
	-h | --help) usage ;;
	-*) log "unknown option $1"; usage ;;
	*) [ -z "$DIR" ] || usage; DIR=$1; shift ;;
	esac
done
[ -n "$DIR" ] || usage
case "$cmd" in
up) [ "$opt_purge" = 0 ] || usage ;;
status) [ -z "$opt_regions$opt_nodes" ] && [ "$opt_purge" = 0 ] || usage ;;
down) [ -z "$opt_regions$opt_nodes" ] || usage ;;
promote | switchover) [ -z "$opt_regions$opt_nodes" ] && [ "$opt_purge" = 0 ] &&
	[[ "$promote_region" =~ ^r[12]$ ]] || usage ;;
*) usage ;;
esac
if [ -n "$opt_regions" ]; then
	case "$opt_regions" in
	1 | 2) ;;
	*) log "--regions must be 1 or 2"; usage ;;
	esac
fi
if [ -n "$opt_nodes" ]; then
	[[ "$opt_nodes" =~ ^[0-9]+$ ]] && [ "$opt_nodes" -ge 1 ] && [ "$opt_nodes" -le 32 ] ||
		{ log "--nodes must be 1-32"; usage; }
fi

if [ "$cmd" = up ]; then
	mkdir -p "$DIR"
fi
[ -d "$DIR" ] || die "$DIR: no such directory"
DIR=$(cd "$DIR" && pwd -P)
[[ "$DIR" != *[[:space:]\"\'\\]* ]] || die "DIR must not contain spaces, quotes or backslashes: $DIR"
ENV_FILE=$DIR/cluster.env
PGROOT=$DIR/pg
RUN=$DIR/run
LOGS=$DIR/logs
TOPOLOGY=$DIR/topology.json
HAPROXY_CFG=$DIR/haproxy/haproxy.cfg

if [ "$cmd" != up ] && [ ! -f "$ENV_FILE" ]; then
	die "$DIR holds no deployment (no cluster.env)"
fi

# One command at a time per DIR. The lock's descriptor is closed in every process started below.
exec 9>>"$DIR/.lock"
flock -w 600 9 || die "another cluster.sh holds $DIR/.lock"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# --- packages ----------------------------------------------------------------------------------

apt_updated=0
install_packages() {
	local missing=() p
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] ||
			missing+=("$p")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	[ "$IS_ROOT" = 1 ] || die "missing Debian packages ${missing[*]}; install them as root"
	log "installing ${missing[*]}"
	if [ "$apt_updated" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq 9>&- || true
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null 9>&- || die "apt-get install ${missing[*]} failed"
}

# --- small helpers -----------------------------------------------------------------------------

json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# Is process $1 alive? A zombie is not: where PID 1 does not reap orphans (some containers),
# a killed process stays a zombie, and kill -0 still succeeds on it.
alive() {
	local stat
	[[ "$1" =~ ^[0-9]+$ ]] || return 1
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[ "${stat:0:1}" != Z ] && [ "${stat:0:1}" != X ]
}

# Does process $1 exist with every other argument among the words of its command line?
proc_is() {
	local pid=$1 word
	shift
	alive "$pid" || return 1
	local -a argv
	mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || return 1
	for word in "$@"; do
		local found=0 a
		for a in "${argv[@]}"; do
			if [ "$a" = "$word" ]; then
				found=1
				break
			fi
		done
		[ "$found" = 1 ] || return 1
	done
	return 0
}

# The process name whose pid file DIR/run/NAME.pid names a live process with the given words.
pid_of() {
	local name=$1 pid
	shift
	[ -f "$RUN/$name.pid" ] || return 1
	pid=$(head -n1 "$RUN/$name.pid" 2>/dev/null || true)
	proc_is "$pid" "$@" || return 1
	echo "$pid"
}

# The postmaster of a data directory, from its postmaster.pid, when alive.
postmaster_of() {
	local pgdata=$1 pid
	pid=$(head -n1 "$pgdata/postmaster.pid" 2>/dev/null || true)
	proc_is "$pid" "$PGBIN/postgres" -D "$pgdata" || return 1
	echo "$pid"
}

# What a postmaster killed with -9 leaves behind names a pid that the system may since have
# given to another process, or that is still the killed postmaster's zombie where nothing reaps
# orphans promptly (seen on a machine whose init is not a reaping one): PostgreSQL then refuses
# to start ("lock file already exists") until that process is gone. Two such files: the data
# directory $1's postmaster.pid (10 s of a monitor not starting, seen in a drill), and the lock
# on its port $2's socket, /var/run/postgresql/.s.PGSQL.PORT.lock (the rebuilt pg-1 of a rejoin,
# which takes over the old pg-1's port, never started, seen in test_regions). When no postmaster
# of this data directory runs, and no process at all works in it (a backend orphaned by the
# killed postmaster may still hold its shared memory, which postmaster.pid is how PostgreSQL
# finds), the first is stale; when besides nothing listens on the port, so is the second: remove
# them.
clear_stale_pidfile() {
	local pgdata=$1 port=${2:-} d lock
	postmaster_of "$pgdata" >/dev/null && return 0
	if [ -f "$pgdata/postmaster.pid" ]; then
		for d in /proc/[0-9]*; do
			[ "$(readlink "$d/cwd" 2>/dev/null)" != "$pgdata" ] || return 0
		done
		pg_tool rm -f "$pgdata/postmaster.pid"
		log "removed the stale $pgdata/postmaster.pid"
	fi
	lock=/var/run/postgresql/.s.PGSQL.$port.lock
	[ -n "$port" ] && [ -f "$lock" ] || return 0
	listening_ports | grep -qx "$port" && return 0
	pg_tool rm -f "$lock" "/var/run/postgresql/.s.PGSQL.$port"
	log "removed the stale $lock"
}

# Ports on 127.0.0.1 below the ephemeral range that nothing listens on and that no other name
# in DIR/cluster.env holds: ports of a deployment are kept across runs, so they must not be ones
# the kernel hands out to outgoing connections.
declare -A taken_ports=()
listening_ports() {
	local f hex
	for f in /proc/net/tcp /proc/net/tcp6; do
		[ -r "$f" ] || continue
		for hex in $(awk 'NR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' "$f"); do
			echo $((16#$hex))
		done
	done
}
# Sets the variable named $1 to a port that nothing listens on and no earlier pick_port gave. Not
# $(pick_port): in a subshell the ports it took would be forgotten, and two parts of one
# deployment could get the same port (seen: kluisd-2 on pg-1's port).
pick_port() {
	local lo hi candidate
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	hi=$((lo - 1))
	lo=20000
	[ "$hi" -gt $((lo + 1000)) ] || { lo=10000; hi=19999; }
	if [ -z "${listening_loaded:-}" ]; then
		for candidate in $(listening_ports); do taken_ports[$candidate]=1; done
		listening_loaded=1
	fi
	local tries
	for ((tries = 0; tries < 1000; tries++)); do
		candidate=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		[ -z "${taken_ports[$candidate]:-}" ] || continue
		taken_ports[$candidate]=1
		printf -v "$1" '%s' "$candidate"
		return 0
	done
	die "no free port found between $lo and $hi"
}

# --- PostgreSQL as the postgres user -----------------------------------------------------------

PGUSER_OS=$(id -un)
PGHOME=$HOME
if [ "$IS_ROOT" = 1 ]; then
	PGUSER_OS=postgres
fi
XDG_ENV=(XDG_CONFIG_HOME="$PGROOT/xdg/config" XDG_DATA_HOME="$PGROOT/xdg/data"
	XDG_RUNTIME_DIR="$PGROOT/xdg/run" PG_CONFIG="$PGBIN/pg_config")

# as_pg: the command prefix that runs a PostgreSQL tool as the database's OS user with the
# deployment's pg_autoctl configuration. setpriv execs (no fork), so $! of a background command
# is the tool's own pid.
as_pg=()
setup_as_pg() {
	if [ "$IS_ROOT" = 1 ]; then
		getent passwd postgres >/dev/null || die "no system user postgres (install postgresql-15)"
		PGHOME=$(getent passwd postgres | cut -d: -f6)
		as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --reset-env
			env HOME="$PGHOME" PATH="$PGBIN:/usr/bin:/bin" "${XDG_ENV[@]}")
	else
		as_pg=(env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGDATA
			PATH="$PGBIN:/usr/bin:/bin" "${XDG_ENV[@]}")
	fi
}

pg_tool() { (cd "$PGROOT" && "${as_pg[@]}" "$@" 9>&-); }

# psql as the database superuser over loopback TCP (trust): the first value of the result.
sql() {
	local port=$1 db=$2 query=$3
	PGCONNECT_TIMEOUT=2 psql -X -q -A -t -w -h 127.0.0.1 -p "$port" -U "$PGUSER_OS" -d "$db" \
		-v ON_ERROR_STOP=1 -c "$query" 2>/dev/null 9>&-
}

ensure_pg_dirs() {
	mkdir -p "$PGROOT"
	if [ "$IS_ROOT" = 1 ]; then
		chown postgres:postgres "$PGROOT"
		# The postgres user must reach DIR/pg: give DIR (only DIR) the search bit when needed.
		if ! setpriv --reuid=postgres --regid=postgres --init-groups test -x "$PGROOT" 9>&-; then
			chmod o+x "$DIR"
			log "made $DIR searchable by others (o+x) so that the postgres user reaches $PGROOT"
			setpriv --reuid=postgres --regid=postgres --init-groups test -x "$PGROOT" 9>&- ||
				die "the postgres user cannot reach $PGROOT: a parent directory of $DIR is closed to it"
		fi
		# Debian's default unix_socket_directories; /run may be a fresh tmpfs.
		install -d -o postgres -g postgres -m 2775 /var/run/postgresql
	fi
	chmod 0700 "$PGROOT"
	pg_tool mkdir -p "$PGROOT/xdg/config" "$PGROOT/xdg/data" "$PGROOT/xdg/run"
	pg_tool chmod 0700 "$PGROOT/xdg/run"
}

# Settings appended to a node's postgresql.auto.conf (which wins over the files pg_autoctl
# rewrites): pg_auto_failover sizes shared_buffers at a quarter of the machine's memory, far too
# much for three servers on one host.
tune_node() {
	local pgdata=$1 kind=$2 conf=$1/postgresql.auto.conf
	grep -q '^shared_buffers' "$conf" 2>/dev/null && return 0
	{
		echo "shared_buffers = '128MB'"
		echo "effective_cache_size = '512MB'"
		echo "maintenance_work_mem = '64MB'"
		echo "work_mem = '4MB'"
		echo "listen_addresses = '127.0.0.1'"
		# WAL kept for a second region's replica, which has no replication slot (a slot lives
		# on one node and would not follow a failover inside r1). A replica that falls further
		# behind than this must be rebuilt (docs/deploy.md).
		[ "$kind" = monitor ] || echo "wal_keep_size = '1GB'"
		if [ "$kind" = monitor ]; then
			echo "pgautofailover.health_check_period = $HEALTH_CHECK_PERIOD_MS"
			echo "pgautofailover.health_check_timeout = $HEALTH_CHECK_TIMEOUT_MS"
			echo "pgautofailover.health_check_max_retries = $HEALTH_CHECK_MAX_RETRIES"
			echo "pgautofailover.health_check_retry_delay = $HEALTH_CHECK_RETRY_DELAY_MS"
			echo "pgautofailover.node_considered_unhealthy_timeout = $UNHEALTHY_TIMEOUT_MS"
			echo "pgautofailover.primary_demote_timeout = $PRIMARY_DEMOTE_MS"
		fi
	} | pg_tool tee -a "$conf" >/dev/null
}

# Starts `pg_autoctl run` for one node in the background, in its own session (a Ctrl-C where
# cluster.sh runs does not reach it), and records its pid.
start_keeper() {
	local name=$1 pgdata=$PGROOT/$1 pid
	(cd "$PGROOT" && exec "${as_pg[@]}" setsid pg_autoctl run --pgdata "$pgdata" \
		>>"$LOGS/$name.log" 2>&1 </dev/null 9>&-) &
	pid=$!
	echo "$pid" >"$RUN/$name.pid"
	echo "$pid" >>"$RUN/$name.pgids"	# its process group (setsid), for reap_keeper_leftovers
	log "started $name (pg_autoctl run, pid $pid; log $LOGS/$name.log)"
}

keeper_pid() { pid_of "$1" pg_autoctl run "$PGROOT/$1"; }

# A keeper killed alone leaves its service processes ("pg_autoctl: start/stop postgres", "...:
# node active") behind, in its process group, and its pid file: they would stop the next keeper
# or fight it over the node. SIGKILL them (not SIGTERM: the postgres service would stop postgres
# on its way out); a postmaster still running is adopted by the next keeper.
reap_keeper_leftovers() {
	local name=$1 d pid stat pgrp argv pidfile old
	local -A groups=()
	for pgrp in $(cat "$RUN/$name.pgids" 2>/dev/null || true); do
		[[ "$pgrp" =~ ^[0-9]+$ ]] && groups[$pgrp]=1
	done
	[ "${#groups[@]}" -gt 0 ] || return 0
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		{ read -r stat <"$d/stat"; } 2>/dev/null || continue
		stat=${stat##*) }
		read -r _ _ pgrp _ <<<"$stat"
		[ -n "${groups[$pgrp]:-}" ] || continue
		alive "$pid" || continue
		mapfile -d '' -t argv <"$d/cmdline" 2>/dev/null || continue
		if [[ "${argv[0]:-}" == pg_autoctl* ]]; then
			kill -KILL "$pid" 2>/dev/null && log "killed $name's leftover ${argv[0]} (pid $pid)"
		fi
	done
	pidfile=$PGROOT/xdg/run/pg_autoctl$PGROOT/$name/pg_autoctl.pid
	old=$(head -n1 "$pidfile" 2>/dev/null || true)
	if [ -n "$old" ] && ! alive "$old"; then
		rm -f "$pidfile"
	fi
	return 0
}

wait_sql() {
	local port=$1 db=$2 query=$3 want=$4 secs=$5 i got
	for ((i = 0; i < secs * 5; i++)); do
		got=$(sql "$port" "$db" "$query" || true)
		if [ "$got" = "$want" ]; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

# --- the deployment's fixed facts (DIR/cluster.env) ----------------------------------------------

load_env() {
	local line key val
	regions=1
	nodes=2
	while IFS= read -r line; do
		case "$line" in '' | '#'*) continue ;; esac
		key=${line%%=*}
		val=${line#*=}
		[[ "$key" =~ ^[a-z_0-9]+$ ]] && [[ "$val" =~ ^[0-9]+$ ]] ||
			die "$ENV_FILE: bad line: $line"
		printf -v "$key" '%s' "$val"
		[[ "$key" == port_* ]] && taken_ports[$val]=1
	done <"$ENV_FILE"
	# A deployment made before the agent ports: give them theirs, kept like the others.
	local k a
	for ((k = 1; k <= nodes * regions; k++)); do
		a="port_agent_$k"
		[ -z "${!a:-}" ] || continue
		pick_port "$a"
		echo "$a=${!a}" >>"$ENV_FILE"
	done
	return 0
}

create_env() {
	local k
	regions=${opt_regions:-1}
	nodes=${opt_nodes:-2}
	pick_port port_monitor
	pick_port port_pg_1
	pick_port port_pg_2
	[ "$regions" = 1 ] || pick_port port_pg_3
	for ((k = 1; k <= nodes * regions; k++)); do
		pick_port "port_kluisd_$k"
	done
	for ((k = 1; k <= nodes * regions; k++)); do
		pick_port "port_agent_$k"
	done
	pick_port port_haproxy
	{
		echo "# written by deploy/cluster.sh at the first 'up'; every later run uses these ports"
		echo "regions=$regions"
		echo "nodes=$nodes"
		echo "port_monitor=$port_monitor"
		echo "port_pg_1=$port_pg_1"
		echo "port_pg_2=$port_pg_2"
		[ "$regions" = 1 ] || echo "port_pg_3=$port_pg_3"
		for ((k = 1; k <= nodes * regions; k++)); do
			local v="port_kluisd_$k"
			echo "port_kluisd_$k=${!v}"
		done
		for ((k = 1; k <= nodes * regions; k++)); do
			local a="port_agent_$k"
			echo "port_agent_$k=${!a}"
		done
		echo "port_haproxy=$port_haproxy"
	} >"$ENV_FILE.tmp"
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

pg_nodes() { echo pg-1 pg-2; }	# r1's, managed by pg_auto_failover
REPLICA=pg-3	# r2's replica, with --regions 2
total_nodes() { echo $((nodes * regions)); }
node_region() { [ "$1" -le "$nodes" ] && echo r1 || echo r2; }
region_list() { [ "$regions" = 1 ] && echo r1 || echo r1 r2; }
pg_port() { local v="port_pg_${1#pg-}"; echo "${!v}"; }
kluisd_port() { local v="port_kluisd_$1"; echo "${!v}"; }
agent_port() { local v="port_agent_$1"; echo "${!v}"; }
conninfo() {
	echo "host=127.0.0.1,127.0.0.1 port=$port_pg_1,$port_pg_2 dbname=$DBNAME user=$DBUSER target_session_attrs=read-write sslmode=disable"
}
plain_conninfo() { echo "host=127.0.0.1 port=$1 dbname=$DBNAME user=$DBUSER sslmode=disable"; }
# The region that takes writes: r1 until `promote r2` or a switchover says otherwise.
primary_region() { cat "$RUN/primary-region" 2>/dev/null || echo r1; }
secondary_region() { [ "$(primary_region)" = r1 ] && echo r2 || echo r1; }
# Has r1 given up its pg_auto_failover formation for a plain pg-1 (the first time it became the
# secondary region)? deploy/cluster-regions.sh
rejoined() { [ -f "$RUN/r1-rejoined" ]; }
# r1's database: its formation's pair, or pg-1 alone once rejoined.
r1_conninfo() { if rejoined; then plain_conninfo "$port_pg_1"; else conninfo; fi; }
# What kluisd node $1 connects to: its region's database.
node_conninfo() {
	if [ "$(node_region "$1")" = r2 ]; then plain_conninfo "$port_pg_3"; else r1_conninfo; fi
}
# The other region's database, which node $1's fence watches (--peer-postgres).
peer_conninfo() {
	if [ "$(node_region "$1")" = r1 ]; then plain_conninfo "$port_pg_3"; else r1_conninfo; fi
}
# The conninfo of the deployment's writable database.
primary_conninfo() {
	if [ "$(primary_region)" = r2 ]; then plain_conninfo "$port_pg_3"; else r1_conninfo; fi
}
vault_url() { echo "https://$VAULT.$SUFFIX:$port_haproxy"; }
monitor_uri() { echo "postgres://autoctl_node@127.0.0.1:$port_monitor/pg_auto_failover?sslmode=disable"; }

# The port of the data node that takes writes now, or nothing.
primary_port() {
	local n p
	for n in $(pg_nodes); do
		p=$(pg_port "$n")
		if [ "$(sql "$p" "$DBNAME" 'select pg_is_in_recovery()' || true)" = f ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# --- up: PostgreSQL + pg_auto_failover -----------------------------------------------------------

up_monitor() {
	local pgdata=$PGROOT/monitor
	if [ ! -f "$RUN/monitor.created" ]; then
		log "creating the pg_auto_failover monitor on 127.0.0.1:$port_monitor"
		pg_tool pg_autoctl create monitor --pgdata "$pgdata" --pgctl "$PGBIN/pg_ctl" \
			--pgport "$port_monitor" --listen 127.0.0.1 --hostname 127.0.0.1 \
			--auth trust --no-ssl >>"$LOGS/monitor.log" 2>&1 ||
			die "pg_autoctl create monitor failed; see $LOGS/monitor.log"
		tune_node "$pgdata" monitor
		touch "$RUN/monitor.created"
	fi
	if ! keeper_pid monitor >/dev/null; then
		reap_keeper_leftovers monitor
		clear_stale_pidfile "$pgdata" "$port_monitor"
		start_keeper monitor
	fi
	wait_sql "$port_monitor" pg_auto_failover 'select 1' 1 60 ||
		die "the monitor does not answer on 127.0.0.1:$port_monitor; see $LOGS/monitor.log"
}

create_data_node() {
	local name=$1 pgdata=$PGROOT/$1 port
	port=$(pg_port "$name")
	log "creating PostgreSQL node $name on 127.0.0.1:$port"
	pg_tool pg_autoctl create postgres --pgdata "$pgdata" --pgctl "$PGBIN/pg_ctl" \
		--pgport "$port" --listen 127.0.0.1 --hostname 127.0.0.1 --name "$name" \
		--dbname "$DBNAME" --monitor "$(monitor_uri)" --auth trust --no-ssl \
		--replication-quorum true --candidate-priority 50 >>"$LOGS/$name.log" 2>&1 ||
		die "pg_autoctl create postgres ($name) failed; see $LOGS/$name.log"
	tune_node "$pgdata" data
	pg_tool pg_autoctl config set --pgdata "$pgdata" timeout.network_partition_timeout \
		"$NETWORK_PARTITION_S" >/dev/null
	touch "$RUN/$name.created"
}

# A whole region coming back (the monitor and every data node down, keepers and postmasters):
# the data nodes' postmasters are started first, as they were, and the monitor and the keepers
# only once they accept connections. Started the other way round, a keeper reports "PostgreSQL
# is not running" before it starts its node, and the monitor, seeing the primary down, fails
# over to the standby: seconds of outage and a pg_rewind, just after the region came back.
# A postmaster that was a primary when it died comes back as one; were it stale (the monitor had
# promoted the other node first), it could not acknowledge a write anyway (its synchronous
# standby follows the other node) until its keeper demotes it.
prestart_region() {
	local n pgdata i ok
	keeper_pid monitor >/dev/null && return 0
	postmaster_of "$PGROOT/monitor" >/dev/null && return 0
	for n in $(pg_nodes); do
		[ -f "$RUN/$n.created" ] || return 0
		keeper_pid "$n" >/dev/null && return 0
		postmaster_of "$PGROOT/$n" >/dev/null && return 0
	done
	for n in $(pg_nodes); do
		reap_keeper_leftovers "$n"
		pgdata=$PGROOT/$n
		clear_stale_pidfile "$pgdata" "$(pg_port "$n")"
		log "starting the postgres of $n before its keeper (the whole region was down)"
		pg_tool pg_ctl -D "$pgdata" -W start >>"$LOGS/$n.log" 2>&1 </dev/null ||
			log "warning: pg_ctl start of $n failed; its keeper will start it"
	done
	for ((i = 0; i < 150; i++)); do
		ok=1
		for n in $(pg_nodes); do
			sql "$(pg_port "$n")" "$DBNAME" 'select 1' >/dev/null || ok=0
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.2
	done
	log "warning: the data nodes do not all accept connections yet; starting the keepers anyway"
}

up_postgres() {
	local n port
	for n in $(pg_nodes); do
		if [ ! -f "$RUN/$n.created" ]; then
			# A standby is cloned from the primary: the primary must run and take writes.
			if [ "$n" != pg-1 ]; then
				wait_primary 60 || die "no primary to clone $n from; see $LOGS/pg-1.log"
			fi
			create_data_node "$n"
		fi
		if ! keeper_pid "$n" >/dev/null; then
			reap_keeper_leftovers "$n"
			clear_stale_pidfile "$PGROOT/$n" "$(pg_port "$n")"
			start_keeper "$n"
		fi
	done
	wait_primary 90 || die "no PostgreSQL primary within 90 s; see $LOGS/pg-*.log and $LOGS/monitor.log"
	if [ ! -f "$RUN/db.created" ]; then
		# The role kluisd connects as, owner of its database (so that it may create its table in
		# the public schema); replicated to the standby like any other change.
		port=$(primary_port)
		# It may also pause a standby's replay and promote it: `promote` asks an r2 node to.
		sql "$port" "$DBNAME" "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DBUSER') THEN CREATE ROLE $DBUSER LOGIN; END IF; END\$\$; ALTER DATABASE $DBNAME OWNER TO $DBUSER; GRANT pg_monitor TO $DBUSER; GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer), pg_wal_replay_pause(), pg_wal_replay_resume() TO $DBUSER" >/dev/null ||
			die "cannot create the role $DBUSER on the primary (port $port)"
		# A fresh pair: wait until the standby is synchronous, so that the first acknowledged
		# write is already on two servers. Later runs do not wait for a standby catching up.
		wait_sync 90 || die "the standby did not become synchronous within 90 s; see $LOGS/pg-2.log"
		touch "$RUN/db.created"
	elif ! wait_sync 30; then
		log "warning: no synchronous standby yet: writes are acknowledged by the primary alone until one catches up"
	fi
}

wait_primary() {
	local secs=$1 i
	for ((i = 0; i < secs * 5; i++)); do
		primary_port >/dev/null && return 0
		sleep 0.2
	done
	return 1
}

wait_sync() {
	local secs=$1 i p s
	for ((i = 0; i < secs * 5; i++)); do
		if p=$(primary_port); then
			s=$(sql "$p" "$DBNAME" 'show synchronous_standby_names' || true)
			[ -n "$s" ] && return 0
		fi
		sleep 0.2
	done
	return 1
}

# --- up: kluisd --------------------------------------------------------------------------------

kluisd_pid() { pid_of "kluisd-$1" --data-dir "$DIR/kluisd-$1"; }

health() {
	local k=$1 path=${2:-/health}
	curl -fsS --max-time 2 --cacert "$DIR/kluisd-$k/tls/ca.pem" \
		"https://127.0.0.1:$(kluisd_port "$k")$path" 2>/dev/null 9>&-
}

# A node's data dir before its first start: the deployment's master key (to unseal the shared
# store), the admin token file (the store holds only its hash) and the CA (kluisd issues its
# own server certificate from it), copied from a node that has them.
seed_kluisd() {
	local k=$1 dd=$DIR/kluisd-$1 j src=""
	for ((j = 1; j <= $(total_nodes); j++)); do
		if [ "$j" != "$k" ] && [ -f "$DIR/kluisd-$j/master.key" ] &&
			[ -f "$DIR/kluisd-$j/tls/ca-key.pem" ]; then
			src=$DIR/kluisd-$j
			break
		fi
	done
	[ -n "$src" ] || return 1
	install -d -m 0700 "$dd" "$dd/tls"
	install -m 0600 "$src/master.key" "$dd/master.key"
	install -m 0600 "$src/admin-token" "$dd/admin-token"
	install -m 0644 "$src/tls/ca.pem" "$dd/tls/ca.pem"
	install -m 0600 "$src/tls/ca-key.pem" "$dd/tls/ca-key.pem"
	log "seeded kluisd-$k from $src (master key, admin token, CA)"
}

start_kluisd() {
	local k=$1 dd=$DIR/kluisd-$1 port pid args
	port=$(kluisd_port "$k")
	if [ ! -f "$dd/master.key" ]; then
		seed_kluisd "$k" || [ "$k" = 1 ] ||
			die "kluisd-$k has no master key and no initialised node to copy one from"
	fi
	kluisd_args "$k" >"$RUN/kluisd-$k.args"
	mapfile -t args <"$RUN/kluisd-$k.args"
	(exec setsid "$KLUISD" "${args[@]}" >>"$LOGS/kluisd-$k.log" 2>&1 </dev/null 9>&-) &
	pid=$!
	echo "$pid" >"$RUN/kluisd-$k.pid"
	log "started kluisd-$k on 127.0.0.1:$port (pid $pid; log $LOGS/kluisd-$k.log)"
}

# The flags of kluisd node $1, one per line.
kluisd_args() {
	local k=$1 extra=()
	# shellcheck disable=SC2206 # KLUISD_ARGS is split on spaces on purpose
	[ -z "${KLUISD_ARGS:-}" ] || extra=(${KLUISD_ARGS})
	# r1's nodes ask the monitor about each new connection: one to a primary it is failing over
	# from is not used (pg_auto_failover 2.0 may restart it writable; docs/availability.md).
	if [ "$(node_region "$k")" = r1 ] && ! rejoined; then
		extra+=(--postgres-monitor "$(monitor_uri)")
	fi
	# With two regions each node checks the other region's database: the write fence.
	[ "$regions" = 1 ] || extra+=(--peer-postgres "$(peer_conninfo "$k")")
	printf '%s\n' --data-dir "$DIR/kluisd-$k" --listen "127.0.0.1:$(kluisd_port "$k")" \
		--lb-agent "127.0.0.1:$(agent_port "$k")" --postgres "$(node_conninfo "$k")" \
		--region "$(node_region "$k")" "${extra[@]}"
}

# Is kluisd node $1 running with other flags than it would be started with now (its database
# moved: a promotion, a rejoin)?
kluisd_stale() {
	[ -f "$RUN/kluisd-$1.args" ] && ! kluisd_args "$1" | cmp -s - "$RUN/kluisd-$1.args"
}

wait_kluisd() {
	local k=$1 i pid
	pid=$(head -n1 "$RUN/kluisd-$k.pid")
	for ((i = 0; i < 300; i++)); do
		if ! alive "$pid"; then
			tail -n 20 "$LOGS/kluisd-$k.log" >&2 || true
			die "kluisd-$k exited; see $LOGS/kluisd-$k.log"
		fi
		[ -f "$DIR/kluisd-$k/tls/ca.pem" ] && health "$k" >/dev/null && return 0
		sleep 0.1
	done
	die "kluisd-$k does not answer /health within 30 s; see $LOGS/kluisd-$k.log"
}

# Starts the kluisd nodes numbered $1 to $2 that are not running, and waits for them.
up_kluisd() {
	local first=$1 last=$2 k pid started=()
	# Node 1 first when the deployment is new: it initialises the store (master key, admin
	# token, CA) that the others are seeded from.
	if [ "$first" = 1 ] && ! kluisd_pid 1 >/dev/null; then
		if [ ! -f "$DIR/kluisd-1/master.key" ] && ! seed_kluisd 1 2>/dev/null; then
			start_kluisd 1
			wait_kluisd 1
		else
			start_kluisd 1
			started+=(1)
		fi
	fi
	for ((k = first > 1 ? first : 2; k <= last; k++)); do
		if ! kluisd_pid "$k" >/dev/null; then
			start_kluisd "$k"
			started+=("$k")
		fi
	done
	for k in "${started[@]}"; do
		wait_kluisd "$k"
	done
	# One at a time, so that the others serve meanwhile: the nodes whose flags changed.
	for ((k = first; k <= last; k++)); do
		if pid=$(kluisd_pid "$k") && kluisd_stale "$k"; then
			log "kluisd-$k runs with other flags than it needs now: restarting it"
			stop_pid "$pid" 20 "kluisd-$k"
			start_kluisd "$k"
			wait_kluisd "$k"
		fi
	done
}

# --- up: HAProxy -------------------------------------------------------------------------------

# The checks of a backend, all on each node's agent port (kluisd --lb-agent): its answer at all
# says the node is alive (a frozen node's kernel still accepts the connection, but nothing
# answers: down after two checks of 500 ms, 1.25 to 1.75 s, and its connections are cut so that
# clients retry elsewhere); with "writes", the agent check also takes a node that does not take
# writes out of the new connections ("drain"), leaving the connections it has alone. Not
# /health: a request there waits for a worker thread, which may be riding through a database
# failover.
haproxy_checks() {
	cat <<EOF
    option tcp-check
    tcp-check expect rstring ^(ready|drain)
    default-server inter 500 fastinter 250 downinter 500 fall 2 rise 2 on-marked-down shutdown-sessions
EOF
}

# "server" lines for kluisd nodes $1 to $2, with the options $3; $4 "writes": with the agent
# check of whether each takes writes.
haproxy_servers() {
	local first=$1 last=$2 opts=$3 writes=${4:-} k agent
	for ((k = first; k <= last; k++)); do
		agent=""
		[ "$writes" != writes ] ||
			agent=" agent-check agent-port $(agent_port "$k") agent-inter 500"
		printf '    server kluisd-%s 127.0.0.1:%s check port %s%s%s\n' "$k" \
			"$(kluisd_port "$k")" "$(agent_port "$k")" "$agent" "${opts:+ $opts}"
	done
}

# One region: the nodes that can write get the traffic; when none can (the database is failing
# over), the nodes that serve at all get it, so that clients receive kluisd's 503 + Retry-After
# (which the SDKs retry for every method) instead of a closed connection.
haproxy_one_region() {
	cat <<EOF
frontend vault
    bind 127.0.0.1:$port_haproxy
    use_backend r1_writable if { nbsrv(r1_writable) gt 0 }
    default_backend r1_serving

backend r1_writable
    balance roundrobin
$(haproxy_checks)
$(haproxy_servers 1 "$nodes" "" writes)

backend r1_serving
    balance roundrobin
$(haproxy_checks)
$(haproxy_servers 1 "$nodes" "")
EOF
}

# Two regions: the same configuration whichever region takes writes (a promotion or a switchover
# changes nothing here, so HAProxy is never restarted for one). New connections go to the nodes
# that take writes, which are the primary region's; while none does (the primary region is
# down, or changing), to every node that answers, so that reads go on in the other region. A
# connection refused by a node marks it down at once, without waiting for its checks (observe
# layer4), and is retried on another server after a second (redispatch on every retry). A
# connection stays where it was sent: a node that refuses a write for being read-only closes the
# connection, and the client's retry comes back through here.
haproxy_two_regions() {
	local all
	all=$(total_nodes)
	cat <<EOF
frontend vault
    bind 127.0.0.1:$port_haproxy
    use_backend writable if { nbsrv(writable) gt 0 }
    default_backend serving

backend writable
    balance roundrobin
$(haproxy_checks)
$(haproxy_servers 1 "$all" "observe layer4 error-limit 1 on-error mark-down" writes)

backend serving
    balance roundrobin
$(haproxy_checks)
$(haproxy_servers 1 "$all" "")
EOF
}

write_haproxy_cfg() {
	local user=""
	if [ "$IS_ROOT" = 1 ] && getent passwd haproxy >/dev/null; then
		user=$'    user haproxy\n    group haproxy\n'
	fi
	mkdir -p "$DIR/haproxy"
	{
		cat <<EOF
# written by deploy/cluster.sh at every 'up' (a running haproxy is restarted when this changes)
global
    log stderr format raw local0 info
    stats socket $DIR/haproxy/admin.sock mode 600 level admin
    maxconn 4096
${user}
defaults
    mode tcp
    log global
    option tcplog
    option redispatch 1
    retries 3
    timeout connect 1s
    timeout client 5m
    timeout server 5m
    timeout check 500ms

# TLS passes through: kluisd terminates it with a certificate for *.$SUFFIX from the shared CA.
EOF
		if [ "$regions" = 1 ]; then
			haproxy_one_region
		else
			haproxy_two_regions
		fi
	} >"$HAPROXY_CFG.tmp"
	if cmp -s "$HAPROXY_CFG.tmp" "$HAPROXY_CFG"; then
		rm -f "$HAPROXY_CFG.tmp"
		return 1
	fi
	mv "$HAPROXY_CFG.tmp" "$HAPROXY_CFG"
}

haproxy_pid() { pid_of haproxy haproxy -f "$HAPROXY_CFG"; }

up_haproxy() {
	local pid i
	if write_haproxy_cfg && pid=$(haproxy_pid); then
		log "haproxy.cfg changed: restarting haproxy"
		haproxy -c -q -f "$HAPROXY_CFG" 9>&- || die "haproxy rejects $HAPROXY_CFG"
		stop_pid "$pid" 10 haproxy
	fi
	if ! haproxy_pid >/dev/null; then
		haproxy -c -q -f "$HAPROXY_CFG" 9>&- || die "haproxy rejects $HAPROXY_CFG"
		rm -f "$DIR/haproxy/admin.sock"
		(exec setsid haproxy -db -f "$HAPROXY_CFG" >>"$LOGS/haproxy.log" 2>&1 </dev/null 9>&-) &
		pid=$!
		echo "$pid" >"$RUN/haproxy.pid"
		log "started haproxy on 127.0.0.1:$port_haproxy (pid $pid; log $LOGS/haproxy.log)"
	fi
	pid=$(head -n1 "$RUN/haproxy.pid")
	for ((i = 0; i < 300; i++)); do
		alive "$pid" || die "haproxy exited; see $LOGS/haproxy.log"
		if curl -fsS --max-time 2 --cacert "$DIR/kluisd-1/tls/ca.pem" \
			--resolve "$VAULT.$SUFFIX:$port_haproxy:127.0.0.1" \
			"$(vault_url)/health/writable" >/dev/null 2>&1 9>&-; then
			return 0
		fi
		sleep 0.1
	done
	log "warning: $(vault_url)/health/writable does not answer 200 through haproxy yet"
}

# --- status / topology.json --------------------------------------------------------------------

# Fills the arrays p_* with one entry per process of the deployment, as it is now.
p_name=() p_kind=() p_region=() p_role=() p_port=() p_pid=() p_keeper=() p_state=() p_up=()
collect() {
	local n port pid kpid role state rep goal k h lines
	p_name=() p_kind=() p_region=() p_role=() p_port=() p_pid=() p_keeper=() p_state=() p_up=()
	declare -A mstate=()
	if lines=$(PGCONNECT_TIMEOUT=2 psql -X -q -A -t -F '|' -w -h 127.0.0.1 -p "$port_monitor" \
		-U "$PGUSER_OS" -d pg_auto_failover \
		-c 'select nodename, reportedstate, goalstate from pgautofailover.node' 2>/dev/null 9>&-); then
		while IFS='|' read -r n rep goal; do
			[ -n "$n" ] && mstate[$n]="$rep/$goal"
		done <<<"$lines"
	fi
	# monitor (not after r1's rejoin as the secondary region: its formation is gone)
	if ! rejoined; then
		pid=$(postmaster_of "$PGROOT/monitor" || true)
		kpid=$(keeper_pid monitor || true)
		add monitor monitor r1 monitor "$port_monitor" "$pid" "$kpid" "" \
			"$([ -n "$pid" ] && [ -n "$kpid" ] && echo 1 || echo 0)"
	fi
	# data nodes
	for n in $(pg_nodes); do
		[ "$n" = pg-1 ] || ! rejoined || continue
		port=$(pg_port "$n")
		pid=$(postmaster_of "$PGROOT/$n" || true)
		if plain_pg "$n"; then
			collect_plain "$n" r1 "$pid"
			continue
		fi
		kpid=$(keeper_pid "$n" || true)
		state=${mstate[$n]:-}
		case "$(sql "$port" "$DBNAME" 'select pg_is_in_recovery()' || true)" in
		f) role=primary ;;
		t) role=standby ;;
		*)
			case "${state#*/}" in
			primary | wait_primary | join_primary | apply_settings) role=primary ;;
			secondary | catchingup | wait_standby | join_secondary | report_lsn) role=standby ;;
			"") role=unknown ;;
			*) role=${state#*/} ;;
			esac
			;;
		esac
		add "$n" postgres r1 "$role" "$port" "$pid" "$kpid" "$state" \
			"$([ -n "$pid" ] && [ -n "$kpid" ] && echo 1 || echo 0)"
	done
	# r2's replica (its primary since a promotion)
	[ "$regions" = 1 ] || collect_plain "$REPLICA" r2 "$(postmaster_of "$PGROOT/$REPLICA" || true)"
	# kluisd nodes
	for ((k = 1; k <= $(total_nodes); k++)); do
		pid=$(kluisd_pid "$k" || true)
		role=unknown
		if [ -n "$pid" ] && h=$(health "$k"); then
			role=$(sed -n 's/.*"mode":"\([a-z-]*\)".*/\1/p' <<<"$h")
			[ -n "$role" ] || role=unknown
		fi
		add "kluisd-$k" kluisd "$(node_region "$k")" "$role" "$(kluisd_port "$k")" "$pid" "" "" \
			"$([ -n "$pid" ] && echo 1 || echo 0)"
	done
	pid=$(haproxy_pid || true)
	add haproxy haproxy r1 load-balancer "$port_haproxy" "$pid" "" "" \
		"$([ -n "$pid" ] && echo 1 || echo 0)"
}

# A plain PostgreSQL node $1 of region $2, postmaster pid $3: a standby and its replication, or
# a primary.
collect_plain() {
	local n=$1 port state="" role
	port=$(pg_port "$n")
	case "$(sql "$port" "$DBNAME" 'select pg_is_in_recovery()' || true)" in
	t)
		role=standby
		state=$(sql "$port" "$DBNAME" "select coalesce((select status from pg_stat_wal_receiver), 'not streaming')" || true)
		;;
	f) role=primary ;;
	*) role=unknown ;;
	esac
	add "$n" postgres "$2" "$role" "$port" "$3" "" "$state" "$([ -n "$3" ] && echo 1 || echo 0)"
}

add() {
	p_name+=("$1") p_kind+=("$2") p_region+=("$3") p_role+=("$4") p_port+=("$5")
	p_pid+=("$6") p_keeper+=("$7") p_state+=("$8") p_up+=("$9")
}

write_topology() {
	local i n=${#p_name[@]} sep=""
	{
		echo "{"
		echo "  \"url\": $(json_str "$(vault_url)"),"
		echo "  \"ca\": $(json_str "$DIR/kluisd-1/tls/ca.pem"),"
		echo "  \"admin_token_file\": $(json_str "$DIR/kluisd-1/admin-token"),"
		echo "  \"conninfo\": $(json_str "$(primary_conninfo)"),"
		echo "  \"primary_region\": \"$(primary_region)\","
		echo "  \"regions\": [$(region_list | sed 's/\([a-z0-9]*\)/"\1"/g; s/ /, /g')],"
		echo "  \"processes\": ["
		for ((i = 0; i < n; i++)); do
			printf '%s    {"name": %s, "kind": %s, "region": %s, "role": %s, "port": %s, "pid": %s, "running": %s' \
				"$sep" "$(json_str "${p_name[i]}")" "$(json_str "${p_kind[i]}")" \
				"$(json_str "${p_region[i]}")" "$(json_str "${p_role[i]}")" "${p_port[i]}" \
				"${p_pid[i]:-null}" "$([ "${p_up[i]}" = 1 ] && echo true || echo false)"
			case "${p_kind[i]}" in
			postgres | monitor)
				plain_pg "${p_name[i]}" ||
					printf ', "keeper_pid": %s' "${p_keeper[i]:-null}"
				printf ', "data_dir": %s' "$(json_str "$PGROOT/${p_name[i]}")"
				[ "${p_kind[i]}" = monitor ] ||
					printf ', "state": %s' "$(json_str "${p_state[i]}")"
				;;
			kluisd) printf ', "data_dir": %s' "$(json_str "$DIR/${p_name[i]}")" ;;
			haproxy) printf ', "config": %s' "$(json_str "$HAPROXY_CFG")" ;;
			esac
			printf ', "log": %s}' "$(json_str "$LOGS/${p_name[i]}.log")"
			sep=$',\n'
		done
		echo
		echo "  ]"
		echo "}"
	} >"$TOPOLOGY.tmp"
	mv "$TOPOLOGY.tmp" "$TOPOLOGY"
}

print_table() {
	local i n=${#p_name[@]} down=() detail
	printf '%-10s %-9s %-6s %-14s %-6s %-8s %-8s %s\n' NAME KIND REGION ROLE PORT PID STATUS DETAIL
	for ((i = 0; i < n; i++)); do
		detail=""
		[ -z "${p_keeper[i]}" ] || detail="keeper ${p_keeper[i]}"
		case "${p_kind[i]}" in
		postgres | monitor) [ -n "${p_keeper[i]}" ] || plain_pg "${p_name[i]}" ||
			detail="keeper down" ;;
		esac
		if plain_pg "${p_name[i]}"; then
			[ -z "${p_state[i]}" ] || detail="replication: ${p_state[i]}"
		elif [ -n "${p_state[i]}" ]; then
			detail="$detail, pg_auto_failover ${p_state[i]}"
		fi
		printf '%-10s %-9s %-6s %-14s %-6s %-8s %-8s %s\n' "${p_name[i]}" "${p_kind[i]}" \
			"${p_region[i]}" "${p_role[i]}" "${p_port[i]}" "${p_pid[i]:--}" \
			"$([ "${p_up[i]}" = 1 ] && echo running || echo DOWN)" "$detail"
		[ "${p_up[i]}" = 1 ] || down+=("${p_name[i]}")
	done
	echo "vault URL: $(vault_url)   CA: $DIR/kluisd-1/tls/ca.pem   token: $DIR/kluisd-1/admin-token"
	[ "$regions" = 1 ] || region_line
	if [ "${#down[@]}" -gt 0 ]; then
		echo "down: ${down[*]}"
		return 3
	fi
	echo "all ${n} processes running"
	return 0
}

# --- down --------------------------------------------------------------------------------------

# SIGTERM, then SIGKILL after $2 seconds, for a pid verified by the caller.
stop_pid() {
	local pid=$1 secs=$2 name=$3 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || { log "stopped $name (pid $pid)"; return 0; }
		sleep 0.1
	done
	log "$name (pid $pid) ignored SIGTERM for $secs s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

down_all() {
	local k pid n pids=() names=() i
	if pid=$(haproxy_pid); then stop_pid "$pid" 10 haproxy; fi
	for ((k = 1; k <= $(total_nodes); k++)); do
		if pid=$(kluisd_pid "$k"); then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid") names+=("kluisd-$k")
		fi
	done
	for i in "${!pids[@]}"; do stop_pid "${pids[i]}" 20 "${names[i]}"; done
	if [ "${#as_pg[@]}" -gt 0 ]; then
		stop_formation
		for n in $(pg_nodes) "$REPLICA"; do
			if plain_pg "$n"; then stop_plain_pg "$n"; fi
		done
	fi
}

# shellcheck source=deploy/cluster-regions.sh
. "$REPO/deploy/cluster-regions.sh"

# --- main --------------------------------------------------------------------------------------

case "$cmd" in
up)
	install_packages postgresql-15 postgresql-client-15 postgresql-15-auto-failover haproxy \
		curl util-linux
	command -v pg_autoctl >/dev/null || die "pg_autoctl not found (postgresql-15-auto-failover)"
	if [ -z "${KLUISD:-}" ]; then
		log "building kluisd in $REPO/build (set KLUISD to use another binary)"
		bash "$REPO/scripts/deps.sh" 9>&-
		cmake -S "$REPO" -B "$REPO/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null 9>&-
		cmake --build "$REPO/build" -j"$(nproc)" --target kluisd kluis >/dev/null 9>&-
		KLUISD=$REPO/build/kluisd
	fi
	[ -x "$KLUISD" ] || die "KLUISD=$KLUISD is not an executable"
	KLUISD=$(cd "$(dirname "$KLUISD")" && pwd -P)/$(basename "$KLUISD")
	if [ -f "$ENV_FILE" ]; then
		load_env
		if [ -n "$opt_nodes" ] && [ "$opt_nodes" != "$nodes" ]; then
			die "$DIR was made with --nodes $nodes; it cannot be changed to $opt_nodes"
		fi
		if [ -n "$opt_regions" ] && [ "$opt_regions" != "$regions" ]; then
			die "$DIR was made with --regions $regions; it cannot be changed to $opt_regions"
		fi
	else
		create_env
		log "new deployment in $DIR (ports in $ENV_FILE)"
	fi
	mkdir -p "$RUN" "$LOGS"
	setup_as_pg
	ensure_pg_dirs
	if [ "$regions" = 2 ] && { rejoined || [ "$(primary_region)" = r2 ]; }; then
		up_regions	# deploy/cluster-regions.sh: after a promotion or a switchover
	else
		prestart_region
		up_monitor
		up_postgres
		up_kluisd 1 "$nodes"
		if [ "$regions" = 2 ]; then
			up_replica
			up_kluisd $((nodes + 1)) "$(total_nodes)"
		fi
	fi
	up_haproxy
	collect
	write_topology
	print_table || true
	echo "topology: $TOPOLOGY"
	;;
status)
	load_env
	mkdir -p "$RUN" "$LOGS"
	setup_as_pg
	collect
	write_topology
	print_table
	;;
promote | switchover)
	load_env
	[ "$regions" = 2 ] || die "$cmd needs a deployment of two regions (up --regions 2)"
	mkdir -p "$RUN" "$LOGS"
	[ "$promote_region" = "$(secondary_region)" ] ||
		die "$promote_region is the primary region already"
	if [ "$cmd" = promote ]; then
		promote_region "$promote_region"
	else
		setup_as_pg
		switchover_to "$promote_region"
		collect
		write_topology
		print_table || true
	fi
	;;
down)
	load_env
	setup_as_pg
	down_all
	if [ "$opt_purge" = 1 ]; then
		collect
		for i in "${!p_name[@]}"; do
			if [ -n "${p_pid[i]}${p_keeper[i]}" ]; then
				die "${p_name[i]} still runs; not purging $DIR"
			fi
		done
		rm -rf "$PGROOT" "$RUN" "$LOGS" "$DIR/haproxy" "$TOPOLOGY" "$TOPOLOGY.tmp" \
			"$ENV_FILE"
		for ((k = 1; k <= $(total_nodes); k++)); do rm -rf "$DIR/kluisd-$k"; done
		rm -f "$DIR/.lock"
		rmdir "$DIR" 2>/dev/null || log "left $DIR: it holds files cluster.sh did not make"
		log "purged $DIR"
	else
		if [ -d "$RUN" ]; then
			collect
			write_topology
		fi
		log "stopped; data kept in $DIR (deploy/cluster.sh up $DIR starts it again)"
	fi
	;;
esac
