# A: rsplib's registrar, our pool element, rsplib's terminal as the pool user.
# Every line comes back (our PE echoes user messages raw, as rsplib's echo service does, lines of
# 1 to 7 characters included), our PE answers the registrar's keep-alives for more than 30 s, and
# its re-registrations are accepted.
TITLE="rspregistrar + our PE + rspterminal"
TIMEOUT=90
ADDRESSES=3

vm() {
  rspregistrar_start pr "$(a 1)" 0x0a000001 -endpointkeepalivetransmissioninterval=3000
  wait_log pr 'registrar is ready' 15
  our pe pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a 3):7000" \
    --pool EchoPool
  wait_log pe 'serves on' 10
  pe=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe.log")
  hex=$(printf '%08x' "$pe")
  wait_log pr "Successfully registered EchoPool/\\\$$hex" 10
  short="a hi abc abcd abcde abcdef 1234567"
  # shellcheck disable=SC2086 # one argument per short line
  terminal pu1 13 "$(a 1):3863" EchoPool "first line from rspterminal" $short "last line, also long"
  has_log pu1 "from PE \\\$$hex> first line from rspterminal" || fail "rspterminal got no echo of its first line"
  for l in $short; do
    # (the line, then the end of the line or rspterminal's colour reset)
    has_log pu1 "from PE \\\$$hex> $l([^[:alnum:]]|\$)" || fail "rspterminal got no echo of the ${#l}-character line $l"
  done
  has_log pu1 "from PE \\\$$hex> last line, also long" || fail "rspterminal got no echo of its last line"
  # Keep-alives every 3 s for more than 30 s, each answered (no keep-alive timeout at rsplib).
  sleep 28
  has_log pr "Keep-alive timeout expired" && fail "rspregistrar: a keep-alive of our PE timed out"
  terminal pu2 5 "$(a 1):3863" EchoPool "a line after thirty seconds"
  has_log pu2 "from PE \\\$$hex> a line after thirty seconds" || fail "rspterminal got no echo after 30 s"
  # The re-registration (after 30 s with the rsplib profile) accepted.
  n=$(count_log pr "Successfully registered EchoPool/\\\$$hex")
  [ "$n" -ge 2 ] || fail "rspregistrar accepted $n registrations of our PE, wanted at least 2"
  has_log pr "Failed to register" && fail "rspregistrar refused a registration: $(grep -m1 -A1 'Failed to register' "$OUT/$S-pr.log")"
  r=$(sed -n 's/^registrations=\([0-9]*\) .*/\1/p' "$OUT/$S-pe.log" | tail -1)
  [ "${r:-0}" -ge 2 ] || fail "our PE counts ${r:-0} accepted registrations, wanted at least 2"
  stop pe TERM
  return 0
}

host() {
  # Both sides' view on the wire: tshark's dissector and our decoder.
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 8' 8 # keep-alive acks
  decoded lo.pcap 'ASAP_REGISTRATION pool=EchoPool .*user=SCTP:7000\[10\.0\.1\.3\]' 2
  decoded lo.pcap 'ASAP_REGISTRATION_RESPONSE pool=EchoPool pe=0x[0-9a-f]+$' 2
  not_decoded lo.pcap 'ASAP_REGISTRATION_RESPONSE .*(error|cause|reject)'
  decoded lo.pcap 'ASAP_ENDPOINT_KEEP_ALIVE server=0x0a000001 pool=EchoPool' 8
  decoded lo.pcap 'ASAP_ENDPOINT_KEEP_ALIVE_ACK pool=EchoPool' 8
  decoded lo.pcap 'ASAP_HANDLE_RESOLUTION_RESPONSE pool=EchoPool .*SCTP:7000\[10\.0\.1\.3\]' 2
  # Our PE's own capture holds the same exchange.
  decoded pe.pcap 'ASAP_ENDPOINT_KEEP_ALIVE_ACK pool=EchoPool' 8
  # The keep-alives span more than 30 s.
  local first last
  first=$(decode_of lo.pcap | grep -E 'ASAP_ENDPOINT_KEEP_ALIVE_ACK' | head -1 | awk '{ print int($2) }')
  last=$(decode_of lo.pcap | grep -E 'ASAP_ENDPOINT_KEEP_ALIVE_ACK' | tail -1 | awk '{ print int($2) }')
  ((last - first >= 30)) || fail "lo.pcap: keep-alives answered over $((last - first)) s only"
}
