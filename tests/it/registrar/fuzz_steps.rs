//! Replays the stateful fuzz corpus (`fuzz/corpus/registrar_steps/`,
//! `fuzz/corpus/pool_element_steps/`) through the targets' step harness
//! (`fuzz/src/steps.rs`, included by path as `support::fuzz_checks::steps`),
//! on the stable toolchain, as part of `cargo test`.
//!
//! The seeds are written by `fuzz/src/steps.rs`'s `seeds()`; regenerate them
//! after a change of the input layout with
//!
//! ```text
//! RSERPOOL_WRITE_CORPUS=1 cargo test --test it registrar::fuzz_steps
//! ```
//!
//! Files the fuzzer found (after `cargo fuzz cmin`) sit beside the seeds
//! and are replayed the same way.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::fuzz_checks::steps;

const TARGETS: [&str; 2] = ["registrar_steps", "pool_element_steps"];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target)
}

fn run(target: &str, data: &[u8]) {
    match target {
        "registrar_steps" => steps::registrar_steps(data),
        "pool_element_steps" => steps::pool_element_steps(data),
        _ => unreachable!("unknown target {target}"),
    }
}

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
fn seeds_pass_every_check() {
    for (target, name, bytes) in steps::seeds() {
        let r = std::panic::catch_unwind(|| run(target, &bytes));
        assert!(r.is_ok(), "seed {target}/{name} fails a check");
    }
}

#[test]
fn stateful_corpus_replays_cleanly() {
    if std::env::var_os("RSERPOOL_WRITE_CORPUS").is_some() {
        for (target, name, bytes) in steps::seeds() {
            let d = corpus_dir(target);
            fs::create_dir_all(&d).expect("create corpus directory");
            fs::write(d.join(format!("seed_{name}")), bytes).expect("write seed");
        }
    }
    let mut replayed = 0;
    for target in TARGETS {
        let d = corpus_dir(target);
        for (t, name, _) in steps::seeds().into_iter().filter(|(t, _, _)| *t == target) {
            assert!(
                d.join(format!("seed_{name}")).is_file(),
                "seed {t}/seed_{name} is missing: regenerate with RSERPOOL_WRITE_CORPUS=1 cargo test --test it registrar::fuzz_steps"
            );
        }
        for path in files(&d) {
            let data = fs::read(&path).expect("read corpus file");
            let r = std::panic::catch_unwind(|| run(target, &data));
            assert!(r.is_ok(), "corpus file {} fails a check", path.display());
            replayed += 1;
        }
    }
    assert!(
        replayed >= steps::seeds().len(),
        "only {replayed} files replayed"
    );
}

/// Replays one file (a crash the fuzzer wrote) given by
/// `RSERPOOL_STEPS_FILE`, as target `RSERPOOL_STEPS_TARGET`
/// (`registrar_steps` by default); does nothing without it:
///
/// ```text
/// RSERPOOL_STEPS_FILE=fuzz/artifacts/registrar_steps/crash-... \
///     cargo test --test it registrar::fuzz_steps::replay_file -- --nocapture
/// ```
#[test]
fn replay_file() {
    let Some(path) = std::env::var_os("RSERPOOL_STEPS_FILE") else {
        return;
    };
    let target = std::env::var("RSERPOOL_STEPS_TARGET").unwrap_or("registrar_steps".into());
    run(&target, &fs::read(path).expect("read the file"));
}
