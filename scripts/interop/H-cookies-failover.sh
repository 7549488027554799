# H: failover with cookies, both ways at once:
#  1. rspterminal, through our registrar 0x11000001 (.1), talks to one of our two PEs (.3, .4,
#     CookiePool, a cookie with every answer); that PE is killed; rspterminal fails over to the
#     other PE with a COOKIE_ECHO, which our PE accepts, and its lines are echoed from there.
#  2. Our pool user, through rspregistrar 0x11000002 (.2), uses two rspservers (0x11000055 on
#     .5, 0x11000066 on .6, CookiePool2); one is killed; the user fails over to the other and
#     reports the dead one to the registrar (ENDPOINT_UNREACHABLE).
TITLE="failover: rspterminal between our PEs (cookies), our pool user between rspservers"
TIMEOUT=50
ADDRESSES=6

vm() {
  our pr1 registrar --profile rsplib --id 285212673 --listen "$(a 1):3863"
  rspregistrar_start pr2 "$(a 2)" 0x11000002
  wait_log pr1 'listens on' 10
  for k in 3 4; do
    our pe$k pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a $k):7000" \
      --pool CookiePool --cookie-every 1
  done
  start rs5 rspserver -echo -registrar="$(a 2):3863" -poolhandle=CookiePool2 -local="$(a 5):5000" \
    -identifier=0x11000055 -loglevel=3 -logcolor=off
  start rs6 rspserver -echo -registrar="$(a 2):3863" -poolhandle=CookiePool2 -local="$(a 6):5000" \
    -identifier=0x11000066 -loglevel=3 -logcolor=off
  wait_log pr1 ': 2 pool elements$' 10
  wait_log pr2 'registrar is ready' 15
  wait_log pr2 'Successfully registered CookiePool2/\$11000055' 10
  wait_log pr2 'Successfully registered CookiePool2/\$11000066' 10

  # 1: rspterminal sends a line at 1 s, 6 s and 8 s; the PE that answered the first is killed.
  start pt sh -c "(sleep 1; echo 'first line before the failover'; sleep 5;
    echo 'second line after the failover'; sleep 2; echo 'third line after the failover'; sleep 4) |
    timeout 13 rspterminal -registrar=$(a 1):3863 -poolhandle=CookiePool -loglevel=3 -logcolor=off"
  wait_log pt 'first line before the failover' 5
  first=$(sed -n 's/.*from PE \$\([0-9a-f]*\)> first line.*/\1/p' "$OUT/$S-pt.log" | head -1)
  for k in 3 4; do
    id=$(printf %08x "$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe$k.log")")
    if [ "$id" = "$first" ]; then stop pe$k KILL; else other=$id survivor=$k; fi
  done
  [ -n "$other" ] || fail "rspterminal's first answer came from no PE of ours ($first)"
  echo "$survivor" >"$OUT/$S-survivor"

  # 2: our pool user, 24 requests over about 5 s; one rspserver is killed after 2 s.
  start pu pool_user --transport kernel-sctp --registrar "$(a 2):3863" --pool CookiePool2 \
    --requests 24 --interval-ms 200 --timeout-ms 4000
  wait_log pu 'request 8:' 10
  stop rs5 KILL
  wait_log pu '^pool_user: ' 25
  has_log pu 'lost=0$' || fail "our pool user: $(tail -1 "$OUT/$S-pu.log")"
  # (The killed rspserver's association ends at once, so no request is in flight to it: the user
  # reports it and sends to the other one, whose answers are no failover.)
  has_log pu 'answered by pool element 285212757 ' || fail "rspserver 0x11000055 served nothing before it was killed"
  n=$(sed -n '/request 9:/,$p' "$OUT/$S-pu.log" | grep -c 'answered by pool element 285212774 ')
  [ "$n" = 16 ] || fail "after the kill, $n of 16 requests were answered by the live rspserver"
  wait_log pr2 'Got EndpointUnreachable for pool element \$11000055' 5

  wait_log pt "from PE \\\$$other> second line after the failover" 10
  wait_log pt "from PE \\\$$other> third line after the failover" 5
  stop pe3 TERM
  stop pe4 TERM
  stop pr1 TERM
}

host() {
  # 1: our PEs hand out cookies, rspterminal echoes one to the PE it fails over to.
  local survivor
  survivor=$(cat "$OUT/$S-survivor")
  decoded lo.pcap '10\.0\.8\.[34]:7000 > .*ASAP_COOKIE '
  decoded lo.pcap "> 10\.0\.8\.$survivor:7000 .*ASAP_COOKIE_ECHO"
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 12'
  # 2: the pool user's report.
  decoded lo.pcap '> 10\.0\.8\.2:3863 .*ASAP_ENDPOINT_UNREACHABLE pool=CookiePool2 pe=0x11000055'
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 9'
}
