# K: rsplib's CalcApp pool user (calcappclient, from rsplib-services) has its jobs done by our
# CalcApp pool elements (pool_element --service calcapp):
#  1. through our registrar 0x1b000001 (.1): two of our PEs (.3, .4) in CalcAppPool;
#  2. through rspregistrar 0x1b000002 (.2): one of our PEs (.5) in CalcAppPool2.
# calcappclient queues exponentially distributed jobs (mean 200,000 calculations, 0.2 s at our
# PEs' 1,000,000 calculations/s) every 0.5 s (mean); each is accepted, kept alive and completed
# (PPID 34, tshark's CalcApp dissector checks the wire).
TITLE="calcappclient + our CalcApp PEs, through our registrar and through rspregistrar"
TIMEOUT=75
ADDRESSES=5

vm() {
  our pr1 registrar --profile rsplib --id 452984833 --listen "$(a 1):3863"
  rspregistrar_start pr2 "$(a 2)" 0x1b000002
  wait_log pr1 'listens on' 10
  for k in 3 4; do
    our pe$k pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a $k):7000" \
      --pool CalcAppPool --service calcapp --capacity 1000000 --max-jobs 4
  done
  wait_log pr1 ': 2 pool elements$' 10
  wait_log pr2 'registrar is ready' 15
  our pe5 pool_element --profile rsplib --registrar "$(a 2):3863" --listen "$(a 5):7000" \
    --pool CalcAppPool2 --service calcapp --capacity 1000000 --max-jobs 4
  wait_log pe5 'registered at' 10
  wait_log pr2 'Successfully registered CalcAppPool2/' 10

  start c1 calcappclient -registrar="$(a 1):3863" -poolhandle=CalcAppPool -jobinterval=0.5 \
    -jobsize=200000 -vector="/tmp/$S-c1.vec" -scalar="/tmp/$S-c1.sca" -loglevel=3 -logcolor=off
  start c2 calcappclient -registrar="$(a 2):3863" -poolhandle=CalcAppPool2 -jobinterval=0.5 \
    -jobsize=200000 -vector="/tmp/$S-c2.vec" -scalar="/tmp/$S-c2.sca" -loglevel=3 -logcolor=off
  wait_log c1 '^Job #[0-9]+ completed:' 40 8
  wait_log c2 '^Job #[0-9]+ completed:' 40 8
  for k in 3 4 5; do
    has_log pe$k '^calcapp: .*(rejected|removed|session SessionId)' &&
      fail "pe$k: $(grep -m1 -E '^calcapp: .*(rejected|removed|session SessionId)' "$OUT/$S-pe$k.log")"
  done
  stop c1 KILL
  stop c2 KILL
  for c in c1 c2; do
    has_log $c '^Job #[0-9]+ rejected' && fail "$c: a job was rejected by a PE with room"
    has_log $c 'Timeout -> Failover' && fail "$c: a keep-alive or request went unanswered"
  done
  # Our PEs' lines: every job accepted and completed (the last may still run).
  n=$(($(count_log pe3 '^calcapp: job .* completed in') + $(count_log pe4 '^calcapp: job .* completed in')))
  [ "$n" -ge 8 ] || fail "our PEs in CalcAppPool completed $n jobs, wanted at least 8"
  [ "$(count_log pe3 '^calcapp: job .* completed in')" -ge 1 ] ||
    fail "the pool's policy sent no job to pe3"
  [ "$(count_log pe4 '^calcapp: job .* completed in')" -ge 1 ] ||
    fail "the pool's policy sent no job to pe4"
  n=$(count_log pe5 '^calcapp: job .* completed in')
  [ "$n" -ge 8 ] || fail "our PE in CalcAppPool2 (through rspregistrar) completed $n jobs, wanted at least 8"
  for k in 3 4 5; do
    stop pe$k TERM
    has_log pe$k '^calcapp: accepted=[1-9][0-9]* .* completed=[1-9]' ||
      fail "pe$k: no summary of accepted and completed jobs"
  done
  stop pr1 TERM
  return 0
}

host() {
  # calcappclient's requests and our PEs' accepts and completions, as tshark's CalcApp dissector
  # reads them.
  wire lo.pcap 'sctp.data_payload_proto_id == 34 && calcappprotocol.message_type == 1' 16
  wire lo.pcap 'sctp.data_payload_proto_id == 34 && calcappprotocol.message_type == 2' 16
  wire lo.pcap 'sctp.data_payload_proto_id == 34 && calcappprotocol.message_type == 5 && calcappprotocol.message_completed == calcappprotocol.message_jobsize' 16
  decoded lo.pcap 'ASAP_REGISTRATION pool=CalcAppPool ' 2
  decoded lo.pcap 'ASAP_REGISTRATION pool=CalcAppPool2 '
  decoded lo.pcap 'ASAP_HANDLE_RESOLUTION_RESPONSE pool=CalcAppPool ' 8
  decoded lo.pcap 'ASAP_HANDLE_RESOLUTION_RESPONSE pool=CalcAppPool2 ' 8
}
