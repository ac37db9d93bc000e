#!/usr/bin/env bash
# test/bench/production.sh — the production-shaped benchmark: the relay against what people run
# today, Postfix + OpenDKIM (milter) + Cyrus SASL (Debian packages), same run, same sink.
#
#   load:    test/bench/loadgen (Go, built here into a temp dir) -> system on 127.0.0.1 -> smtp-sink
#   shapes:  {plain, starttls+auth PLAIN} x {1, 10 messages per connection}
#            x {DKIM rsa-sha256 2048, ed25519-sha256} x {4 KiB, 100 KiB}, every message signed
#   CPU:     each system in its own cgroup (cpuacct; v1 or v2): the relay process; Postfix's master
#            and every child, and opendkim. Counted from the first connection until the sink
#            has every message, so accepting, signing and delivering all count; the load
#            generator and the sink do not (the load generator's own CPU is reported beside).
#   checks:  every run: the sink counted every message; at the end, messages of each system and
#            algorithm dumped by smtp-sink carry a DKIM signature mailauth verifies.
#
# Same certificate (self-signed RSA 2048, made per run), same DKIM keys, same sink for both.
# Postfix runs as a private instance (postfix -c DIR, its own queue), never the default one.
# Postfix checks the password against sasldb (saslpasswd2: stored in clear, a lookup), ours
# against an scrypt hash (mail-relay hash-password), verified once per client and few minutes
# (the relay caches a successful check; the uncounted warm-up fills that cache).
# Delivery is plain SMTP: smtp-sink offers no STARTTLS (so neither system uses TLS outbound).
# TLS: full handshakes by default (what most submission clients do); -R resumes sessions.
#
# Usage: test/bench/production.sh [-n N] [-c CONC] [-q] [-R] [-o DIR]   (root; builds the relay
#        first unless BENCH_BUILT=1, as run.sh sets it; or npm run bench -- -S [-q])
#   -n N    messages per shape and system (default 1000)   -c CONC  loadgen workers (default 10)
#   -q      quick: n=200                                     -R       TLS session resumption on
#   -o DIR  results directory (default bench-results/<time>); writes DIR/production.md
# The full grid (16 shapes x 2 systems) at n=1000 takes about 10 minutes here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=1000; CONC=10; RESUME=false; OUT=""
while getopts "n:c:qRo:" o; do
  case $o in n) N=$OPTARG;; c) CONC=$OPTARG;; q) N=200;; R) RESUME=true;; o) OUT=$OPTARG;; *) sed -n 2,28p "$0"; exit 2;; esac
done
[ "$(id -u)" = 0 ] || { echo "production.sh: root needed (cgroups, Postfix)"; exit 2; }
[ -n "$OUT" ] || OUT=$ROOT/bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
# ports of their own, so the other parts of the bench (and other benches) can run beside it
OURS_PLAIN=3525; OURS_SUB=3587; PF_PLAIN=3625; PF_SUB=3687; SINK_PORT=3600; METRICS_PORT=3990
USER_NAME=bench; USER_PASS=bench-password-0123456789
WORK=$(mktemp -d /tmp/mail-relay-prodbench.XXXXXX); chmod 755 "$WORK"   # Postfix runs as user postfix below it
PD=$WORK/postfix   # Postfix config dir (main.cf, master.cf); queue and data below it
# the milter on a UNIX socket, as Debian's opendkim package sets it up (an inet socket on
# loopback added ~90 ms to every message here, likely Nagle and delayed ACKs on the milter link)
MILTER_SOCK=$WORK/opendkim.sock
RELAY_PID=""; DKIM_PID=""; SINK_PID=""; PF_UP=0; CG_OURS=""; CG_PF=""

install_packages() { # Debian packages, only the missing ones
  local need=()
  [ -x /usr/sbin/postfix ] || need+=(postfix)
  [ -x /usr/sbin/opendkim ] || need+=(opendkim)
  [ -x /usr/sbin/opendkim-testkey ] || need+=(opendkim-tools)
  [ -x /usr/sbin/saslpasswd2 ] || need+=(sasl2-bin)
  ls /usr/lib/*/sasl2/libplain.so >/dev/null 2>&1 && ls /usr/lib/*/sasl2/libsasldb.so >/dev/null 2>&1 || need+=(libsasl2-modules libsasl2-modules-db)
  command -v bc >/dev/null || need+=(bc)
  [ ${#need[@]} = 0 ] && return 0
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string bench.localdomain" | debconf-set-selections
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
}

# cgroups whose CPU usage can be read: v2 (cpu.stat usage_usec) or v1 (cpuacct.usage, ns)
cg_make() {
  local d
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then d=/sys/fs/cgroup/prodbench-$1.$$; else d=/sys/fs/cgroup/cpuacct/prodbench-$1.$$; fi
  mkdir -p "$d"; echo "$d"
}
cg_usage_us() { if [ -f "$1/cpu.stat" ]; then awk '/^usage_usec/ {print $2}' "$1/cpu.stat"; else echo $(( $(cat "$1/cpuacct.usage") / 1000 )); fi; }
cg_remove() { # bounded: the processes may take a moment to leave
  [ -n "$1" ] && [ -d "$1" ] || return 0
  for _ in $(seq 1 50); do rmdir "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "cgroup $1 still has processes: $(cat "$1/cgroup.procs" | tr '\n' ' ')" >&2
}

stop_sink() { if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=""; fi; }
# a fresh smtp-sink per run (its counter starts at 0); DUMP=dir makes it write every message there
start_sink() {
  stop_sink
  : > "$WORK/sink.out"
  smtp-sink -u nobody -c ${DUMP:+-d "$DUMP/%H%M%S."} 127.0.0.1:$SINK_PORT 1024 > "$WORK/sink.out" 2>&1 & SINK_PID=$!
  for _ in $(seq 1 50); do ss -ltn "sport = :$SINK_PORT" | grep -q LISTEN && return 0; sleep 0.1; done
  echo "smtp-sink did not start" >&2; exit 1
}
sink_count() { tail -c 200 "$WORK/sink.out" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
wait_sink() { # N: until the sink counted N messages (bounded: 300 s)
  local c
  for _ in $(seq 1 3000); do c=$(sink_count); [ "${c:-0}" -ge "$1" ] && return 0; sleep 0.1; done
  echo "sink counted ${c:-0} of $1 messages" >&2; return 1
}

cleanup() {
  stop_sink
  if [ -n "$RELAY_PID" ]; then kill "$RELAY_PID" 2>/dev/null || true; wait "$RELAY_PID" 2>/dev/null || true; fi
  [ "$PF_UP" = 1 ] && { timeout 20 postfix -c "$PD" stop >/dev/null 2>&1 || true; }
  stop_opendkim
  # Postfix's master exits a moment after `postfix stop`; its pid file is in the private queue
  for _ in $(seq 1 100); do [ -s "$PD/queue/pid/master.pid" ] && kill -0 "$(tr -d ' ' < "$PD/queue/pid/master.pid")" 2>/dev/null || break; sleep 0.1; done
  cg_remove "$CG_OURS"; cg_remove "$CG_PF"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_packages
PATH=$PATH:/usr/sbin
# run.sh has just built (BENCH_BUILT=1); alone, build so the figures are of this tree
[ "${BENCH_BUILT:-0}" = 1 ] || (cd "$ROOT" && npm run --silent build)
(cd "$ROOT/test/bench/loadgen" && go build -o "$WORK/loadgen" .)

echo "== keys: TLS certificate (RSA 2048, self-signed), DKIM rsa-2048 and ed25519, users"
mkdir -p "$WORK/keys" "$PD/queue" "$PD/data" "$PD/sasl"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=bench.localhost -addext subjectAltName=DNS:bench.localhost \
  -days 2 -keyout "$WORK/keys/tls.key" -out "$WORK/keys/tls.crt" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/keys/rsa.key" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$WORK/keys/ed.key" 2>/dev/null
chmod 600 "$WORK"/keys/*.key
# DNS TXT records for the verifier (RSA: the SubjectPublicKeyInfo; Ed25519: the raw 32-byte key, RFC 8463)
rsa_p=$(openssl pkey -in "$WORK/keys/rsa.key" -pubout -outform DER 2>/dev/null | base64 -w0)
ed_p=$(openssl pkey -in "$WORK/keys/ed.key" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)
printf '{"bench._domainkey.rsa.bench.example":"v=DKIM1; k=rsa; p=%s","bench._domainkey.ed.bench.example":"v=DKIM1; k=ed25519; p=%s"}\n' \
  "$rsa_p" "$ed_p" > "$WORK/keys/records.json"

# --- ours -------------------------------------------------------------------------------
hash=$(printf '%s' "$USER_PASS" | node "$ROOT/dist/relay/src/main.js" hash-password)
echo "- { username: $USER_NAME, passwordHash: \"$hash\", allowedSenderDomains: [rsa.bench.example, ed.bench.example] }" > "$WORK/users.yaml"
write_relay_yaml() { # EXTRA_LIMITS
  cat > "$WORK/relay.yaml" <<YAML
hostname: bench.localhost
listeners:
  - { name: plain, address: 127.0.0.1, port: $OURS_PLAIN, tls: none, auth: none }
  - { name: submission, address: 127.0.0.1, port: $OURS_SUB, tls: starttls, auth: required }
tls: { certFile: $WORK/keys/tls.crt, keyFile: $WORK/keys/tls.key }
trustedNetworks: [127.0.0.0/8]
usersFile: $WORK/users.yaml
limits: { maxMessageSize: 50Mi, maxConnections: 5000$1 }
queue: { dir: $WORK/spool, minFreeSpace: 0 }
delivery: { mode: smarthost, smarthost: { host: 127.0.0.1, port: $SINK_PORT, tls: none } }
domains:
  - { name: rsa.bench.example, dkim: { selector: bench, privateKeyFile: $WORK/keys/rsa.key, algorithm: rsa-sha256 } }
  - { name: ed.bench.example, dkim: { selector: bench, privateKeyFile: $WORK/keys/ed.key, algorithm: ed25519-sha256 } }
metrics: { address: 127.0.0.1, port: $METRICS_PORT }
YAML
}
# HARDENING LIMITS: loopback load comes from one client address, so the per-client connection
# limits of the SMTP hardening must be lifted for the bench. Relays without those keys reject
# them as unknown: then the file is written without them (no limit to lift).
HARDENING_LIMITS=', maxConnectionsPerClient: 10000, maxConnectionRatePerClient: 0'
write_relay_yaml "$HARDENING_LIMITS"
if ! node "$ROOT/dist/relay/src/main.js" --config "$WORK/relay.yaml" --check >/dev/null 2>&1; then
  HARDENING_LIMITS=""; write_relay_yaml ""
fi
node "$ROOT/dist/relay/src/main.js" --config "$WORK/relay.yaml" --check

# --- Postfix + OpenDKIM + SASL (private instance) ---------------------------------------------
# OpenDKIM 2.11 signs with one algorithm per process (SignatureAlgorithm), so it is restarted
# with the other key between the rsa and the ed25519 shapes (Postfix keeps running)
start_opendkim() { # rsa|ed
  stop_opendkim
  local sigalg=rsa-sha256; [ "$1" = ed ] && sigalg=ed25519-sha256
  cat > "$WORK/opendkim.conf" <<EOF
Syslog no
Mode s
Socket local:$MILTER_SOCK
UMask 000
PidFile $WORK/opendkim.pid
KeyTable file:$WORK/keytable
SigningTable refile:$WORK/signingtable
InternalHosts 127.0.0.1
Canonicalization relaxed/relaxed
SignatureAlgorithm $sigalg
# the keys are made per run below /tmp, whose world-writable parent fails OpenDKIM's check
RequireSafeKeys no
EOF
  printf '%s._domainkey %s.bench.example:bench:%s\n' "$1" "$1" "$WORK/keys/$1.key" > "$WORK/keytable"
  printf '*@%s.bench.example %s._domainkey\n' "$1" "$1" > "$WORK/signingtable"
  ( echo $BASHPID > "$CG_PF/cgroup.procs"; exec opendkim -f -x "$WORK/opendkim.conf" ) >> "$WORK/opendkim.log" 2>&1 &
  DKIM_PID=$!
  for _ in $(seq 1 50); do [ -S "$MILTER_SOCK" ] && return 0; sleep 0.1; done
  echo "opendkim did not start:"; cat "$WORK/opendkim.log"; exit 1
}
stop_opendkim() {
  [ -n "$DKIM_PID" ] || return 0
  kill "$DKIM_PID" 2>/dev/null || true; wait "$DKIM_PID" 2>/dev/null || true; DKIM_PID=""
  for _ in $(seq 1 50); do [ -S "$MILTER_SOCK" ] || return 0; sleep 0.1; done
  rm -f "$MILTER_SOCK"
}
# sasldb: the user in the realm smtpd passes (myhostname); the db readable by smtpd (user postfix).
# Debian's Postfix reads the Cyrus config from \$config_directory/sasl/smtpd.conf.
printf '%s' "$USER_PASS" | saslpasswd2 -f "$PD/sasl/sasldb2" -c -p -u bench.localhost "$USER_NAME"
cat > "$PD/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $PD/sasl/sasldb2
mech_list: PLAIN
EOF
chown -R postfix "$PD/sasl"; chmod 700 "$PD/sasl"; chmod 600 "$PD/sasl/sasldb2"
cat > "$PD/main.cf" <<EOF
# generated by test/bench/production.sh (benchmark, not for production)
compatibility_level = 3.6
queue_directory = $PD/queue
data_directory = $PD/data
myhostname = bench.localhost
mydomain = localhost
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_tls_cert_file = $WORK/keys/tls.crt
smtpd_tls_key_file = $WORK/keys/tls.key
smtpd_tls_security_level = none
smtpd_tls_session_cache_database = btree:\$data_directory/smtpd_scache
smtp_tls_security_level = none
cyrus_sasl_config_path = $PD/sasl
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_milters = unix:$MILTER_SOCK
non_smtpd_milters =
milter_default_action = tempfail
smtp_dns_support_level = disabled
biff = no
append_dot_mydomain = no
message_size_limit = 52428800
maillog_file_prefixes = /var, /dev/stdout, $PD
maillog_file = $PD/maillog
# everything else (process limits, in_flow_delay, concurrency) = Postfix defaults
EOF
# the submission port as Debian's master.cf proposes it: TLS required, AUTH only under TLS, relay only when authenticated
cat > "$PD/master.cf" <<EOF
127.0.0.1:$PF_PLAIN inet n - n - - smtpd
127.0.0.1:$PF_SUB inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
chown postfix "$PD/data"
postfix -c "$PD" check 2>/dev/null || { echo "postfix check failed:"; tail -20 "$PD/maillog" 2>/dev/null; exit 1; }

echo "== starting both systems, each in its own cgroup"
CG_OURS=$(cg_make ours); CG_PF=$(cg_make postfix)
( echo $BASHPID > "$CG_OURS/cgroup.procs"; exec node "$ROOT/dist/relay/src/main.js" --config "$WORK/relay.yaml" --log-level warn ) > "$WORK/relay.log" 2>&1 &
RELAY_PID=$!
( echo $BASHPID > "$CG_PF/cgroup.procs"; exec postfix -c "$PD" start ) > "$WORK/postfix-start.log" 2>&1 || { cat "$WORK/postfix-start.log"; exit 1; }
PF_UP=1
ready=0
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null 2>&1 && ss -ltn "sport = :$PF_SUB" | grep -q LISTEN \
    && { ready=1; break; }
  sleep 0.1
done
[ $ready = 1 ] || { echo "not ready:"; cat "$WORK/relay.log" "$WORK/opendkim.log" "$WORK/postfix-start.log"; tail -20 "$PD/maillog" 2>/dev/null; exit 1; }

# one run: SYSTEM SEC REUSE ALG SIZE [n] -> appends a TSV line to ${TSV:-$OUT/production.tsv}
# (system sec reuse alg size n sent failed cpu_us_per_msg msg_s p50 p99 loadgen_us_per_msg resumed)
run_shape() {
  local sys=$1 sec=$2 reuse=$3 alg=$4 size=$5 n=${6:-$N} port cg args=() before after json
  case $sys/$sec in ours/plain) port=$OURS_PLAIN; cg=$CG_OURS;; ours/*) port=$OURS_SUB; cg=$CG_OURS;;
    postfix/plain) port=$PF_PLAIN; cg=$CG_PF;; postfix/*) port=$PF_SUB; cg=$CG_PF;; esac
  [ "$sec" = plain ] || args=(-starttls -auth "$USER_NAME:$USER_PASS" -insecure -resume="$RESUME")
  start_sink
  before=$(cg_usage_us "$cg")
  json=$("$WORK/loadgen" -addr 127.0.0.1:$port -n "$n" -size "$size" -c "$CONC" -reuse "$reuse" \
    -from "sender@$alg.bench.example" -to rcpt@dest.example "${args[@]}")
  local sent; sent=$(node -e 'process.stdout.write(String(JSON.parse(process.argv[1]).sent))' "$json")
  wait_sink "$sent" || true
  after=$(cg_usage_us "$cg")
  node -e '
    const [j, sys, sec, reuse, alg, size, n, us, got] = process.argv.slice(1); const r = JSON.parse(j);
    const f = (v) => (r.sent ? Math.round(v / r.sent) : "NA");
    const line = [sys, sec, reuse, alg, size, n, r.sent, r.failed, f(Number(us)), r.msgsPerSec, r.p50Ms, r.p99Ms,
      f((r.cpuUserSec + r.cpuSysSec) * 1e6), r.tlsResumed, got, r.firstError ?? ""];
    process.stdout.write(line.join("\t") + "\n");' "$json" "$sys" "$sec" "$reuse" "$alg" "$size" "$n" $((after - before)) "$(sink_count)" \
    | tee -a "${TSV:-$OUT/production.tsv}"
  stop_sink
}

printf 'system\tsecurity\treuse\tdkim\tsize\tn\tsent\tfailed\tcpu_us_msg\tmsg_s\tp50_ms\tp99_ms\tloadgen_us_msg\ttls_resumed\tsink_count\tfirst_error\n' > "$OUT/production.tsv"
# warm-up, not counted: JIT, Postfix's process pool, and the relay's cache of verified passwords
# (a recurring client pays scrypt once every few minutes, not per connection)
start_opendkim rsa
for sys in ours postfix; do for sec in plain starttls+auth; do TSV=$WORK/warmup.tsv run_shape $sys $sec 1 rsa 4096 50 >/dev/null; done; done
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== shapes (n=$N, $CONC workers, TLS resumption $RESUME): ours then Postfix, shape by shape"
for alg in rsa ed; do
  start_opendkim $alg
  for size in 4096 102400; do for sec in plain starttls+auth; do for reuse in 1 10; do
    for sys in ours postfix; do run_shape $sys $sec $reuse $alg $size; done
  done; done; done
done

echo "== DKIM: a sample of each system and algorithm, dumped by the sink, verified with mailauth"
mkdir -p "$WORK/dump"; chown nobody "$WORK/dump"   # smtp-sink -u nobody writes there
DUMP=$WORK/dump; TSV=$WORK/verify.tsv
for alg in rsa ed; do
  start_opendkim $alg
  for sys in ours postfix; do run_shape $sys starttls+auth 1 $alg 4096 3 >/dev/null; done
done
unset DUMP TSV
stop_opendkim
echo "dumped at the sink: $(ls "$WORK/dump" | wc -l) messages (expected 12: 3 per system and algorithm)"
verify_out=$(node "$ROOT/test/bench/verify-dkim.mjs" "$WORK/keys/records.json" "$WORK"/dump/* 2>&1 && echo "all verified" || echo "VERIFICATION FAILED")
echo "$verify_out"

# the table and the ratios (from the TSV: columns as in the header line)
node - "$OUT/production.tsv" "$N" "$CONC" "$RESUME" "$HARDENING_LIMITS" "$(printf '%s' "$verify_out" | tail -1)" "$(opendkim -V 2>&1 | head -1)" "$LOADAVG" "$(nproc)" > "$OUT/production.md" <<'JS'
const fs = require('node:fs');
const [file, n, conc, resume, hardening, verified, opendkim, loadavg, cpus] = process.argv.slice(2);
const [head, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split('\t'));
const rows = lines.map((l) => Object.fromEntries(head.map((h, i) => [h, l[i]])));
const shape = (r) => `${r.security} | ${r.reuse} | ${r.dkim === 'rsa' ? 'rsa-2048' : 'ed25519'} | ${Number(r.size) / 1024} KiB`;
const ratio = (a, b) => (Number(a) > 0 && Number(b) > 0 ? (Number(a) / Number(b)).toFixed(2) : 'NA');
const out = [];
out.push(`## Production-shaped benchmark (${new Date().toISOString().slice(0, 19)}Z, n=${n} per shape and system, ${conc} connections, TLS resumption ${resume})`, '');
out.push(`${cpus} CPUs, load average ${loadavg} when the shapes began: absolute figures on a shared machine are noise; the ratios compare the two systems run one after the other, shape by shape, in the same run. Warm-up (50 messages per system and listener) not counted.`, '');
out.push('CPU: each system in its own cgroup, from the first connection until the sink has every message (accept + DKIM + queue + delivery); msg/s and latency: the load generator (latency per message, to the 250 after DATA; with 1 message per connection it includes connect, STARTTLS and AUTH).', '');
out.push('| system | security | msgs/conn | DKIM | size | CPU µs/msg | msg/s | p50 ms | p99 ms | failed | at sink | loadgen µs/msg |');
out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) out.push(`| ${r.system} | ${shape(r)} | ${r.cpu_us_msg} | ${r.msg_s} | ${r.p50_ms} | ${r.p99_ms} | ${r.failed} | ${r.sink_count}/${r.n} | ${r.loadgen_us_msg} |`);
out.push('', '| security | msgs/conn | DKIM | size | CPU Postfix/ours | msg/s ours/Postfix | p99 Postfix/ours |', '|---|---|---|---|---|---|---|');
for (const o of rows.filter((r) => r.system === 'ours')) {
  const p = rows.find((r) => r.system === 'postfix' && shape(r) === shape(o));
  if (p) out.push(`| ${shape(o)} | ${ratio(p.cpu_us_msg, o.cpu_us_msg)} | ${ratio(o.msg_s, p.msg_s)} | ${ratio(p.p99_ms, o.p99_ms)} |`);
}
const bad = rows.filter((r) => r.failed !== '0' || r.sink_count !== r.n);
out.push('', `Every message at the sink: ${bad.length ? `NO (${bad.map(shape).join('; ')})` : 'yes'}. DKIM sample (both systems, both algorithms, mailauth): ${verified}.`);
out.push(`Relay limits for loopback load: ${hardening ? hardening.replace(/^, /, '') : 'none needed (this relay has no per-client limits)'}. Postfix: sasldb (password in clear), ${opendkim} as milter; ours: scrypt hash.`);
process.stdout.write(out.join('\n') + '\n');
JS
cat "$OUT/production.md"
bad=$(awk -F'\t' 'NR>1 && ($8 != 0 || $15 != $6)' "$OUT/production.tsv" | wc -l)
[ "$bad" = 0 ] && [[ "$verify_out" == *"all verified" ]]
