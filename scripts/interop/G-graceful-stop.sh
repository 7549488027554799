# G: graceful stop: our PE, stopped with SIGTERM, deregisters at rspregistrar; rspserver, stopped
# with SIGINT, deregisters at ours (both before any keep-alive could have failed).
TITLE="graceful stop: our PE deregisters at rspregistrar, rspserver at ours"
TIMEOUT=45
ADDRESSES=4
# rspregistrar 0x10000001 on .1 with our PE on .3 (GracePool); our registrar 0x10000002 =
# 268435458 on .2 with rspserver 0x10000044 = 268435524 on .4 (GracePool2).

vm() {
  rspregistrar_start pr1 "$(a 1)" 0x10000001
  our pr2 registrar --profile rsplib --id 268435458 --listen "$(a 2):3863"
  wait_log pr1 'registrar is ready' 15
  our pe pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a 3):7000" \
    --pool GracePool
  start rs rspserver -echo -registrar="$(a 2):3863" -poolhandle=GracePool2 -local="$(a 4):5000" \
    -identifier=0x10000044 -loglevel=3 -logcolor=off
  wait_log pe 'serves on' 10
  hex=$(printf %08x "$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe.log")")
  wait_log pr1 "Successfully registered GracePool/\\\$$hex" 10
  wait_log pr2 '^  GracePool2 268435524$' 10

  stop pe TERM
  wait_log pr1 "Deregistration request for GracePool/\\\$$hex" 3
  wait_log pr1 'Deregistration successfully completed' 2
  stop rs INT
  # Our registrar prints its PEs every second when they change: none left.
  wait_log pr2 ': 0 pool elements$' 3 2
  stop pr2 TERM
}

host() {
  decoded lo.pcap '10\.0\.7\.3:7000 > 10\.0\.7\.1:3863 .*ASAP_DEREGISTRATION pool=GracePool pe='
  decoded lo.pcap '10\.0\.7\.1:3863 > 10\.0\.7\.3:7000 .*ASAP_DEREGISTRATION_RESPONSE pool=GracePool pe=0x[0-9a-f]+$'
  decoded lo.pcap '> 10\.0\.7\.2:3863 .*ASAP_DEREGISTRATION pool=GracePool2 pe=0x10000044'
  decoded lo.pcap '10\.0\.7\.2:3863 > .*ASAP_DEREGISTRATION_RESPONSE pool=GracePool2 pe=0x10000044$'
  decoded pr2.pcap 'ASAP_DEREGISTRATION_RESPONSE pool=GracePool2 pe=0x10000044$'
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 4' 2
}
