# shellcheck shell=bash disable=SC2154 # sourced by cluster.sh, which sets the variables
# deploy/cluster-regions.sh: the second region of deploy/cluster.sh (sourced by it; functions
# only): r2's replica, the promotion of r2 when r1 is lost for good, and r1's rejoin as the
# secondary region afterwards (docs/deploy.md, "Promotion when the primary region is lost for
# good").
#
# Before a promotion: r1 runs pg_auto_failover (monitor, pg-1, pg-2) and pg-3 is r2's plain hot
# standby, streaming from whichever r1 node is the primary. `promote r2` makes pg-3 the primary
# under epoch 1 and leaves DIR/run/promoted-r2. The next `up` rebuilds r1: its formation is
# stopped and moved aside whole, and pg-1 becomes a plain hot standby of pg-3. From then on pg-2
# and the monitor are not part of the deployment.

# --- plain PostgreSQL nodes (outside pg_auto_failover) ------------------------------------------

# Is $1 a plain node (no keeper): pg-3 always, pg-1 once r1 has rejoined as the secondary region?
plain_pg() { [ "$1" = "$REPLICA" ] || { [ "$1" = pg-1 ] && rejoined; }; }
rejoined() { [ -f "$RUN/r1-rejoined" ]; }

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
		clear_stale_pidfile "$pgdata"
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
	die "$name does not serve kluisd's table as a $as within 60 s; see $LOGS/$name.log"
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
	start_plain_pg "$REPLICA" "$(promoted && echo primary || echo standby)"
}

# --- up: r1 as the secondary region after a promotion ------------------------------------------

# The first `up` after `promote r2` stops r1's kluisd nodes (fenced: they have acknowledged no
# write since the promotion) and r1's formation, moves the formation's data directories whole to
# DIR/pg/r1-before-rejoin-TIME, and clones pg-1 afresh from pg-3. The writes r1 committed after
# the promotion's mayBeLost.after are in that directory and nowhere else: an operator who wants
# them back reads them there (docs/deploy.md). Later `up`s only start pg-1.
up_rejoin_r1() {
	local k pid n aside
	if ! rejoined; then
		for ((k = 1; k <= nodes; k++)); do
			if pid=$(kluisd_pid "$k"); then stop_pid "$pid" 20 "kluisd-$k (r1 rejoins)"; fi
		done
		stop_formation
		aside=$PGROOT/r1-before-rejoin-$(date -u +%Y%m%dT%H%M%SZ)
		pg_tool mkdir -p "$aside"
		for n in monitor $(pg_nodes); do
			if [ -e "$PGROOT/$n" ]; then pg_tool mv "$PGROOT/$n" "$aside/"; fi
			rm -f "$RUN/$n.created" "$RUN/$n.pgids"
		done
		log "r1's databases as they were are kept in $aside"
		clone_standby pg-1 "$port_pg_3" "host=127.0.0.1 port=$port_pg_3"
		touch "$RUN/r1-rejoined"
	fi
	start_plain_pg pg-1 standby
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
		if pid=$(postmaster_of "$PGROOT/$n"); then
			pg_tool pg_ctl -D "$PGROOT/$n" -m fast -w -t 30 stop >/dev/null 2>&1 ||
				kill -KILL "$pid" 2>/dev/null || true
			log "stopped the postgres of $n (pid $pid), whose keeper was not running"
		fi
	done
}

# Stops plain node $1 when it runs.
stop_plain_pg() {
	local pid
	if pid=$(postmaster_of "$PGROOT/$1"); then
		pg_tool pg_ctl -D "$PGROOT/$1" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			kill -KILL "$pid" 2>/dev/null || true
		log "stopped $1 (pid $pid)"
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

# One line: the primary region, the epoch, and the secondary region's replica and its lag.
region_line() {
	local p=$port_pg_1 s=$REPLICA sport=$port_pg_3 ep lag
	if promoted; then
		p=$port_pg_3 s=pg-1 sport=$port_pg_1
	else
		p=$(primary_port) || p=""
	fi
	ep=$( [ -n "$p" ] && epoch_of "$p" || echo "? ?")
	lag=$(sql "$sport" "$DBNAME" "select case when pg_is_in_recovery() then coalesce(round(extract(epoch from now() - pg_last_xact_replay_timestamp())::numeric, 1)::text || ' s since the last replayed commit', 'nothing replayed yet') else 'not a standby' end" || echo "not answering")
	echo "primary region: $(promoted && echo r2 || echo r1) (epoch ${ep%% *}); secondary: $(promoted && echo r1 || echo r2), $s $lag"
}

# --- promote -------------------------------------------------------------------------------------

# Asks the first r2 node that answers to promote its region (POST /kluis/v1/deployment/region/
# promote): it refuses while r1's database answers as a primary (unless --force), pauses pg-3's
# replay, waits for r1's write leases to run out (about 11 s), promotes pg-3 and records the new
# epoch. Prints kluisd's report: what may have been lost is what r1 committed after mayBeLost.after.
promote_r2() {
	local k body answer code
	body="{\"force\": $([ "$opt_force" = 1 ] && echo true || echo false), \"dryRun\": $([ "$opt_dry_run" = 1 ] && echo true || echo false)}"
	for ((k = nodes + 1; k <= $(total_nodes); k++)); do
		health "$k" >/dev/null || continue
		log "asking kluisd-$k (r2) to promote its region$([ "$opt_dry_run" = 1 ] && echo ' (dry run)')"
		answer=$(curl -sS --max-time 120 --cacert "$DIR/kluisd-$k/tls/ca.pem" \
			-H "Authorization: Bearer $(cat "$DIR/kluisd-$k/admin-token")" \
			-H 'Content-Type: application/json' -X POST --data "$body" -w '\n%{http_code}' \
			"https://127.0.0.1:$(kluisd_port "$k")/kluis/v1/deployment/region/promote" 9>&-) ||
			die "kluisd-$k did not answer the promotion"
		code=${answer##*$'\n'}
		echo "${answer%$'\n'*}"
		[ "$code" = 200 ] || die "the promotion was refused ($code)"
		[ "$opt_dry_run" = 1 ] || touch "$RUN/promoted-r2"
		return 0
	done
	die "no r2 kluisd node answers: start them with up first"
}
