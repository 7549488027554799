# D: a mixed pool at each registrar: at rsplib's registrar and at ours, one of our PEs and one
# rspserver share a pool, and both serve users (ours and rspterminal).
TITLE="mixed pools: our PE and rspserver at rspregistrar and at our registrar"
TIMEOUT=50
ADDRESSES=6
# rspregistrar 0x0d000001 on .1 with our PE on .3 and rspserver 0x0d000044 = 218103876 on .4;
# our registrar 0x0d000002 = 218103810 on .2 with our PE on .5 and rspserver 0x0d000066 =
# 218103910 on .6.

vm() {
  rspregistrar_start pr1 "$(a 1)" 0x0d000001
  our pr2 registrar --profile rsplib --id 218103810 --listen "$(a 2):3863"
  wait_log pr1 'registrar is ready' 15
  our pe1 pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a 3):7000" \
    --pool MixedPool
  our pe2 pool_element --profile rsplib --registrar "$(a 2):3863" --listen "$(a 5):7000" \
    --pool MixedPool
  start rs1 rspserver -echo -registrar="$(a 1):3863" -poolhandle=MixedPool -local="$(a 4):5000" \
    -identifier=0x0d000044 -loglevel=3 -logcolor=off
  start rs2 rspserver -echo -registrar="$(a 2):3863" -poolhandle=MixedPool -local="$(a 6):5000" \
    -identifier=0x0d000066 -loglevel=3 -logcolor=off
  wait_log pe1 'serves on' 10
  wait_log pe2 'serves on' 10
  pe1=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe1.log")
  pe2=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe2.log")
  wait_log pr1 "Successfully registered MixedPool/\\\$$(printf %08x "$pe1")" 10
  wait_log pr1 'Successfully registered MixedPool/\$0d000044' 10
  wait_log pr2 "^  MixedPool $pe2\$" 10
  wait_log pr2 '^  MixedPool 218103910$' 10
  # Our pool user gets answers from both PEs of each pool.
  for r in 1 2; do
    timeout 20 pool_user --transport kernel-sctp --registrar "$(a $r):3863" --pool MixedPool \
      --requests 6 --interval-ms 50 --timeout-ms 3000 >"$OUT/$S-pu$r.log" 2>&1 ||
      fail "our pool user at registrar $(a $r): $(tail -1 "$OUT/$S-pu$r.log")"
  done
  has_log pu1 "answered by pool element $pe1 " || fail "our PE at rspregistrar served no request"
  has_log pu1 'answered by pool element 218103876 ' || fail "rspserver at rspregistrar served no request"
  has_log pu2 "answered by pool element $pe2 " || fail "our PE at our registrar served no request"
  has_log pu2 'answered by pool element 218103910 ' || fail "rspserver at our registrar served no request"
  # rspterminal through each registrar is served too (by either PE).
  for r in 1 2; do
    terminal pt$r 4 "$(a $r):3863" MixedPool "rspterminal in the mixed pool $r"
    has_log pt$r "from PE .*> rspterminal in the mixed pool $r" || fail "rspterminal got no echo through $(a $r)"
  done
  stop pe1 TERM
  stop pe2 TERM
  stop pr2 TERM
}

host() {
  # Both kinds registered in one pool: data+control (rsplib) next to ours.
  decoded lo.pcap '10\.0\.4\.1:3863 > .*ASAP_REGISTRATION_RESPONSE pool=MixedPool pe=0x0d000044$'
  decoded lo.pcap '10\.0\.4\.2:3863 > .*ASAP_REGISTRATION_RESPONSE pool=MixedPool pe=0x0d000066$'
  decoded lo.pcap '10\.0\.4\.1:3863 > 10\.0\.4\.3:7000 .*ASAP_REGISTRATION_RESPONSE pool=MixedPool pe=0x[0-9a-f]+$'
  decoded lo.pcap '10\.0\.4\.2:3863 > 10\.0\.4\.5:7000 .*ASAP_REGISTRATION_RESPONSE pool=MixedPool pe=0x[0-9a-f]+$'
  not_decoded lo.pcap 'ASAP_REGISTRATION_RESPONSE .*error'
  decoded lo.pcap 'ASAP_HANDLE_RESOLUTION_RESPONSE pool=MixedPool .*elements=2' 2
  decoded pr2.pcap 'ASAP_HANDLE_RESOLUTION_RESPONSE pool=MixedPool .*elements=2'
}
