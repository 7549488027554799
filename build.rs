//! Links libusrsctp (through pkg-config) when the `usrsctp` feature is on.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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
