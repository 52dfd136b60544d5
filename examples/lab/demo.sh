#!/usr/bin/env bash
# The main job, end to end, on the local lab (make demo):
#   lab up (servers + an agent per namespace) → mmm plan → mmm apply --auto-approve
#   → a row written on the writer is read back on every host → clients reach the
#   writer and the slaves through the VIPs → mmm plan has nothing to do.
# The lab keeps running afterwards; `make lab-down` removes it.
set -euo pipefail
MMM=${MMM:-bin/mmm}
CONFIG=${CONFIG:-examples/lab}
# Lab-only secret (examples/lab/mmm.hcl, variable admin_password); never use in production.
export MYSQL_PWD=lab-admin-secret

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
sql() { mariadb --no-defaults --connect-timeout=5 -h "$1" -u root -N -B -e "$2"; }

step "mmm lab up: one MariaDB server and one mmm agent per host, each in its own network namespace"
$MMM lab up --config "$CONFIG"

step "mmm plan: what the cluster needs (exit code 2: there are changes)"
rc=0; $MMM plan --config "$CONFIG" --detailed-exitcode || rc=$?
if [ "$rc" -ne 2 ] && [ "$rc" -ne 0 ]; then echo "mmm plan failed (exit $rc)" >&2; exit 1; fi

step "mmm apply --auto-approve"
$MMM apply --config "$CONFIG" --auto-approve

writer=198.18.0.11
step "write a row on the writer ($writer)"
marker="demo-$(date +%s%N)"
sql $writer "CREATE DATABASE IF NOT EXISTS shop;
  CREATE TABLE IF NOT EXISTS shop.demo (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), at TIMESTAMP(6) DEFAULT NOW(6));
  INSERT INTO shop.demo (v) VALUES ('$marker')"

step "read it back on every host"
for addr in 198.18.0.11 198.18.0.12 198.18.0.13 198.18.0.14; do
  for _ in $(seq 1 100); do
    got=$(sql "$addr" "SELECT CONCAT('server_id=', @@server_id, '  read_only=', @@read_only, '  row=', v) FROM shop.demo WHERE v='$marker'" 2>/dev/null || true)
    [ -n "$got" ] && break
    sleep 0.05
  done
  if [ -z "$got" ]; then echo "$addr: the row never arrived" >&2; exit 1; fi
  echo "$addr  $got"
done

step "clients follow the roles: the writer VIP and the two reader VIPs"
for vip in 198.18.0.100 198.18.0.101 198.18.0.102; do
  echo "$vip  -> $(sql "$vip" "SELECT CONCAT('server_id=', @@server_id, '  read_only=', @@read_only)")"
done

step "mmm plan again: nothing to do (exit code 0)"
$MMM plan --config "$CONFIG" --detailed-exitcode

printf '\nThe lab keeps running: %s lab status --config %s; make lab-down removes it.\n' "$MMM" "$CONFIG"
