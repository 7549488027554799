# B: our registrar with rsplib's pool element (rspserver -echo): our pool user and rsplib's
# terminal both reach it through our registrar.
TITLE="our registrar + rspserver -echo + our pool user and rspterminal"
TIMEOUT=50
ADDRESSES=4
# Our registrar is 0x0b000001 (its --id is decimal), the rspserver 0x0b000044 = 184549444.

vm() {
  our pr registrar --profile rsplib --id 184549377 --listen "$(a 1):3863"
  wait_log pr 'listens on' 10
  start pe rspserver -echo -registrar="$(a 1):3863" -poolhandle=EchoPool -local="$(a 4):5000" \
    -identifier=0x0b000044 -loglevel=4 -logcolor=off
  wait_log pr '^  EchoPool 184549444$' 10
  timeout 20 pool_user --transport kernel-sctp --registrar "$(a 1):3863" --pool EchoPool \
    --requests 5 --interval-ms 100 --timeout-ms 3000 >"$OUT/$S-pu.log" 2>&1 ||
    fail "our pool user: $(tail -1 "$OUT/$S-pu.log")"
  n=$(count_log pu 'answered by pool element 184549444 \(request [0-9]\)')
  [ "$n" = 5 ] || fail "our pool user got $n of 5 echoes from rspserver"
  terminal pt 5 "$(a 1):3863" EchoPool "a line from rspterminal through our registrar"
  has_log pt 'from PE \$0b000044> a line from rspterminal through our registrar' ||
    fail "rspterminal got no echo from rspserver through our registrar"
  has_log pe 'Home registrar is \$0b000001' || fail "rspserver did not take our registrar as its home"
  # rspserver's own lines (not its log's) are buffered until it ends.
  stop pe INT
  n=$(count_log pe 'Echo [0-9]+ bytes')
  [ "$n" -ge 6 ] || fail "rspserver logged $n echoes, wanted 6"
  stop pr TERM
}

host() {
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 1 && ip.dst == 10.0.2.1'
  decoded lo.pcap 'ASAP_REGISTRATION pool=EchoPool PE 0x0b000044 .*user=SCTP:5000\[10\.0\.2\.4\] data\+control'
  decoded lo.pcap 'ASAP_REGISTRATION_RESPONSE pool=EchoPool pe=0x0b000044$'
  decoded lo.pcap 'ASAP_HANDLE_RESOLUTION_RESPONSE pool=EchoPool .*PE 0x0b000044 home=0x0b000001' 2
  decoded pr.pcap 'ASAP_REGISTRATION pool=EchoPool PE 0x0b000044'
  decoded pr.pcap 'ASAP_HANDLE_RESOLUTION pool=EchoPool' 2
}
