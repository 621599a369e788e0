#!/usr/bin/env bash
# Kamailio as a stateful proxy, loaded with the same SIPp scenario as `call_load`
# (benches/sipp/uac_load.xml, hold 300 ms) against a SIPp phone (-sn uas).
# Usage: benches/kamailio/run.sh RATE [CALLS]. Needs Debian's kamailio and sip-tester.
set -euo pipefail
rate=${1:?rate per second}
calls=${2:-$((rate * 10))}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
proxy_port=15060
phone_port=15070
sed -e "s/PROXY_PORT/$proxy_port/" -e "s/PHONE_PORT/$phone_port/" "$here/kamailio.cfg" > "$work/kamailio.cfg"
kamailio -f "$work/kamailio.cfg" -m 512 -M 16 -DD -E -P "$work/kamailio.pid" -Y "$work" 2> "$work/kamailio.log" &
sipp -sn uas -p "$phone_port" -t u1 -i 127.0.0.1 -m "$calls" -nostdin -timeout 600 > /dev/null 2>&1 &
sleep 1
sed -e "s/DID/02161234567/" -e "s/HOLD_MS/300/" "$here/../sipp/uac_load.xml" > "$work/load.xml"
cd "$work"
started=$(date +%s.%N)
sipp -sf load.xml -t u1 -i 127.0.0.1 -p 15080 -r "$rate" -m "$calls" -nostdin -timeout 600 \
    -trace_rtt -rtt_freq 1 -trace_stat -trace_err "127.0.0.1:$proxy_port" > /dev/null 2>&1 || true
ended=$(date +%s.%N)
stat=$(ls ./*_.csv | head -1)
# SIPp's statistics: the last row's successful and failed call counts.
header=$(head -1 "$stat")
last=$(tail -1 "$stat")
column() { echo "$header" | tr ";" "\n" | grep -n -F -x "$1" | cut -d: -f1; }
ok=$(echo "$last" | cut -d';' -f"$(column "SuccessfulCall(C)")")
failed=$(echo "$last" | cut -d';' -f"$(column "FailedCall(C)")")
grep -h -v 'response_time' ./*_rtt.csv | awk -F';' '{print $2}' | sort -n > rtt.txt
n=$(wc -l < rtt.txt)
p50=$(sed -n "$(( (n + 1) / 2 ))p" rtt.txt)
p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" rtt.txt)
echo "kamailio rate=$rate/s calls=$calls: $(echo "$calls / ($ended - $started)" | bc -l | cut -c1-6) calls/s, successful=$ok failed=$failed, setup p50=${p50} ms p99=${p99} ms"
