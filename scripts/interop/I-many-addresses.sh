# I: an rspserver with 24 addresses registers at our registrar, and is reachable through it.
TITLE="rspserver with 24 addresses at our registrar"
TIMEOUT=40
ADDRESSES=28
# It runs alone (no other scenario at the same time): the VM then has only its addresses.
ALONE=yes
# Our registrar 0x12000001 = 301989889 on .1, rspserver 0x12000044 = 301989956 on .5 ... .28.

vm() {
  our pr registrar --profile rsplib --id 301989889 --listen "$(a 1):3863"
  wait_log pr 'listens on' 10
  addrs="$(a 5):5000"
  for k in $(seq 6 28); do addrs="$addrs,$(a $k)"; done
  start rs rspserver -echo -registrar="$(a 1):3863" -poolhandle=ManyPool -local="$addrs" \
    -identifier=0x12000044 -loglevel=3 -logcolor=off
  wait_log pr '^  ManyPool 301989956$' 10
  timeout 15 pool_user --transport kernel-sctp --registrar "$(a 1):3863" --pool ManyPool \
    --requests 3 --interval-ms 50 --timeout-ms 3000 >"$OUT/$S-pu.log" 2>&1 ||
    fail "our pool user: $(tail -1 "$OUT/$S-pu.log")"
  has_log pu 'answered by pool element 301989956 ' || fail "rspserver did not answer"
  stop pr TERM
}

host() {
  local line n
  decoded pr.pcap 'ASAP_REGISTRATION pool=ManyPool PE 0x12000044 '
  line=$(decode_of pr.pcap | grep -E 'ASAP_REGISTRATION pool=ManyPool PE 0x12000044 ' | head -1)
  n=$(printf '%s\n' "$line" | grep -oE 'user=SCTP:5000\[[0-9.,]*\]' | grep -oE '10\.0\.9\.[0-9]+' | sort -u | wc -l)
  ((n == 24)) || fail "pr.pcap: rspserver's registration lists $n addresses, wanted 24"
  decoded pr.pcap 'ASAP_REGISTRATION_RESPONSE pool=ManyPool pe=0x12000044$'
  decoded lo.pcap 'ASAP_HANDLE_RESOLUTION_RESPONSE pool=ManyPool .*PE 0x12000044 '
}
