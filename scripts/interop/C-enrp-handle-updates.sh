# C: ENRP between our registrar and rsplib's, one pool: a PE registered at either one is
# resolvable at both (HANDLE_UPDATE both ways), their handlespace checksums agree, and neither
# audits the other (no handle table requests once both are up).
TITLE="ENRP: our registrar and rspregistrar share one pool"
TIMEOUT=60
ADDRESSES=4
# rspregistrar 0x0c000001 on .1, our registrar 0x0c000002 = 201326594 on .2, our PE on .3 (at
# rsplib's registrar), rspserver 0x0c000044 = 201326660 on .4 (at ours).

vm() {
  rspregistrar_start pr1 "$(a 1)" 0x0c000001 -peer="$(a 2):9901"
  our pr2 registrar --profile rsplib --id 201326594 --listen "$(a 2):3863" --enrp "$(a 2):9901" \
    --peer "$(a 1):9901"
  wait_log pr1 'registrar is ready' 15
  wait_log pr2 'listens on' 10
  our pe pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a 3):7000" \
    --pool EchoPool
  wait_log pe 'serves on' 10
  pe=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe.log")
  hex=$(printf '%08x' "$pe")
  start rs rspserver -echo -registrar="$(a 2):3863" -poolhandle=EchoPool -local="$(a 4):5000" \
    -identifier=0x0c000044 -loglevel=3 -logcolor=off
  # Each registrar has both PEs: its own and the other's (by ENRP_HANDLE_UPDATE).
  wait_log pr1 "Successfully registered EchoPool/\\\$$hex" 10
  wait_log pr1 'Successfully registered EchoPool/\$0c000044' 10
  wait_log pr2 "^  EchoPool $pe\$" 10
  wait_log pr2 '^  EchoPool 201326660$' 10
  sleep 1
  # Both PEs answer our pool user through either registrar.
  for r in 1 2; do
    timeout 20 pool_user --transport kernel-sctp --registrar "$(a $r):3863" --pool EchoPool \
      --requests 6 --interval-ms 50 --timeout-ms 3000 >"$OUT/$S-pu$r.log" 2>&1 ||
      fail "our pool user through registrar $(a $r): $(tail -1 "$OUT/$S-pu$r.log")"
    has_log pu$r "answered by pool element $pe " || fail "registrar $(a $r) did not lead to our PE"
    has_log pu$r 'answered by pool element 201326660 ' || fail "registrar $(a $r) did not lead to rspserver"
  done
  # Let a few PRESENCEs (with the checksums) go by, then nothing may have been audited.
  sleep 6
  # (rsplib compares each PRESENCE's checksum with its own of the sender's PEs.)
  has_log pr1 'synchronization with peer .* is necessary' &&
    fail "rspregistrar: $(grep -m1 -A1 'synchronization with peer .* is necessary' "$OUT/$S-pr1.log" | tr '\n' ' ')"
  has_log pr1 'HandleUpdate for a PE owned by myself|invalid action' && fail "rspregistrar refused a handle update"
  stop pe TERM
  stop pr2 TERM
}

host() {
  # HANDLE_UPDATE both ways, on the ENRP port with PPID 12 (tshark), decoded.
  wire lo.pcap 'sctp.data_payload_proto_id == 12 && enrp.message_type == 4 && ip.src == 10.0.3.1 && ip.dst == 10.0.3.2'
  wire lo.pcap 'sctp.data_payload_proto_id == 12 && enrp.message_type == 4 && ip.src == 10.0.3.2 && ip.dst == 10.0.3.1'
  decoded lo.pcap '10\.0\.3\.1:9901 > 10\.0\.3\.2:9901 .*ENRP_HANDLE_UPDATE .*pool=EchoPool'
  decoded lo.pcap '10\.0\.3\.2:9901 > 10\.0\.3\.1:9901 .*ENRP_HANDLE_UPDATE .*pool=EchoPool .*PE 0x0c000044'
  decoded pr2.pcap 'ENRP_HANDLE_UPDATE'
  # While both PEs were registered, each side's PRESENCEs carried the checksum of the PE it owns
  # (0xffff is none; both PEs deregister at the end), and the other side's copy agreed with it
  # (rspregistrar logged no synchronization, and there is no audit):
  local r n
  for r in 1 2; do
    n=$(decode_of lo.pcap | grep -E "10\.0\.3\.$r:9901 > .*ENRP_PRESENCE" | grep -vc 'checksum=0xffff ' || true)
    ((n > 0)) || fail "lo.pcap: no PRESENCE of 10.0.3.$r carries a checksum of a PE"
  done
  # no audit: no handle table request once the handle updates began.
  local n
  n=$(decode_of lo.pcap | sed -n '/ENRP_HANDLE_UPDATE/,$p' | grep -c ENRP_HANDLE_TABLE_REQUEST || true)
  ((n == 0)) || fail "lo.pcap: $n ENRP_HANDLE_TABLE_REQUESTs after the first handle update (an audit)"
}
