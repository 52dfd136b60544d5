#!/usr/bin/env bash
# The main job, end to end, on the local lab (make demo):
#   lab up (servers + an agent per namespace) → mmm plan → mmm apply --auto-approve
#   → a row written on the writer is read back on every host → clients reach the
#   writer and the slaves through the VIPs → mmm plan has nothing to do
#   → mmm watch starts → the writer's server is killed (kill -9) under a small
#   write load through the writer VIP → the watch fails over, the writes go on
#   on the new writer → mmm show before and after, and the failover's timing.
# Every address comes from the file (through mmm lab status and mmm show), so
# CONFIG may name any lab topology. The lab keeps running afterwards (the killed
# server stays down: `mmm lab up` starts it again); `make lab-down` removes it.
set -euo pipefail
MMM=${MMM:-bin/mmm}
CONFIG=${CONFIG:-examples/lab}
LOGDIR=${LOGDIR:-bin/demo}
# Lab-only secret (examples/lab/mmm.hcl, variable admin_password); never use in production.
export MYSQL_PWD=lab-admin-secret

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
sql() { mariadb --no-defaults --connect-timeout=5 -h "$1" -u root -N -B -e "$2"; }
now_ms() { date +%s%3N; }
mkdir -p "$LOGDIR"

# Processes this script starts and must stop (never by name: by pid).
watch_pid="" load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null || true
}
trap cleanup EXIT

step "mmm lab up: one MariaDB server and one mmm agent per host, each in its own network namespace"
$MMM lab up --config "$CONFIG"

# HOST ADDRESS:PORT PID, one line per host, from the lab itself.
# lab status exits 1 while a server is down (after the kill): still list the hosts.
lab_hosts() { { $MMM lab status --config "$CONFIG" || true; } | awk 'NR > 1 { print $1, $3, $4 }'; }
host_addr() { lab_hosts | awk -v h="$1" '$1 == h { split($2, a, ":"); print a[1] }'; }
host_pid() { lab_hosts | awk -v h="$1" '$1 == h { print $3 }'; }

step "mmm plan: what the cluster needs (exit code 2: there are changes)"
rc=0; $MMM plan --config "$CONFIG" --detailed-exitcode || rc=$?
if [ "$rc" -ne 2 ] && [ "$rc" -ne 0 ]; then echo "mmm plan failed (exit $rc)" >&2; exit 1; fi

step "mmm apply --auto-approve"
$MMM apply --config "$CONFIG" --auto-approve

# The writer is the master the plan made writable: the one with read_only = 0.
writer="" writer_addr=""
for h in $(lab_hosts | awk '{ print $1 }'); do
  if [ "$(sql "$(host_addr "$h")" 'SELECT @@read_only')" = 0 ]; then writer=$h; writer_addr=$(host_addr "$h"); fi
done
[ -n "$writer" ] || { echo "no writable master after apply" >&2; exit 1; }

step "write a row on the writer ($writer, $writer_addr)"
marker="demo-$(date +%s%N)"
sql "$writer_addr" "CREATE DATABASE IF NOT EXISTS shop;
  CREATE TABLE IF NOT EXISTS shop.demo (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), at TIMESTAMP(6) DEFAULT NOW(6));
  INSERT INTO shop.demo (v) VALUES ('$marker')"

step "read it back on every host"
while read -r name addr _; do
  addr=${addr%:*}
  got=""
  for _ in $(seq 1 100); do
    got=$(sql "$addr" "SELECT CONCAT('server_id=', @@server_id, '  read_only=', @@read_only, '  row=', v) FROM shop.demo WHERE v='$marker'" 2>/dev/null || true)
    [ -n "$got" ] && break
    sleep 0.05
  done
  if [ -z "$got" ]; then echo "$name ($addr): the row never arrived" >&2; exit 1; fi
  printf '%-8s %-15s %s\n' "$name" "$addr" "$got"
done < <(lab_hosts)

step "mmm plan again: nothing to do (exit code 0)"
$MMM plan --config "$CONFIG" --detailed-exitcode

step "mmm watch: the monitor starts (log in $LOGDIR/watch.log)"
$MMM watch --config "$CONFIG" --state-file - >"$LOGDIR/watch.log" 2>&1 &
watch_pid=$!
show=""
for _ in $(seq 1 100); do
  show=$($MMM show --config "$CONFIG" 2>/dev/null) && [ -n "$show" ] && break
  sleep 0.1
done
[ -n "$show" ] || { echo "the watch did not answer mmm show; see $LOGDIR/watch.log" >&2; exit 1; }
sleep 1 # a few check rounds, so every host has its state

step "mmm show, before"
$MMM show --config "$CONFIG"

# The VIPs, as the watch placed them: "name(addr) … Roles: writer(VIP), reader(VIP)".
vips() { $MMM show --config "$CONFIG" | grep -o "$1([0-9.]*)" | tr -d '()' | sed "s/^$1//"; }
writer_vip=$(vips writer | head -1)
step "clients follow the roles: the writer VIP and the reader VIPs"
for vip in $writer_vip $(vips reader); do
  echo "$vip  -> $(sql "$vip" "SELECT CONCAT('server_id=', @@server_id, '  read_only=', @@read_only)")"
done

step "a small write load through the writer VIP ($writer_vip): one INSERT every ~50 ms (log in $LOGDIR/load.log)"
load() {
  while :; do
    t=$(now_ms)
    if out=$(mariadb --no-defaults --connect-timeout=1 -h "$writer_vip" -u root -N -B \
      -e "INSERT INTO shop.demo (v) VALUES ('load'); SELECT @@server_id" 2>&1); then
      echo "$t ok $out"
    else
      echo "$t err $(echo "$out" | head -1)"
    fi
    sleep 0.05
  done
}
load >"$LOGDIR/load.log" 2>&1 &
load_pid=$!
sleep 2

old_pid=$(host_pid "$writer")
step "kill -9 the writer's server ($writer, pid $old_pid)"
kill_ms=$(now_ms)
kill -9 "$old_pid"

new_writer=""
for _ in $(seq 1 300); do
  new_writer=$($MMM show --config "$CONFIG" 2>/dev/null | sed -n 's/^# Mode: [a-z]*, writer: \([^ ,]*\).*/\1/p' || true)
  [ -n "$new_writer" ] && [ "$new_writer" != "$writer" ] && break
  sleep 0.1
done
if [ -z "$new_writer" ] || [ "$new_writer" = "$writer" ]; then
  echo "the watch did not fail over within 30 s; see $LOGDIR/watch.log" >&2; exit 1
fi
sleep 3 # let the load run on the new writer
kill "$load_pid"; wait "$load_pid" 2>/dev/null || true; load_pid=""

step "mmm show, after"
$MMM show --config "$CONFIG"

step "the writes through $writer_vip, around the kill"
new_addr=$(host_addr "$new_writer")
new_id=$(sql "$new_addr" 'SELECT @@server_id')
awk -v k="$kill_ms" -v id="$new_id" '
  $2 == "ok" && $1 < k { before++ }
  $2 == "ok" && $1 >= k && $3 == id { after++; if (!first) first = $1 }
  $2 == "err" && $1 >= k { failed++; if (!err) err = $0 }
  $2 == "ok" && $1 >= k && $3 != id { stale++ }
  END {
    printf "acknowledged before the kill: %d; failed after it: %d; acknowledged by the new writer (server_id %s): %d\n", before, failed, id, after
    if (stale) printf "acknowledged after the kill by the old server: %d\n", stale
    if (err) printf "first failure: %s\n", err
    if (first) printf "failover: %.2f s from the kill to the first write acknowledged by the new writer through the VIP\n", (first - k) / 1000
  }' "$LOGDIR/load.log"
echo "rows on the new writer $new_writer ($new_addr): $(sql "$new_addr" "SELECT COUNT(*) FROM shop.demo WHERE v = 'load'")"

printf '\nThe lab keeps running (%s is down: %s lab up --config %s starts it again); make lab-down removes it.\n' \
  "$writer" "$MMM" "$CONFIG"
