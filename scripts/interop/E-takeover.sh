# E: takeover among three registrars, both ways at once (two separate sets of registrars):
#  1. ours (0x0e000001 on .1) with rsplib's 0x0e000002 (.2) and 0x0e000003 (.3): our PE (.4,
#     pool TakeOurs) is registered at ours; ours is killed; rsplib's 0x0e000002 takes our PE
#     over (ENDPOINT_KEEP_ALIVE with H=1), our PE registers with it and stays resolvable.
#  2. ours (0x0e000005 on .5) with rsplib's 0x0e000006 (.6) and 0x0e000007 (.7): rspserver
#     0x0e000088 (.8, pool TakeRsplib) is registered at 0x0e000006, which is killed; ours takes
#     the rspserver over, which then answers to it.
# (Three registrars each: with only two, rsplib never finishes a takeover, it waits for an
# INIT_TAKEOVER_ACK that no third registrar sends.)
TITLE="takeover: rsplib takes over our PE, ours takes over rspserver"
TIMEOUT=80
ADDRESSES=8

vm() {
  our pr1 registrar --profile rsplib --id 234881025 --listen "$(a 1):3863" --enrp "$(a 1):9901" \
    --peer "$(a 2):9901" --peer "$(a 3):9901"
  rspregistrar_start pr2 "$(a 2)" 0x0e000002 -peer="$(a 1):9901" -peer="$(a 3):9901"
  # The bystanders (0x0e000003, 0x0e000007) notice a silent peer later (9 s instead of 5 s), so
  # the takeover is always 0x0e000002's and ours, and the bystanders acknowledge it.
  rspregistrar_start pr3 "$(a 3)" 0x0e000003 -peer="$(a 1):9901" -peer="$(a 2):9901" \
    -peermaxtimelastheard=9000
  our pr5 registrar --profile rsplib --id 234881029 --listen "$(a 5):3863" --enrp "$(a 5):9901" \
    --peer "$(a 6):9901" --peer "$(a 7):9901"
  rspregistrar_start pr6 "$(a 6)" 0x0e000006 -peer="$(a 5):9901" -peer="$(a 7):9901"
  rspregistrar_start pr7 "$(a 7)" 0x0e000007 -peer="$(a 5):9901" -peer="$(a 6):9901" \
    -peermaxtimelastheard=9000
  for r in pr2 pr3 pr6 pr7; do wait_log $r 'registrar is ready' 15; done
  # Our PE registers with ours and trusts the other registrars of its set to take it over.
  our pe pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a 4):7000" \
    --pool TakeOurs --trust-registrar "$(a 2)" --trust-registrar "$(a 3)"
  start rs rspserver -echo -registrar="$(a 6):3863" -poolhandle=TakeRsplib -local="$(a 8):5000" \
    -identifier=0x0e000088 -loglevel=3 -logcolor=off
  wait_log pe 'serves on' 10
  pe=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe.log")
  hex=$(printf %08x "$pe")
  for r in pr2 pr3; do wait_log $r "Successfully registered TakeOurs/\\\$$hex" 10; done
  wait_log pr6 'Successfully registered TakeRsplib/\$0e000088' 10
  wait_log pr7 'Successfully registered TakeRsplib/\$0e000088' 10
  wait_log pr5 '^  TakeRsplib 234881160$' 10

  stop pr1 KILL
  stop pr6 KILL
  # rsplib notices the silence after about 10 s (max time last heard, then no response).
  wait_log pr2 'Takeover of peer \$0e000001 completed' 30
  has_log pr2 "Taking ownership of pool element \\\$$hex" || fail "rspregistrar 0x0e000002 did not take our PE"
  wait_log pr7 'Acknowledging peer \$0e000005.s takeover of \$0e000006' 20
  wait_log rs 'Home registrar is \$0e000005' 20
  # Our PE follows its new home registrar.
  wait_log pr2 "Registration request for TakeOurs/\\\$$hex" 15
  for r in 2 3; do
    timeout 15 pool_user --transport kernel-sctp --registrar "$(a $r):3863" --pool TakeOurs \
      --requests 2 --interval-ms 50 --timeout-ms 3000 >"$OUT/$S-pu$r.log" 2>&1 ||
      fail "our PE is not resolvable at $(a $r) after the takeover: $(tail -1 "$OUT/$S-pu$r.log")"
  done
  for r in 5 7; do
    timeout 15 pool_user --transport kernel-sctp --registrar "$(a $r):3863" --pool TakeRsplib \
      --requests 2 --interval-ms 50 --timeout-ms 3000 >"$OUT/$S-pu$r.log" 2>&1 ||
      fail "rspserver is not resolvable at $(a $r) after the takeover: $(tail -1 "$OUT/$S-pu$r.log")"
  done
  stop pe TERM
  stop pr5 TERM
}

host() {
  # 1: rsplib's takeover of our registrar, and our PE at its new home.
  decoded lo.pcap '10\.0\.5\.2:9901 > .*ENRP_INIT_TAKEOVER sender=0x0e000002 .*target=0x0e000001'
  decoded lo.pcap '10\.0\.5\.3:9901 > 10\.0\.5\.2:9901 .*ENRP_INIT_TAKEOVER_ACK'
  # (rsplib sends no TAKEOVER_SERVER; its HANDLE_UPDATE carries the new home.)
  decoded lo.pcap '10\.0\.5\.2:9901 > 10\.0\.5\.3:9901 .*ENRP_HANDLE_UPDATE .*pool=TakeOurs .*home=0x0e000002'
  decoded lo.pcap '10\.0\.5\.2:3863 > 10\.0\.5\.4:7000 .*ASAP_ENDPOINT_KEEP_ALIVE \[H\] server=0x0e000002 pool=TakeOurs'
  decoded lo.pcap '10\.0\.5\.4:7000 > 10\.0\.5\.2:3863 .*ASAP_REGISTRATION pool=TakeOurs .*home=0x0e000002'
  decoded lo.pcap '10\.0\.5\.2:3863 > 10\.0\.5\.4:7000 .*ASAP_REGISTRATION_RESPONSE pool=TakeOurs pe=0x[0-9a-f]+$'
  # 2: our takeover of rsplib's registrar, and rspserver at its new home.
  decoded lo.pcap '10\.0\.5\.5:9901 > .*ENRP_INIT_TAKEOVER sender=0x0e000005 .*target=0x0e000006'
  decoded lo.pcap '10\.0\.5\.7:9901 > 10\.0\.5\.5:9901 .*ENRP_INIT_TAKEOVER_ACK'
  decoded lo.pcap '10\.0\.5\.5:9901 > .*ENRP_TAKEOVER_SERVER'
  decoded lo.pcap '10\.0\.5\.5:3863 > .*ASAP_ENDPOINT_KEEP_ALIVE \[H\] server=0x0e000005 pool=TakeRsplib'
  decoded pr5.pcap 'ASAP_ENDPOINT_KEEP_ALIVE \[H\] server=0x0e000005 pool=TakeRsplib'
  wire lo.pcap 'sctp.data_payload_proto_id == 12 && enrp.message_type == 7' 2
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 7 && asap.h_bit == 1' 2
}
