//! Writes the crate-wide limits that size memory (`$OUT_DIR/limits.rs`),
//! each from its environment variable `RSERPOOL_<NAME>` or its default,
//! and links libusrsctp (through pkg-config) when the `usrsctp` feature is
//! on.

use std::fmt::Write as _;

/// A limit: its name, default, smallest and largest value, and where it
/// is used.
struct Limit {
    name: &'static str,
    default: usize,
    min: usize,
    max: usize,
}

/// Every configurable limit. The crate's documentation of each constant
/// names its variable and range.
const LIMITS: &[Limit] = &[
    Limit {
        name: "MAX_TRANSPORT_ADDRESSES",
        default: 64,
        min: 1,
        max: 64,
    },
    Limit {
        name: "MAX_REGISTRARS",
        default: 8,
        min: 1,
        max: 64,
    },
    Limit {
        name: "MAX_COOKIE_SIZE",
        default: 256,
        min: 8,
        max: 65_535,
    },
    Limit {
        name: "PE_TRANSMIT_QUEUE_BYTES",
        default: 8192,
        min: 1024,
        max: 1 << 24,
    },
    Limit {
        name: "PE_TRANSMIT_QUEUE_ENTRIES",
        default: 32,
        min: 4,
        max: 1 << 16,
    },
    Limit {
        name: "PE_EVENT_QUEUE_LEN",
        default: 16,
        min: 1,
        max: 1 << 16,
    },
    Limit {
        name: "PU_TRANSMIT_QUEUE_BYTES",
        default: 8192,
        min: 1024,
        max: 1 << 24,
    },
    Limit {
        name: "PU_TRANSMIT_QUEUE_ENTRIES",
        default: 32,
        min: 4,
        max: 1 << 16,
    },
    Limit {
        name: "PU_EVENT_QUEUE_LEN",
        default: 32,
        min: 1,
        max: 1 << 16,
    },
    Limit {
        name: "REGISTRAR_QUEUE_MESSAGES",
        default: 256,
        min: 4,
        max: 1 << 16,
    },
    Limit {
        name: "MAX_PEERS",
        default: 16,
        min: 1,
        max: 1024,
    },
    Limit {
        name: "MAX_SESSIONS",
        default: 8,
        min: 1,
        max: 1024,
    },
];

fn limits() {
    let mut out =
        String::from("// Written by build.rs from the RSERPOOL_* environment variables.\n");
    for l in LIMITS {
        let var = format!("RSERPOOL_{}", l.name);
        println!("cargo:rerun-if-env-changed={var}");
        let value = match std::env::var(&var) {
            Ok(v) => match v.trim().replace('_', "").parse::<usize>() {
                Ok(n) if (l.min..=l.max).contains(&n) => n,
                _ => panic!(
                    "{var}={v:?}: not a number from {} to {} (the default is {})",
                    l.min, l.max, l.default
                ),
            },
            Err(std::env::VarError::NotPresent) => l.default,
            Err(e) => panic!("{var}: {e}"),
        };
        let _ = writeln!(out, "pub const {}: usize = {value};", l.name);
    }
    let dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(dir.join("limits.rs"), out).expect("write limits.rs");
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    limits();
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    // docs.rs documents every feature but has no libusrsctp (and links
    // nothing).
    #[cfg(feature = "usrsctp")]
    if std::env::var_os("DOCS_RS").is_some() {
        return;
    }
    #[cfg(feature = "usrsctp")]
    if let Err(e) = pkg_config::Config::new().probe("usrsctp") {
        panic!(
            "feature usrsctp: libusrsctp not found through pkg-config ({e}); \
             install it first (Debian: apt-get install libusrsctp-dev pkg-config, \
             or run scripts/test --deps as root)"
        );
    }
}
