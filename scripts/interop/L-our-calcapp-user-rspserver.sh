# L: our CalcApp pool user (pool_user --calcapp) has its jobs done by rsplib's CalcApp pool
# elements (rspserver -calcapp):
#  1. through our registrar 0x1c000001 (.1): rspserver 0x1c000033 (.3) in CalcAppPool;
#  2. through rspregistrar 0x1c000002 (.2): rspserver 0x1c000044 (.4) in CalcAppPool2;
#  3. failover across implementations: in CalcAppPool3 (our registrar), rspserver 0x1c000055 (.5,
#     a cookie every second) runs our user's job of 8,000,000 calculations; our PE (.6) joins the
#     pool 2 s later, rspserver is killed about 4 s in; our user fails over to our PE (.6) and echoes rspserver's cookie, and our PE
#     continues the job from the calculations the cookie says are done.
TITLE="our CalcApp pool user + rspserver -calcapp, and a failover from rspserver to our PE"
TIMEOUT=90
ADDRESSES=6

rs() {
  _n=$1 _k=$2 _r=$3 _p=$4 _id=$5
  shift 5
  start "$_n" rspserver -calcapp -registrar="$(a "$_r"):3863" -poolhandle="$_p" \
    -local="$(a "$_k"):5000" -identifier="$_id" -capcapacity=1000000 -capmaxjobs=4 \
    -capvector="/tmp/$S-$_n.vec" -capscalar="/tmp/$S-$_n.sca" -loglevel=3 -logcolor=off "$@"
}

vm() {
  our pr1 registrar --profile rsplib --id 469762049 --listen "$(a 1):3863"
  rspregistrar_start pr2 "$(a 2)" 0x1c000002
  wait_log pr1 'listens on' 10
  rs rs3 3 1 CalcAppPool 0x1c000033
  wait_log pr1 '^  CalcAppPool 469762099$' 10
  wait_log pr2 'registrar is ready' 15
  rs rs4 4 2 CalcAppPool2 0x1c000044
  wait_log pr2 'Successfully registered CalcAppPool2/\$1c000044' 10

  # 1 and 2: five jobs of 300,000 calculations, 1 s apart, each done by the rspserver (each on an
  # association of its own: a job that follows the previous one's close at once may find that
  # association still shutting down and fail over to a new one).
  for p in 1 2; do
    pool=CalcAppPool
    [ $p = 2 ] && pool=CalcAppPool2
    timeout 40 pool_user --transport kernel-sctp --registrar "$(a $p):3863" --pool $pool \
      --calcapp --jobs 5 --job-size 300000 --interval 1 --distribution fixed \
      >"$OUT/$S-pu$p.log" 2>&1 || fail "our CalcApp pool user $p: $(tail -1 "$OUT/$S-pu$p.log")"
    has_log pu$p '^pool_user: jobs=5 completed=5 rejects=0 failovers=0 ' ||
      fail "our CalcApp pool user $p: $(tail -1 "$OUT/$S-pu$p.log")"
  done
  n=$(count_log pu1 '^calcapp: job [0-9]+ size=300000 .* pe=469762099$')
  [ "$n" = 5 ] || fail "rspserver 0x1c000033 did $n of our 5 jobs through our registrar"
  n=$(count_log pu2 '^calcapp: job [0-9]+ size=300000 .* pe=469762116$')
  [ "$n" = 5 ] || fail "rspserver 0x1c000044 did $n of our 5 jobs through rspregistrar"

  # 3: one job of 8 s on rspserver 0x1c000055, which is killed 4 s in.
  rs rs5 5 1 CalcAppPool3 0x1c000055 -capcookiemaxtime=1
  wait_log pr1 '^  CalcAppPool3 469762133$' 10
  start pu3 pool_user --transport kernel-sctp --registrar "$(a 1):3863" --pool CalcAppPool3 \
    --calcapp --jobs 1 --job-size 8000000 --interval 0.1 --distribution fixed \
    --keep-alive-ms 1000 --seconds 40
  # Our PE joins the pool once the job runs at rspserver.
  sleep 2
  our pe6 pool_element --profile rsplib --registrar "$(a 1):3863" --listen "$(a 6):7000" \
    --pool CalcAppPool3 --service calcapp --capacity 1000000 --max-jobs 4
  wait_log pe6 'registered at' 10
  sleep 2
  has_log pe6 '^calcapp: job .* accepted$' && fail "the job went to our PE, not to rspserver"
  stop rs5 KILL
  wait_log pe6 '^calcapp: job .* accepted from its cookie \([1-9][0-9]{6} done\)' 15
  wait_log pu3 '^pool_user: ' 20
  has_log pu3 '^pool_user: jobs=1 completed=1 ' || fail "our pool user: $(tail -1 "$OUT/$S-pu3.log")"
  pe6=$(sed -n 's/^pool element \([0-9]*\) .*/\1/p' "$OUT/$S-pe6.log")
  # Continued, not started over: less than the whole job's 8 s at our PE.
  has_log pu3 "^calcapp: job 1 size=8000000 .*processing=[0-6]\.[0-9]+s .*failovers=[1-9][0-9]* pe=$pe6\$" ||
    fail "the job was not continued at our PE: $(grep '^calcapp: job' "$OUT/$S-pu3.log")"
  stop pe6 TERM
  stop rs3 INT
  stop rs4 INT
  stop pr1 TERM
  return 0
}

host() {
  wire lo.pcap 'sctp.data_payload_proto_id == 34 && calcappprotocol.message_type == 1' 11
  wire lo.pcap 'sctp.data_payload_proto_id == 34 && calcappprotocol.message_type == 5 && calcappprotocol.message_completed == calcappprotocol.message_jobsize' 11
  # rspserver's cookies with the job's progress, and our user's echo of one to our PE.
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 11' 3
  wire lo.pcap 'sctp.data_payload_proto_id == 11 && asap.message_type == 12 && ip.dst == 10.0.12.6'
  decoded lo.pcap '> 10\.0\.12\.6:7000 .*ASAP_COOKIE_ECHO'
}
