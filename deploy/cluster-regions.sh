# shellcheck shell=bash disable=SC2154 # sourced by cluster.sh, which sets the variables
# deploy/cluster-regions.sh: the second region of deploy/cluster.sh (sourced by it; functions
# only): r2's replica, the promotion of a region when the other is lost for good, a planned
# switchover between healthy regions, and the rebuilding of the old primary region as the
# secondary afterwards (docs/deploy.md, "Two regions").
#
# At first r1 runs pg_auto_failover (monitor, pg-1, pg-2) and pg-3 is r2's plain hot standby,
# streaming from whichever r1 node is the primary. DIR/run/primary-region names the region that
# takes writes (r1 when absent). `promote r2` makes pg-3 the primary and leaves
# run/rebuild-r1: the next `up` rebuilds r1, whose databases are set aside, since they may hold
# writes r2 lacks. `switchover` moves the writes (kluisd records the new epoch in the primary's
# store, waits until the target's standby has replayed all of it, promotes it) and rebuilds the
# old primary region at once. The first time r1 is rebuilt its formation is stopped for good
# (run/r1-rejoined) and pg-1 becomes a plain node: from then on each region has one database,
# a primary or a standby of the other.

# --- plain PostgreSQL nodes (outside pg_auto_failover) ------------------------------------------

# Is $1 a plain node (no keeper): pg-3 always, pg-1 once r1 has rejoined as the secondary region?
plain_pg() { [ "$1" = "$REPLICA" ] || { [ "$1" = pg-1 ] && rejoined; }; }

# Node $1's data directory becomes a fresh base backup of the primary on port $2, set up as a hot
# standby streaming from the servers of conninfo fragment $3 ("host=... port=..."). Its settings
# go last in its postgresql.auto.conf, over what the backup copied (a pg_auto_failover node's or
# pg-3's own). It reconnects by itself (every wal_retrieve_retry_interval) when its upstream is
# lost and comes back.
clone_standby() {
	local name=$1 from=$2 upstream=$3 pgdata=$PGROOT/$1
	log "creating $name on 127.0.0.1:$(pg_port "$name") as a standby of the primary on $from"
	pg_tool rm -rf "$pgdata"
	pg_tool pg_basebackup -h 127.0.0.1 -p "$from" -U pgautofailover_replicator -D "$pgdata" \
		-X stream -c fast -w >>"$LOGS/$name.log" 2>&1 ||
		die "pg_basebackup for $name failed; see $LOGS/$name.log"
	pg_tool touch "$pgdata/standby.signal"
	{
		echo "# $name: the secondary region's asynchronous hot standby (deploy/cluster.sh)"
		echo "port = $(pg_port "$name")"
		echo "listen_addresses = '127.0.0.1'"
		echo "hot_standby = on"
		echo "primary_conninfo = '$upstream user=pgautofailover_replicator application_name=$name target_session_attrs=read-write sslmode=disable connect_timeout=2'"
		echo "primary_slot_name = ''"
		echo "wal_retrieve_retry_interval = '500ms'"
		echo "synchronous_standby_names = ''"
	} | pg_tool tee -a "$pgdata/postgresql.auto.conf" >/dev/null
}

# Starts plain node $1 when it does not run, and waits until it serves kluisd's table: as a
# standby, or as a primary when $2 is "primary".
start_plain_pg() {
	local name=$1 as=$2 pgdata=$PGROOT/$1 pid i recovery="pg_is_in_recovery() and"
	if ! postmaster_of "$pgdata" >/dev/null; then
		clear_stale_pidfile "$pgdata" "$(pg_port "$name")"
		(cd "$PGROOT" && exec "${as_pg[@]}" setsid "$PGBIN/postgres" -D "$pgdata" \
			>>"$LOGS/$name.log" 2>&1 </dev/null 9>&-) &
		pid=$!
		log "started $name (postgres, pid $pid; log $LOGS/$name.log)"
	fi
	# A standby answers once it has replayed to a consistent point; it has kluisd's table once
	# the primary's first kluisd node has made it and the standby has replayed that.
	[ "$as" = standby ] || recovery=""
	for ((i = 0; i < 300; i++)); do
		[ "$(sql "$(pg_port "$name")" "$DBNAME" "select $recovery to_regclass('kluis_kv') is not null" || true)" = t ] &&
			return 0
		sleep 0.2
	done
	# PostgreSQL's own log is in the data directory (logging_collector, as pg_autoctl set it up)
	local last
	last=$(find "$pgdata/log" -type f 2>/dev/null | sort | tail -n 1)
	[ -z "$last" ] || tail -n 15 "$last" >&2 || true
	die "$name does not serve kluisd's table as a $as within 60 s; see $LOGS/$name.log${last:+ and $last}"
}

# --- up: r2's replica --------------------------------------------------------------------------

# pg-3: a base backup of r1's primary, then a hot standby streaming from whichever r1 node is
# the primary (a multi-host primary_conninfo with target_session_attrs=read-write). Once r2 is
# promoted, it is the deployment's primary.
up_replica() {
	local port
	if [ ! -f "$RUN/$REPLICA.created" ]; then
		port=$(primary_port) || die "no r1 primary to copy $REPLICA from"
		clone_standby "$REPLICA" "$port" "host=127.0.0.1,127.0.0.1 port=$port_pg_1,$port_pg_2"
		touch "$RUN/$REPLICA.created"
	fi
	start_plain_pg "$REPLICA" "$([ "$(primary_region)" = r2 ] && echo primary || echo standby)"
}

# --- up after a promotion or a switchover --------------------------------------------------------

# The database node of region $1 (pg-1 once r1 has rejoined).
region_db() { [ "$1" = r1 ] && echo pg-1 || echo "$REPLICA"; }
# Starts region $1's kluisd nodes (and restarts, one at a time, those whose flags changed).
up_region_nodes() {
	if [ "$1" = r1 ]; then up_kluisd 1 "$nodes"; else up_kluisd $((nodes + 1)) "$(total_nodes)"; fi
}

# Both regions as they are now: the primary region first, then the secondary, rebuilt first if
# its database is an old primary (after a promotion) or r1 still has its formation.
up_regions() {
	local p s
	p=$(primary_region)
	s=$(secondary_region)
	start_plain_pg "$(region_db "$p")" primary
	up_region_nodes "$p"
	if [ -f "$RUN/rebuild-$s" ] || { [ "$s" = r1 ] && ! rejoined; }; then
		rebuild_region "$s" keep
	fi
	start_plain_pg "$(region_db "$s")" standby
	up_region_nodes "$s"
}

# Rebuilds region $1 as the secondary: its kluisd nodes stopped (fenced: they acknowledge no
# write since the other region took over), its databases stopped and moved whole to
# DIR/pg/$1-before-rejoin-TIME when $2 is "keep" (after a promotion the writes it committed after
# the promotion's mayBeLost.after are there and nowhere else), removed when "drop" (after a
# switchover it holds nothing the primary lacks), and its database node cloned afresh from the
# primary as a plain hot standby. The caller starts them again.
rebuild_region() {
	local r=$1 how=$2 k pid n first=1 last=$nodes db from dirs aside
	db=$(region_db "$r")
	from=$(pg_port "$(region_db "$(primary_region)")")
	[ "$r" = r1 ] || { first=$((nodes + 1)); last=$(total_nodes); }
	for ((k = first; k <= last; k++)); do
		if pid=$(kluisd_pid "$k"); then stop_pid "$pid" 20 "kluisd-$k ($r is rebuilt)"; fi
	done
	if [ "$r" = r1 ] && ! rejoined; then
		stop_formation
		dirs="monitor $(pg_nodes)"
	else
		stop_plain_pg "$db"
		dirs=$db
	fi
	if [ "$how" = keep ]; then
		aside=$PGROOT/$r-before-rejoin-$(date -u +%Y%m%dT%H%M%SZ)
		pg_tool mkdir -p "$aside"
	fi
	for n in $dirs; do
		if [ -e "$PGROOT/$n" ] && [ "$how" = keep ]; then
			pg_tool mv "$PGROOT/$n" "$aside/"
		else
			pg_tool rm -rf "$PGROOT/$n"
		fi
		[ "$n" = "$REPLICA" ] || rm -f "$RUN/$n.created" "$RUN/$n.pgids"
	done
	[ "$how" != keep ] || log "$r's databases as they were are kept in $aside"
	clone_standby "$db" "$from" "host=127.0.0.1 port=$from"
	[ "$r" = r2 ] || touch "$RUN/r1-rejoined"
	rm -f "$RUN/rebuild-$r"
}

# Stops r1's pg_auto_failover formation: the data nodes together (stopping one at a time would
# have the monitor fail over to the other), then the monitor, then any postmaster whose keeper
# was not running. `pg_autoctl stop` asks the keeper for a fast shutdown.
stop_formation() {
	local n pid pids=() names=() i
	for n in $(pg_nodes) monitor; do
		if pid=$(keeper_pid "$n"); then
			pids+=("$pid") names+=("$n")
		fi
	done
	for i in "${!pids[@]}"; do
		[ "${names[i]}" = monitor ] && continue
		pg_tool pg_autoctl stop --pgdata "$PGROOT/${names[i]}" >/dev/null 2>&1 ||
			kill -TERM "${pids[i]}" 2>/dev/null || true
	done
	for i in "${!pids[@]}"; do
		[ "${names[i]}" = monitor ] && continue
		stop_pid "${pids[i]}" 30 "${names[i]} (pg_autoctl)"
	done
	for i in "${!pids[@]}"; do
		[ "${names[i]}" = monitor ] || continue
		pg_tool pg_autoctl stop --pgdata "$PGROOT/monitor" >/dev/null 2>&1 ||
			kill -TERM "${pids[i]}" 2>/dev/null || true
		stop_pid "${pids[i]}" 30 "monitor (pg_autoctl)"
	done
	for n in $(pg_nodes) monitor; do
		plain_pg "$n" && continue
		reap_keeper_leftovers "$n"
		stop_plain_pg "$n" "the postgres of $n" ", whose keeper was not running"
	done
}

# Stops the postmaster of node $1 when it runs (fast, or SIGKILL after 30 s); logs "stopped $2
# (pid)$3", $2 defaulting to the node's name.
stop_plain_pg() {
	local pid
	if pid=$(postmaster_of "$PGROOT/$1"); then
		pg_tool pg_ctl -D "$PGROOT/$1" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			kill -KILL "$pid" 2>/dev/null || true
		log "stopped ${2:-$1} (pid $pid)${3:-}"
	fi
}

# --- status: which region is primary -------------------------------------------------------------

# "EPOCH REGION" of the region epoch record in the database on port $1 ("0 -" before any
# promotion; nothing when the database does not answer).
epoch_of() {
	local rec e r
	rec=$(sql "$1" "$DBNAME" "select coalesce((select convert_from(value, 'UTF8') from kluis_kv where key = convert_to('m/region-epoch', 'UTF8')), 'kluis-epoch-1 0 -')") ||
		return 1
	read -r _ e r _ <<<"$rec"
	echo "$e $r"
}

# One line: the primary region, the epoch, and the secondary region's database and its lag.
region_line() {
	local p s pport="" sdb ep lag
	p=$(primary_region)
	s=$(secondary_region)
	sdb=$(region_db "$s")
	if [ "$p" = r2 ] || rejoined; then
		pport=$(pg_port "$(region_db "$p")")
	else
		pport=$(primary_port) || pport=""
	fi
	ep=$( [ -n "$pport" ] && epoch_of "$pport" || echo "? ?")
	lag=$(sql "$(pg_port "$sdb")" "$DBNAME" "select case when pg_is_in_recovery() then coalesce(round(extract(epoch from now() - pg_last_xact_replay_timestamp())::numeric, 1)::text || ' s since the last replayed commit', 'nothing replayed yet') else 'not a standby' end" || echo "not answering")
	echo "primary region: $p (epoch ${ep%% *}); secondary: $s, $sdb $lag"
}

# --- promote and switchover ------------------------------------------------------------------

# POSTs body to /kluis/v1/deployment/region/$2 on the first node of region $1 that answers;
# prints the answer; fails unless it is a 200.
region_call() {
	local r=$1 op=$2 body=$3 k first=1 last=$nodes answer code
	[ "$r" = r1 ] || { first=$((nodes + 1)); last=$(total_nodes); }
	for ((k = first; k <= last; k++)); do
		health "$k" >/dev/null || continue
		log "asking kluisd-$k ($r): $op$([ "$opt_dry_run" = 1 ] && echo ' (dry run)')"
		answer=$(curl -sS --max-time 120 --cacert "$DIR/kluisd-$k/tls/ca.pem" \
			-H "Authorization: Bearer $(cat "$DIR/kluisd-$k/admin-token")" \
			-H 'Content-Type: application/json' -X POST --data "$body" -w '\n%{http_code}' \
			"https://127.0.0.1:$(kluisd_port "$k")/kluis/v1/deployment/region/$op" 9>&-) ||
			die "kluisd-$k did not answer"
		code=${answer##*$'\n'}
		echo "${answer%$'\n'*}"
		[ "$code" = 200 ] || die "$op was refused ($code)"
		return 0
	done
	die "no $r kluisd node answers: start them with up first"
}

# Makes region $1 the primary when the other is lost for good: kluisd refuses while the other
# region's database answers as a primary (unless --force), pauses the standby's replay, waits
# for the other region's write leases to run out (about 11 s), promotes it and records the new
# epoch. Prints kluisd's report: what may have been lost is what the old primary committed after
# mayBeLost.after. The next `up` rebuilds the old primary region, keeping its databases aside.
promote_region() {
	local old
	old=$(primary_region)
	region_call "$1" promote "{\"force\": $([ "$opt_force" = 1 ] && echo true || echo false), \"dryRun\": $([ "$opt_dry_run" = 1 ] && echo true || echo false)}"
	[ "$opt_dry_run" = 0 ] || return 0
	echo "$1" >"$RUN/primary-region"
	touch "$RUN/rebuild-$old"
}

# Moves the writes to region $1, both regions healthy, losing nothing (kluisd's switchover,
# decisions.md §36), then rebuilds the old primary region as the secondary and restarts the
# nodes whose flags changed.
switchover_to() {
	local old
	old=$(primary_region)
	region_call "$1" switchover "{\"dryRun\": $([ "$opt_dry_run" = 1 ] && echo true || echo false)}"
	[ "$opt_dry_run" = 0 ] || return 0
	echo "$1" >"$RUN/primary-region"
	rebuild_region "$old" drop
	start_plain_pg "$(region_db "$old")" standby
	up_region_nodes "$old"
	up_region_nodes "$1"
}
