//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) and every
//! crash regression (`fuzz/regressions/`) through the checks of the three
//! fuzz targets, on the stable toolchain, as part of `cargo test`.
//!
//! The seed corpus is generated from the sample messages of
//! `fuzz/src/samples.rs`; regenerate it after a codec change with
//!
//! ```text
//! RSERPOOL_WRITE_CORPUS=1 cargo test --test wire_fuzz_corpus
//! ```

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::fs;
use std::path::{Path, PathBuf};

use fuzz_checks::samples;
use rserpool::wire::{Message, Protocol};

const TARGETS: [&str; 3] = ["asap_decode", "enrp_decode", "roundtrip"];

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
    out
}

fn run_all_checks(data: &[u8]) {
    fuzz_checks::asap_decode(data);
    fuzz_checks::enrp_decode(data);
    fuzz_checks::roundtrip(data);
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
                "seed {t}/{name} is missing: regenerate with RSERPOOL_WRITE_CORPUS=1 cargo test --test wire_fuzz_corpus"
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
