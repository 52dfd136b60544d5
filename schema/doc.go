/*
Package schema is the topology language: HCL files are decoded into spec
structs that keep their source ranges, then converted into the desired model
(internal/topology), with every user mistake reported as hcl.Diagnostics.

# Files

--config names a file or a directory; a directory's *.hcl files are read in
name order and merged (like Terraform): blocks may be spread over files, but a
block that may appear once (cluster, defaults, replication, agent, monitor,
tls) appears once in all of them. Decoding keeps the source range of every
attribute, so each mistake is an hcl.Diagnostic pointing at file:line:col, and
all of them are reported in one run.

# Blocks and defaults

	cluster "NAME"   flavor ("mariadb" | "mysql", required)
	                 active_master_role (default "writer")
	variable "NAME"  default, sensitive (default false), description
	defaults         any host attribute, and an admin block; a host's own
	                 attribute wins
	host "NAME"      address (IPv4, required), port (3306),
	                 mode ("master" | "slave", default "slave"),
	                 peer (required for masters, symmetric), server_id (1..2^32-1;
	                 default: mmm derives one, see topology.Cluster.ServerIDFor),
	                 interface ("eth0"),
	                 admin { user ("root"), password,
	                         tls ("off" | "required" | "verify", default
	                         "off": mmm's sessions with the server; verify
	                         checks the server's certificate against the tls
	                         block's CA and the host's address) },
	                 bootstrap { donor (default: a healthy slave),
	                             method ("logical" | "physical", default "logical") }
	replication      user (a user block's account name; required with >1 host),
	                 semi_sync (false), semi_sync_timeout ("1s"),
	                 connect_retry ("10s"), heartbeat ("1s"),
	                 ssl (true when any ssl_* file is set), ssl_ca, ssl_cert, ssl_key
	user "LABEL"     name (default: the label), host ("%"), password,
	                 ensure ("present" | "absent"),
	                 allow_read_only_bypass (false; see Grants),
	                 grant "db.tbl" { privileges, with_grant_option (false) }
	role "NAME"      mode ("exclusive" | "balanced", required), hosts, ips, prefer
	agent            port (9989), token, clone_token (optional: then the
	                 physical clone's endpoints need it too; the agents and
	                 the operators who run apply hold it, the watch need
	                 not), tls_cert, tls_key,
	                 fence ("kill" | "read_only", default "kill": how an agent
	                 fences a server whose read_only cannot be set in time),
	                 failsafe (true: with no watch renewing its lease, the
	                 writer keeps its role while every other agent confirms
	                 that no watch is acting and nobody else holds it)
	monitor          listen ("127.0.0.1:9988"), token, check_period ("1s"),
	                 trap_period ("5s"), lease ("5s"), auto_set_online ("60s";
	                 "0s" = never), flap_count (3), flap_duration ("1h"),
	                 ping_ips, state_file ("/var/lib/mmm/watch.state"),
	                 fail_back (false), pre_failover, post_failover (commands
	                 as argument lists), fence_hook (a command as an argument
	                 list, run with MMM_HOST and MMM_ADDRESS set to fence a
	                 writer its agent cannot; exit 0 = fenced),
	                 host_lost_after (> 0; unset: the watch derives it from
	                 check_period), reconcile_period ("5s", ≥ check_period:
	                 how often the watch compares replication and read_only
	                 with the file between the health rounds); node "NAME"
	                 blocks (listen and raft, IP:PORT each, one IP) declare
	                 several watch nodes, run by `mmm watch --node NAME`:
	                 raft elects the one that acts (no monitor.listen then)
	tls              dir (required): the directory of the cluster's CA and
	                 certificates (mmm tls init): ca.pem, and per identity
	                 NAME.pem and NAME-key.pem (a host's name, "monitor",
	                 "operator"). Turns on TLS 1.3 with client certificates
	                 on the agents' API and the watch's control API; replaces
	                 agent.tls_cert and tls_key (docs/security.md)
	check "NAME"     ping, mysql, rep_threads and rep_backlog always run;
	                 a block with their name tunes period (monitor.check_period),
	                 trap_period (monitor.trap_period), timeout ("2s"),
	                 max_backlog (rep_backlog only, 60). Any other name is a
	                 custom check and needs command = ["/path", "arg", …].
	module "NAME"    source ("./…" or "../…", relative to the declaring file),
	                 and the module's variables as further attributes

Durations are Go durations: "250ms", "1s", "2m", "1h".

# Grants

Grant objects are written "*.*", "db.*" or "db.tbl" (backquotes allowed) and
kept without quotes. Privileges are upper-cased, spaced singly, sorted, and
spelt as the flavor's SHOW GRANTS prints them (CanonicalPrivilege: on MariaDB
REPLICATION CLIENT becomes BINLOG MONITOR). USAGE is dropped; ALL is refused
(it means a different set on every version, and grants are authoritative);
GRANT OPTION is with_grant_option = true. A privilege the flavor does not know,
or an administrative privilege on one database, is an error.

A privilege that writes past read_only is a warning (validate and plan): on
MariaDB READ_ONLY ADMIN, and SUPER before 10.11 (which included it); on MySQL
CONNECTION_ADMIN and SUPER (super_read_only, which mmm sets when it fences,
stops them; read_only alone does not). Such sessions can write to a fenced
master. The admin account mmm connects with (admin.user) is not reported, nor a
user block with allow_read_only_bypass = true (modules/mmm-users' agent
account, which needs READ_ONLY ADMIN to set read_only).

# Functions, variables and secrets

env("NAME") and file("path") (relative to the file that calls it; one trailing
newline dropped) give sensitive values; lower, upper, trimspace, trim,
trimprefix, trimsuffix, format, join, split, replace, concat and coalesce work
as in Terraform. var.NAME is a variable block's value: --var NAME=VALUE, else
MMM_VAR_NAME, else its default. A module's variables are its block's inputs.

An unset env(), a missing file() or a variable without a value is a warning
(validate needs no secrets; CI has none) and an error with
Options.RequireSecrets (commands that connect). Passwords and tokens become
topology.Secret. Values from env(), file() and sensitive variables are marked
(cty marks) and never shown in diagnostics; literal passwords and tokens are
accepted with a warning, and masked in source snippets.
*/
package schema
