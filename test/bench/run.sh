#!/usr/bin/env bash
# npm run bench — the relay against Postfix and the loopback ceiling, measured in the same run.
#
#   acceptance: smtp-source -> relay (durable spool) ; msgs/s until every message got 250
#   ceiling:    smtp-source -> smtp-sink directly (../shared/bench/relay-bench.sh -D)
#   node floor: smtp-source -> the SMTP dialogue in bare node:net (test/bench/smtp-floor.mjs: no
#               parsing, policy or disk): the most any Node.js relay can accept here
#   postfix:    smtp-source -> Postfix relay -> smtp-sink (../shared/bench/postfix-anchor.sh)
#   memory:     relay RSS while relaying at concurrency 50, RSS growth for one 25 MiB message,
#               RSS with 100,000 messages queued for a dead destination, and the restart time to recover them
#   queue shape: the spool alone (test/bench/queue-memory.ts) with 100,000 and 1,000,000 (-Q N)
#               4 KiB messages deferred for a dead destination: RSS, live heap, restart seconds
#   http:       wrk (50 connections, 1 KiB JSON messages) -> relay HTTP API (202 after the spool fsync)
#               -> smtp-sink, against a bare node:http server answering 202 (the ceiling) and the
#               relay's own SMTP acceptance of the same message size at concurrency 50
#   production: loadgen (STARTTLS + AUTH PLAIN or plain, 1 or 10 messages per connection) -> relay
#               and Postfix + OpenDKIM + SASL, DKIM rsa-2048 / ed25519, 4 / 100 KiB: CPU per message
#               in a cgroup per system, msg/s, p50/p99 latency (test/bench/production.sh; alone: -S)
#   operator:   20 MailRelays + 500 SendingDomains applied at once to a fresh local control plane:
#               time to steady state (against the kubectl apply itself), API writes, operator RSS
#               (test/bench/operator-bench.ts; alone: npm run bench:operator)
#
# Absolute figures on a shared 2-core machine are noise: read the ratios, which come from
# the same run. Results: bench-results/<time>/ (TSV from the shared harness, summary.md).
# Options: -n N messages per run (default 4000), -r RUNS (default 3), -q quick (n=1000, r=1),
#          -P skip the Postfix anchor, -H only the HTTP API part, -O only the operator part,
#          -S only the production-shaped part (with -q: its quick mode),
#          -Q N messages for the large queue-shape run (default 1000000; -q: 100000).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
N=4000; RUNS=3; POSTFIX=1; QUEUED=100000; BIG_QUEUE=1000000; HTTP_ONLY=0; HTTP_SECS=10; QUICK=""; PROD_ONLY=0
while getopts "n:r:qPHOSQ:" o; do
  case $o in n) N=$OPTARG;; r) RUNS=$OPTARG;; q) N=1000; RUNS=1; QUEUED=20000; BIG_QUEUE=100000; HTTP_SECS=5; QUICK=-q;; P) POSTFIX=0;; H) HTTP_ONLY=1; POSTFIX=0;;
    Q) BIG_QUEUE=$OPTARG;;
    S) PROD_ONLY=1;;
    O) for alg in rsa-sha256 ed25519-sha256; do node --import tsx "$(dirname "$0")/operator-bench.ts" --algorithm $alg; done; exit 0;;
    *) sed -n 2,25p "$0"; exit 2;; esac
done
if [ "$PROD_ONLY" = 1 ]; then exec bash "$(dirname "$0")/production.sh" $QUICK; fi
RELAY_PORT=2525; SINK_PORT=2600; POSTFIX_PORT=2625; FLOOR_PORT=2725; METRICS_PORT=9190; HTTP_PORT=8180; BASE_PORT=8181
export BENCH_TOKEN=bench-token-0123456789abcdef
OUT=$ROOT/bench-results/$(date +%Y%m%d-%H%M%S); mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/mail-relay-bench.XXXXXX)
RELAY_PID=""; SAMPLER_PID=""; BASE_PID=""; SINK_PID=""; FLOOR_PID=""

cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  [ -n "$BASE_PID" ] && kill "$BASE_PID" 2>/dev/null || true
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
  [ -n "$FLOOR_PID" ] && kill "$FLOOR_PID" 2>/dev/null || true
  if [ -n "$RELAY_PID" ]; then kill "$RELAY_PID" 2>/dev/null || true; wait "$RELAY_PID" 2>/dev/null || true; fi
  [ "$POSTFIX" = 1 ] && RELAY_PORT=$POSTFIX_PORT "$SHARED/postfix-anchor.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v smtp-source >/dev/null && [ ! -x /usr/sbin/smtp-source ]; then "$SHARED/postfix-anchor.sh" install; fi
command -v bc >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y bc; }
command -v wrk >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; }
PATH=$PATH:/usr/sbin
(cd "$ROOT" && npm run --silent build)

cat > "$WORK/relay.yaml" <<YAML
hostname: bench.localhost
listeners:
  - { name: bench, address: 127.0.0.1, port: $RELAY_PORT, tls: none, auth: none }
trustedNetworks: [127.0.0.0/8]
limits: { maxMessageSize: 50Mi, maxConnections: 5000, maxConnectionsPerClient: 5000 }  # every smtp-source session comes from 127.0.0.1
queue: { dir: $WORK/spool, minFreeSpace: 0 }
delivery: { mode: smarthost, smarthost: { host: 127.0.0.1, port: $SINK_PORT, tls: none } }
metrics: { address: 127.0.0.1, port: $METRICS_PORT }
http: { address: 127.0.0.1, port: $HTTP_PORT, tokensFile: $WORK/tokens.yaml }
YAML
echo "- { name: bench, token: $BENCH_TOKEN }" > "$WORK/tokens.yaml"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
start_relay() { # keep: reuse the spool of the last run
  [ "${1:-}" = keep ] || rm -rf "$WORK/spool"
  "$ROOT/dist/relay/src/main.js" --config "$WORK/relay.yaml" > "$WORK/relay.log" 2>&1 &
  RELAY_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "relay did not start:"; cat "$WORK/relay.log"; exit 1
}
stop_relay() { kill "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null || true; RELAY_PID=""; }
# peak RSS of PID into FILE until killed, sampled every INTERVAL seconds (default 0.2: the box
# is CPU-bound, and sampling competes with what it measures)
sample_rss() { local peak=0 r; while :; do r=$(rss_kib "$1"); [ "$r" -gt "$peak" ] && { peak=$r; echo "$peak" > "$2"; }; sleep "${3:-0.2}"; done; }

queue_size() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^mailrelay_queue_messages\{/ {s+=$2} END {print s+0}'; }
wait_empty() { for _ in $(seq 1 1200); do [ "$(queue_size)" = 0 ] && return 0; sleep 0.1; done; return 1; }
export -f queue_size wait_empty; export METRICS_PORT

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "NA"; exit}; print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
rate() { awk -F'\t' -v l="$1" -v s="$2" -v c="$3" -v col="$4" '$1==l && $3==s && $4==c && $col ~ /^[0-9.]+$/ {print $col}' "$OUT/results.tsv" | median; }
ratio() { if [ "$1" = NA ] || [ "$2" = NA ]; then echo NA; else printf '%.2f' "$(echo "$1 / $2" | bc -l)"; fi; }

# wrk at 50 connections for HTTP_SECS against URL; appends "label rate non2xx errors accepted" to http.tsv.
# accepted: messages the relay counted as received over HTTP during the run (0 for the baseline).
http_received() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^mailrelay_messages_received_total\{listener="http"\}/ {print $2+0}'; }
# CPU seconds the relay process has used (user + system)
relay_cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$RELAY_PID/stat"; }
# relay CPU microseconds per message over a run: accepting and delivering (measured until the queue is empty)
cpu_per_msg() { if [ "$3" -gt 0 ]; then printf '%.0f' "$(echo "($2 - $1) * 1000000 / $3" | bc -l)"; else echo NA; fi; }
wrk_run() {
  local before=0 after=0 c0=0 c1=0 cpu=NA
  if [ "$1" = ours ]; then before=$(http_received); c0=$(relay_cpu); fi
  wrk -t1 -c50 -d"${HTTP_SECS}s" -s "$ROOT/test/bench/http-post.lua" "$2" > "$WORK/wrk.out" 2>&1
  if [ "$1" = ours ]; then after=$(http_received); wait_empty || true; c1=$(relay_cpu); cpu=$(cpu_per_msg "$c0" "$c1" "$((after - before))"); fi
  local r bad err
  r=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.out"); bad=$(awk '/Non-2xx/ {print $5}' "$WORK/wrk.out")
  err=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' "$WORK/wrk.out")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${r:-NA}" "${bad:-0}" "${err:-0}" "$((after - before))" "$cpu" | tee -a "$OUT/http.tsv"
}
http_col() { awk -F'\t' -v l="$1" -v c="$2" '$1==l {print $c}' "$OUT/http.tsv"; }

echo "== HTTP API: wrk (50 connections, 1 KiB JSON) -> relay (durable spool) -> smtp-sink; baselines: bare node:http, our SMTP"
node "$ROOT/test/bench/http-baseline.mjs" $BASE_PORT & BASE_PID=$!
sleep 0.5
for _ in $(seq 1 "$RUNS"); do wrk_run node-http "http://127.0.0.1:$BASE_PORT/v1/messages"; done
kill "$BASE_PID"; wait "$BASE_PID" 2>/dev/null || true; BASE_PID=""
start_relay
smtp_received() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^mailrelay_messages_received_total\{listener="bench"\}/ {print $2+0}'; }
m0=$(smtp_received); c0=$(relay_cpu)
"$SHARED/relay-bench.sh" -p $RELAY_PORT -k $SINK_PORT -n "$N" -s 1024 -c 50 -r "$RUNS" -L ours-smtp -o "$OUT/results.tsv" -w wait_empty >/dev/null
wait_empty || true
smtp_cpu=$(cpu_per_msg "$c0" "$(relay_cpu)" "$(( $(smtp_received) - ${m0:-0} ))")
smtp-sink -u nobody 127.0.0.1:$SINK_PORT 1024 >/dev/null 2>&1 & SINK_PID=$!
for _ in $(seq 1 "$RUNS"); do wait_empty; wrk_run ours "http://127.0.0.1:$HTTP_PORT/v1/messages"; done
wait_empty || true
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=""
stop_relay
h_ours=$(http_col ours 2 | median); h_base=$(http_col node-http 2 | median); h_smtp=$(rate ours-smtp 1024 50 9)
h_bad=$(http_col ours 3 | awk '{s+=$1} END {print s+0}'); h_err=$(http_col ours 4 | awk '{s+=$1} END {print s+0}')
h_cpu=$(http_col ours 6 | median)
{
  echo "## HTTP API submission ($(date -u +%FT%TZ), wrk 50 connections, ${HTTP_SECS}s x $RUNS runs, 1 KiB JSON messages, medians)"
  echo
  echo "| HTTP API msg/s (202 after fsync) | bare node:http 202 req/s | ours/node:http | our SMTP acceptance, 1 KiB c50 msg/s | HTTP/SMTP | target |"
  echo "|---|---|---|---|---|---|"
  echo "| $h_ours | $h_base | $(ratio "$h_ours" "$h_base") | $h_smtp | $(ratio "$h_ours" "$h_smtp") | >= 1500 msg/s |"
  echo
  echo "Relay CPU per message, accepted and delivered: HTTP ${h_cpu} us, SMTP ${smtp_cpu} us (HTTP/SMTP $(ratio "$h_cpu" "$smtp_cpu"))."
  echo "Non-2xx answers: $h_bad; socket errors: $h_err; messages the relay counted per run: $(http_col ours 5 | tr '\n' ' ')"
  echo
} | tee "$OUT/http-summary.md"
[ "$HTTP_ONLY" = 1 ] && exit 0

echo "== ceiling (smtp-source -> smtp-sink)"
for size in 4096 102400; do for conc in 10 50; do
  "$SHARED/relay-bench.sh" -D -k $SINK_PORT -n "$N" -s $size -c $conc -r "$RUNS" -L direct -o "$OUT/results.tsv" >/dev/null
done; done

echo "== node floor (smtp-source -> bare node:net SMTP dialogue)"
node "$ROOT/test/bench/smtp-floor.mjs" $FLOOR_PORT & FLOOR_PID=$!
sleep 0.5
for size in 4096 102400; do for conc in 10 50; do for _ in $(seq 1 "$RUNS"); do
  t0=$(date +%s.%N)
  smtp-source -s $conc -m "$N" -l $size -M client.bench.example -f sender@bench.example -t rcpt@dest.example 127.0.0.1:$FLOOR_PORT
  printf '%s\t%s\t%s\n' $size $conc "$(echo "$N / ($(date +%s.%N) - $t0)" | bc -l)" >> "$OUT/floor.tsv"
done; done; done
kill "$FLOOR_PID"; wait "$FLOOR_PID" 2>/dev/null || true; FLOOR_PID=""

echo "== ours: smtp-source -> relay (durable spool) -> smtp-sink"
start_relay
for size in 4096 102400; do for conc in 10 50; do
  if [ $size = 4096 ] && [ $conc = 50 ]; then sample_rss "$RELAY_PID" "$WORK/peak50" & SAMPLER_PID=$!; fi
  "$SHARED/relay-bench.sh" -p $RELAY_PORT -k $SINK_PORT -n "$N" -s $size -c $conc -r "$RUNS" -L ours -o "$OUT/results.tsv" -w wait_empty >/dev/null
  if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""; fi
done; done
stop_relay

echo "== ours: RSS growth while accepting one 25 MiB message"
start_relay; sleep 1
base=$(rss_kib "$RELAY_PID")
sample_rss "$RELAY_PID" "$WORK/peak25" 0.01 & SAMPLER_PID=$!
smtp-source -s 1 -m 1 -l 26214400 -M client.bench.example -f sender@bench.example -t rcpt@dest.example 127.0.0.1:$RELAY_PORT
sleep 0.3; kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
peak25=$(cat "$WORK/peak25" 2>/dev/null || echo "$base")
stop_relay

echo "== ours: $QUEUED messages queued for a dead destination (nothing listens on the smarthost port)"
start_relay
smtp-source -d -s 50 -m "$QUEUED" -l 4096 -M client.bench.example -f sender@bench.example -t rcpt@dest.example 127.0.0.1:$RELAY_PORT
sleep 2
queued_before=$(queue_size); rss_queued=$(rss_kib "$RELAY_PID")
stop_relay
t0=$(date +%s.%N); start_relay keep; t1=$(date +%s.%N)
recover_s=$(printf '%.2f' "$(echo "$t1 - $t0" | bc -l)"); queued_after=$(queue_size)
stop_relay

echo "== queue shape at the spool: 100000 and $BIG_QUEUE messages deferred for a dead destination"
for count in 100000 "$BIG_QUEUE"; do
  (cd "$ROOT" && node --expose-gc --import tsx test/bench/queue-memory.ts --count "$count" --dir "$WORK/queue-$count") >> "$OUT/queue-shape.jsonl"
done

if [ "$POSTFIX" = 1 ]; then
  echo "== Postfix anchor (durable queue, relays to smtp-sink)"
  export RELAY_PORT=$POSTFIX_PORT SINK_PORT
  "$SHARED/postfix-anchor.sh" setup >/dev/null
  "$SHARED/postfix-anchor.sh" start >/dev/null
  for size in 4096 102400; do for conc in 10 50; do
    "$SHARED/relay-bench.sh" -p $POSTFIX_PORT -k $SINK_PORT -n "$N" -s $size -c $conc -r "$RUNS" -L postfix -o "$OUT/results.tsv" \
      -w "$SHARED/postfix-anchor.sh wait-empty 120" >/dev/null
  done; done
  "$SHARED/postfix-anchor.sh" stop >/dev/null
  RELAY_PORT=2525
fi

# median accept rate per label/size/conc, and the ratios (helpers above)
{
  echo "## mail-relay acceptance benchmark ($(date -u +%FT%TZ), n=$N, runs=$RUNS, medians)"
  echo
  echo "| size | conc | ceiling msg/s | Node floor | Postfix accepted | ours accepted | ours/Postfix | ours/ceiling | ours/Node floor | Postfix e2e | ours e2e | ours/Postfix e2e |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  for size in 4096 102400; do for conc in 10 50; do
    d=$(rate direct $size $conc 9); p=$(rate postfix $size $conc 9); o=$(rate ours $size $conc 9)
    f=$(awk -F'\t' -v s=$size -v c=$conc '$1==s && $2==c {printf "%.1f\n", $3}' "$OUT/floor.tsv" | median)
    pe=$(rate postfix $size $conc 10); oe=$(rate ours $size $conc 10)
    echo "| $size | $conc | $d | $f | $p | $o | $(ratio "$o" "$p") | $(ratio "$o" "$d") | $(ratio "$o" "$f") | $pe | $oe | $(ratio "$oe" "$pe") |"
  done; done
  echo
  echo "Relay RSS while relaying 4 KiB at concurrency 50 (peak): $(( $(cat "$WORK/peak50") / 1024 )) MiB"
  echo "Relay RSS growth accepting one 25 MiB message: $(( (peak25 - base) / 1024 )) MiB (from $(( base / 1024 )) MiB)"
  echo "Relay RSS with $queued_before messages queued for a dead destination: $(( rss_queued / 1024 )) MiB"
  echo "Restart with that spool: ready after ${recover_s}s (process start included) with $queued_after messages recovered"
  echo
  echo "Queue shape at the spool (test/bench/queue-memory.ts; process RSS includes tsx, ~80 MiB alone):"
  echo
  echo "| queued | RSS MiB (base) | live heap MiB | restart s | RSS after restart MiB |"
  echo "|---|---|---|---|---|"
  node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) { const r = JSON.parse(l); console.log(`| ${r.queued} | ${r.queuedRssMiB} (${r.baseRssMiB}) | ${r.queuedHeapMiB} | ${r.restartSeconds} | ${r.recoveredRssMiB} |`); }' "$OUT/queue-shape.jsonl"
  echo
  cat "$OUT/http-summary.md"
} | tee "$OUT/summary.md"

# production-shaped: its own ports, private Postfix instance and cgroups (dist was built above)
BENCH_BUILT=1 bash "$ROOT/test/bench/production.sh" $QUICK -o "$OUT" && cat "$OUT/production.md" >> "$OUT/summary.md"

# the operator last: it starts its own control plane and needs the machine to itself
for alg in rsa-sha256 ed25519-sha256; do
  node --import tsx "$ROOT/test/bench/operator-bench.ts" --algorithm $alg --out "$OUT" && cat "$OUT/operator-$alg.md" >> "$OUT/summary.md"
done
