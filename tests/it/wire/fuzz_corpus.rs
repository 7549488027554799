//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) and every
//! crash regression (`fuzz/regressions/`) through the checks of all the
//! fuzz targets (`asap_decode`, `enrp_decode`, `roundtrip`, `pcap_read`), on the stable toolchain, as part of `cargo test`.
//!
//! The seed corpus is generated from the sample messages of
//! `fuzz/src/samples.rs`; regenerate it after a codec change with
//!
//! ```text
//! RSERPOOL_WRITE_CORPUS=1 cargo test --test it wire::fuzz_corpus
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use crate::support::fuzz_checks::{self, samples};
use rserpool::capture::{Encapsulation, PcapWriter};
use rserpool::wire::{Message, Protocol};

const TARGETS: [&str; 4] = ["asap_decode", "enrp_decode", "roundtrip", "pcap_read"];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every seed: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    samples::for_each(&mut |name, m| {
        let bytes = samples::encode(&m);
        let (target, selector) = match m.protocol() {
            Protocol::Asap => ("asap_decode", 0u8),
            Protocol::Enrp => ("enrp_decode", 1u8),
        };
        out.push((target, name.to_string(), bytes.clone()));
        let mut rt = vec![selector];
        rt.extend_from_slice(&bytes);
        out.push(("roundtrip", name.to_string(), rt));
    });
    for (name, enrp, bytes) in samples::malformed() {
        let target = if enrp { "enrp_decode" } else { "asap_decode" };
        let name = format!("bad_{name}");
        out.push((target, name.clone(), bytes.clone()));
        let mut rt = vec![u8::from(enrp)];
        rt.extend_from_slice(&bytes);
        out.push(("roundtrip", name, rt));
    }
    for (name, bytes) in capture_seeds() {
        out.push(("pcap_read", name, bytes));
    }
    out
}

/// Small captures: a few messages over UDP/IPv4, SCTP/IPv6 and TCP, as
/// classic pcap and as pcapng.
fn capture_seeds() -> Vec<(String, Vec<u8>)> {
    let mut messages = Vec::new();
    samples::for_each(&mut |name, m| {
        if matches!(
            name,
            "asap_registration_lud" | "asap_handle_resolution" | "enrp_presence_reply_required"
        ) {
            messages.push((m.protocol(), samples::encode(&m)));
        }
    });
    let mut out = Vec::new();
    for (tag, encapsulation, a, b) in [
        ("udp4", Encapsulation::Udp, "192.0.2.1:40000", "192.0.2.2:0"),
        (
            "sctp6",
            Encapsulation::SctpOverUdp,
            "[2001:db8::1]:40000",
            "[2001:db8::2]:0",
        ),
        ("tcp4", Encapsulation::Tcp, "192.0.2.1:40000", "192.0.2.2:0"),
    ] {
        let mut w = PcapWriter::new(Vec::new()).expect("capture");
        for (i, (protocol, bytes)) in messages.iter().enumerate() {
            let src: SocketAddr = a.parse().unwrap();
            let mut dst: SocketAddr = b.parse().unwrap();
            if dst.port() == 0 {
                dst.set_port(protocol.port());
            }
            let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + i as u64);
            w.write(*protocol, src, dst, t, bytes, encapsulation)
                .expect("write");
        }
        let pcap = w.into_inner();
        out.push((format!("{tag}.pcap"), pcap.clone()));
        out.push((format!("{tag}.pcapng"), to_pcapng(&pcap)));
    }
    out
}

/// Rewrites a little-endian classic pcap of Ethernet frames as pcapng (one
/// section, one interface with microsecond timestamps, enhanced packet
/// blocks).
fn to_pcapng(pcap: &[u8]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = (body.len() + 3) & !3;
        let total = (12 + padded) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&total.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut shb = vec![0x4D, 0x3C, 0x2B, 0x1A, 1, 0, 0, 0];
    shb.extend_from_slice(&[0xFF; 8]);
    block(&mut out, 0x0A0D_0D0A, &shb);
    block(&mut out, 1, &[1, 0, 0, 0, 0, 0, 4, 0]);
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let u = |i: usize| u32::from_le_bytes(pcap[i..i + 4].try_into().unwrap());
        let (secs, micros, len) = (u(at), u(at + 4), u(at + 8) as usize);
        let ts = u64::from(secs) * 1_000_000 + u64::from(micros);
        let mut epb = Vec::new();
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&(len as u32).to_le_bytes());
        epb.extend_from_slice(&(len as u32).to_le_bytes());
        epb.extend_from_slice(&pcap[at + 16..at + 16 + len]);
        block(&mut out, 6, &epb);
        at += 16 + len;
    }
    out
}

fn run_all_checks(data: &[u8]) {
    fuzz_checks::asap_decode(data);
    fuzz_checks::enrp_decode(data);
    fuzz_checks::roundtrip(data);
    fuzz_checks::pcap_read(data);
    fuzz_checks::calcapp_decode(data);
}

#[test]
fn capture_seeds_hold_their_messages() {
    for (name, bytes) in capture_seeds() {
        let found: Vec<_> = rserpool::capture::PcapReader::new(&bytes[..])
            .expect("capture header")
            .collect::<Result<_, _>>()
            .expect("capture reads");
        assert_eq!(found.len(), 3, "{name}");
        for m in found {
            Message::parse(m.protocol, &m.bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// Files directly in `dir` (sorted), or none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn samples_encode_parse_back_equal_and_pass_every_check() {
    let mut count = [0usize; 2];
    let mut types = std::collections::BTreeSet::new();
    samples::for_each(&mut |name, m| {
        let bytes = samples::encode(&m);
        let back = Message::parse(m.protocol(), &bytes)
            .unwrap_or_else(|e| panic!("{name}: the codec cannot parse its own output: {e:?}"));
        assert_eq!(back, m, "{name}: parse(emit(m)) != m");
        fuzz_checks::roundtrip_as(m.protocol(), &bytes);
        run_all_checks(&bytes);
        count[usize::from(m.protocol() == Protocol::Enrp)] += 1;
        types.insert((m.protocol() == Protocol::Enrp, bytes[0]));
    });
    // 14 ASAP and 10 ENRP message types.
    assert_eq!(types.len(), 24, "{types:?}");
    assert!(count[0] >= 14 + 18 && count[1] >= 10);
}

#[test]
fn malformed_samples_are_refused() {
    for (name, enrp, bytes) in samples::malformed() {
        let protocol = if enrp { Protocol::Enrp } else { Protocol::Asap };
        let skip_only = name.starts_with("unknown_param_2") || name.starts_with("unknown_param_3");
        let tolerated = skip_only || name == "rfc_nested_padding";
        match Message::parse(protocol, &bytes) {
            Ok(m) => assert!(tolerated, "{name}: malformed input parsed as {m}"),
            Err(e) => assert!(!tolerated, "{name}: refused with {e}"),
        }
        run_all_checks(&bytes);
    }
}

#[test]
fn checked_in_corpus_and_regressions_replay_cleanly() {
    let dir = fuzz_dir();
    if std::env::var_os("RSERPOOL_WRITE_CORPUS").is_some() {
        for (target, name, bytes) in seeds() {
            let d = dir.join("corpus").join(target);
            fs::create_dir_all(&d).expect("create corpus directory");
            fs::write(d.join(name), bytes).expect("write seed");
        }
    }
    let mut replayed = 0;
    for target in TARGETS {
        let d = dir.join("corpus").join(target);
        let present = files(&d);
        // Every seed the generator knows is checked in (the corpus is not stale).
        for (t, name, _) in seeds().into_iter().filter(|(t, _, _)| *t == target) {
            assert!(
                d.join(&name).is_file(),
                "seed {t}/{name} is missing: regenerate with RSERPOOL_WRITE_CORPUS=1 cargo test --test it wire::fuzz_corpus"
            );
        }
        for path in present {
            let data = fs::read(&path).expect("read corpus file");
            let result = std::panic::catch_unwind(|| run_all_checks(&data));
            assert!(
                result.is_ok(),
                "corpus file {} fails a check",
                path.display()
            );
            replayed += 1;
        }
    }
    let regressions = dir.join("regressions");
    for path in files(&regressions) {
        let data = fs::read(&path).expect("read regression file");
        let result = std::panic::catch_unwind(|| run_all_checks(&data));
        assert!(
            result.is_ok(),
            "regression {} fails a check",
            path.display()
        );
        replayed += 1;
    }
    assert!(replayed >= seeds().len(), "only {replayed} files replayed");
}
