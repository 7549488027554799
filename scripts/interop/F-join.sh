# F: joining a running ENRP group, both ways:
#  1. rsplib's 0x0f000001 (.1, with rspserver 0x0f000044 on .4 in RsplibPool) and 0x0f000002
#     (.2, with our PE on .5 in OurPool) run; our registrar 0x0f000003 (.3) joins them and
#     downloads their handle table.
#  2. Then our second PE (.6, OurPool) registers at ours, and rsplib's 0x0f000007 (.7) joins
#     ours only (-peer=ours) and gets every PE, ours included (ours accepts it as a peer by
#     --allow-peers: only configured or allowed hosts are trusted).
TITLE="join: our registrar joins two rspregistrars, an rspregistrar joins ours"
TIMEOUT=70
ADDRESSES=7

vm() {
  rspregistrar_start pr1 "$(a 1)" 0x0f000001 -peer="$(a 2):9901"
  rspregistrar_start pr2 "$(a 2)" 0x0f000002 -peer="$(a 1):9901"
  wait_log pr1 'registrar is ready' 15
  wait_log pr2 'registrar is ready' 15
  start rs rspserver -echo -registrar="$(a 1):3863" -poolhandle=RsplibPool -local="$(a 4):5000" \
    -identifier=0x0f000044 -loglevel=3 -logcolor=off
  our pe1 pool_element --profile rsplib --registrar "$(a 2):3863" --listen "$(a 5):7000" \
    --pool OurPool
  wait_log pe1 'serves on' 10
  pe1=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe1.log")
  wait_log pr1 "Successfully registered OurPool/\\\$$(printf %08x "$pe1")" 10
  wait_log pr2 'Successfully registered RsplibPool/\$0f000044' 10

  # 1: ours joins and downloads both PEs.
  our pr3 registrar --profile rsplib --id 251658243 --listen "$(a 3):3863" --enrp "$(a 3):9901" \
    --peer "$(a 1):9901" --peer "$(a 2):9901" --allow-peers "$(a 7)/32"
  wait_log pr3 '^  RsplibPool 251658308$' 15
  wait_log pr3 "^  OurPool $pe1\$" 5
  for p in RsplibPool OurPool; do
    timeout 15 pool_user --transport kernel-sctp --registrar "$(a 3):3863" --pool $p \
      --requests 2 --interval-ms 50 --timeout-ms 3000 >"$OUT/$S-pu-$p.log" 2>&1 ||
      fail "$p not resolvable at our registrar: $(tail -1 "$OUT/$S-pu-$p.log")"
  done

  # 2: an rspregistrar joins ours and gets every PE, among them one registered at ours.
  our pe2 pool_element --profile rsplib --registrar "$(a 3):3863" --listen "$(a 6):7000" \
    --pool OurPool
  wait_log pe2 'serves on' 10
  pe2=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe2.log")
  wait_log pr3 "^  OurPool $pe2\$" 10
  rspregistrar_start pr7 "$(a 7)" 0x0f000007 -peer="$(a 3):9901"
  wait_log pr7 'registrar is ready' 15
  # The table follows the request at once; the window allows for a VM that runs every
  # scenario at the same time.
  wait_log pr7 'Got HandleTableResponse from peer \$0f000003' 5
  for p in "$pe1" "$pe2"; do
    wait_log pr7 "Successfully registered OurPool/\\\$$(printf %08x "$p")" 5
  done
  wait_log pr7 'Successfully registered RsplibPool/\$0f000044' 5
  timeout 15 pool_user --transport kernel-sctp --registrar "$(a 7):3863" --pool OurPool \
    --requests 4 --interval-ms 50 --timeout-ms 3000 >"$OUT/$S-pu7.log" 2>&1 ||
    fail "OurPool not resolvable at the joined rspregistrar: $(tail -1 "$OUT/$S-pu7.log")"
  has_log pu7 "answered by pool element $pe2 " || fail "the joined rspregistrar did not lead to our PE registered at ours"
  stop pe1 TERM
  stop pe2 TERM
  stop pr3 TERM
}

host() {
  # 1: ours asks the rsplib registrars for their peers and handle tables, and gets them.
  decoded lo.pcap '10\.0\.6\.3:9901 > 10\.0\.6\.[12]:9901 .*ENRP_HANDLE_TABLE_REQUEST'
  decoded lo.pcap '10\.0\.6\.1:9901 > 10\.0\.6\.3:9901 .*ENRP_LIST_RESPONSE sender=0x0f000001 '
  decoded lo.pcap '10\.0\.6\.[12]:9901 > 10\.0\.6\.3:9901 .*ENRP_HANDLE_TABLE_RESPONSE sender=0x0f00000[12] .*pool=(RsplibPool|OurPool)'
  not_decoded lo.pcap '10\.0\.6\.3:9901 > .*ENRP_(HANDLE_TABLE|LIST)_RESPONSE \[R\]'
  # 2: the joining rspregistrar gets our handle table, with our PEs.
  decoded lo.pcap '10\.0\.6\.7:9901 > 10\.0\.6\.3:9901 .*ENRP_HANDLE_TABLE_REQUEST'
  decoded lo.pcap '10\.0\.6\.3:9901 > 10\.0\.6\.7:9901 .*ENRP_HANDLE_TABLE_RESPONSE sender=0x0f000003 .*pool=OurPool'
  decoded pr3.pcap 'ENRP_HANDLE_TABLE_RESPONSE sender=0x0f000003 .*pool=OurPool'
}
