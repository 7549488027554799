# J: our pool user's session between two rsplib pool elements (rspserver -echo, at rspregistrar):
# generated messages of 1 to 3000 bytes on one session, every echo checked byte for byte; the
# rspserver the session is on is killed mid-run; the session fails over to the other one (the
# dead one reported with ENDPOINT_UNREACHABLE, the unanswered messages sent again) and every
# answer comes back.
TITLE="session failover: our pool user between two rspserver -echo"
TIMEOUT=60
ADDRESSES=5
# rspregistrar 0x0a0a0001 on .1, rspservers 0x0a0a0044 = 168427588 on .4, 0x0a0a0055 =
# 168427605 on .5.

vm() {
  rspregistrar_start pr "$(a 1)" 0x0a0a0001
  wait_log pr 'registrar is ready' 15
  start rs4 rspserver -echo -registrar="$(a 1):3863" -poolhandle=SessionPool -local="$(a 4):5000" \
    -identifier=0x0a0a0044 -loglevel=3 -logcolor=off
  start rs5 rspserver -echo -registrar="$(a 1):3863" -poolhandle=SessionPool -local="$(a 5):5000" \
    -identifier=0x0a0a0055 -loglevel=3 -logcolor=off
  wait_log pr 'Successfully registered SessionPool/\$0a0a0044' 10
  wait_log pr 'Successfully registered SessionPool/\$0a0a0055' 10
  # 300 messages, one every 25 ms; the PE the session is on is killed once about 100 are served.
  start pu pool_user --transport kernel-sctp --registrar "$(a 1):3863" --pool SessionPool \
    --sizes 1-3000 --requests 300 --interval-ms 25 --timeout-ms 15000
  wait_log pu 'connected to pool element' 10
  wait_log pu '^served [0-9]+ of' 15 2
  first=$(sed -n 's/.*: connected to pool element \([0-9]*\).*/\1/p' "$OUT/$S-pu.log" | head -1)
  case "$first" in
    168427588) stop rs4 KILL; other=168427605 ;;
    168427605) stop rs5 KILL; other=168427588 ;;
    *) fail "the session is on no rspserver ($first)" ;;
  esac
  wait_log pu '^pool_user: ' 30
  has_log pu 'lost=0$' || fail "our pool user: $(tail -1 "$OUT/$S-pu.log")"
  has_log pu 'wrong: 0, unexpected: 0$' || fail "our pool user: $(grep -m1 'checked' "$OUT/$S-pu.log")"
  has_log pu "failover from pool element $first " || fail "the session did not leave the killed rspserver"
  has_log pu "connected to pool element $other \\(failover\\)" ||
    fail "the session did not fail over to the other rspserver"
  wait_log pr 'Got EndpointUnreachable for pool element' 5
  stop rs4 INT
  stop rs5 INT
  return 0
}

host() {
  # The user's report of the dead PE, and user data (PPID 0) both ways.
  decoded lo.pcap '> 10\.0\.10\.1:3863 .*ASAP_ENDPOINT_UNREACHABLE pool=SessionPool'
  wire lo.pcap 'sctp.data_payload_proto_id == 0 && ip.dst == 10.0.10.4' 10
  wire lo.pcap 'sctp.data_payload_proto_id == 0 && ip.dst == 10.0.10.5' 10
}
