# scripts/interop/prelude.sh: what every interop scenario shares. Sourced by busybox sh in the VM
# (before a scenario's `vm` function runs) and by bash on the host (before its `host` function
# runs, with the host's helpers from scripts/test-interop); keep it POSIX sh.
#
# In the VM, scenario S (a letter) runs with:
#   NET      its own /24: the VM's lo has 10.0.NET.1 ... 10.0.NET.K (/32 each; K is the scenario's
#            ADDRESSES, default 8); rsplib refuses loopback-scope addresses, so every node
#            listens on one of these
#   OUT      where its logs and captures go ($SCTP_VM_OUT; names start with "S-")
# and these helpers:
#   a K                  the address 10.0.NET.K
#   start NAME CMD...    runs CMD in the background, output to $OUT/S-NAME.log
#   stop NAME [SIGNAL]   signals it (default TERM) and waits for it (at most 5 s, then KILL)
#   running NAME         true while it runs
#   wait_exit NAME SECONDS   waits until it has ended by itself (e.g. after --seconds, with its
#                        capture written), or fails the scenario
#   wait_log NAME ERE SECONDS [COUNT]   waits until NAME's log has COUNT (default 1) lines matching
#                        ERE, or fails the scenario
#   has_log NAME ERE     whether NAME's log has a line matching ERE
#   count_log NAME ERE   how many lines of NAME's log match ERE
#   fail REASON          ends the scenario as failed (the reason is its result line)
#   errors               the first error line in the scenario's logs (wait_log adds it to its
#                        failure)
#   terminal NAME SECONDS REGISTRAR POOL LINE...   rspterminal: sends each LINE a second apart
#                        (rspterminal reads stdin in chunks; it does not end on EOF: SECONDS ends it)
#   rspregistrar_start NAME ADDR ID [FLAG...]      rsplib's registrar on ADDR:3863 (ASAP) and
#                        ADDR:9901 (ENRP), no multicast, with log level 5 (registrations and
#                        handle updates are logged); wait for "registrar is ready" yourself
#                        (mentor discovery takes about 5 s)
#   our NAME PROGRAM FLAG...   one of our examples over kernel SCTP, its capture in $OUT/S-NAME.pcap

a() { echo "10.0.$NET.$1"; }

fail() {
  echo "$*" >"/tmp/$S.result"
  exit 1
}

start() {
  _n=$1
  shift
  "$@" >"$OUT/$S-$_n.log" 2>&1 &
  echo "$_n $!" >>"/tmp/$S.pids"
}

pid_of() { awk -v n="$1" '$1 == n { p = $2 } END { print p }' "/tmp/$S.pids"; }

running() {
  _p=$(pid_of "$1")
  [ -n "$_p" ] && kill -0 "$_p" 2>/dev/null
}

stop() {
  _p=$(pid_of "$1")
  [ -n "$_p" ] || fail "stop $1: no such process"
  kill "-${2:-TERM}" "$_p" 2>/dev/null
  _i=0
  while kill -0 "$_p" 2>/dev/null && [ $_i -lt 50 ]; do
    sleep 0.1
    _i=$((_i + 1))
  done
  kill -KILL "$_p" 2>/dev/null
  wait "$_p" 2>/dev/null
  return 0
}

wait_exit() {
  _i=0
  while running "$1"; do
    [ $_i -ge $(($2 * 10)) ] && fail "$1 did not end within $2 s"
    sleep 0.1
    _i=$((_i + 1))
  done
}

# errors: the first error line in this scenario's logs, as "; NAME: LINE" (a hint for a failure).
errors() {
  for _f in "$OUT/$S-"*.log; do
    _e=$(grep -m1 -E 'Error: |Failed to|failed: |refused|panicked' "$_f" 2>/dev/null) || continue
    _f=${_f##*/$S-}
    echo "; ${_f%.log}: $_e"
    return
  done
}

count_log() { grep -cE -- "$2" "$OUT/$S-$1.log" 2>/dev/null || true; }
has_log() { grep -qE -- "$2" "$OUT/$S-$1.log" 2>/dev/null; }

wait_log() {
  _t=$(($3 * 10))
  _i=0
  while [ "$(count_log "$1" "$2")" -lt "${4:-1}" ]; do
    [ $_i -ge "$_t" ] && fail "$1 did not log /$2/ (x${4:-1}) within $3 s$(errors)"
    sleep 0.1
    _i=$((_i + 1))
  done
}

terminal() {
  _n=$1 _s=$2 _r=$3 _p=$4
  shift 4
  (
    for _l in "$@"; do
      sleep 1
      echo "$_l"
    done
    sleep "$_s"
  ) | timeout "$_s" rspterminal -registrar="$_r" -poolhandle="$_p" -loglevel=3 -logcolor=off \
    >"$OUT/$S-$_n.log" 2>&1
  return 0
}

rspregistrar_start() {
  _n=$1 _a=$2 _id=$3
  shift 3
  start "$_n" rspregistrar -asap="$_a:3863" -enrp="$_a:9901" -asapannounce=off -enrpannounce=off \
    -identifier="$_id" -loglevel=5 -logcolor=off "$@"
}

our() {
  _n=$1 _e=$2
  shift 2
  start "$_n" "$_e" --transport kernel-sctp --pcap "$OUT/$S-$_n.pcap" "$@"
}
