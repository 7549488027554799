//! Flag parsing shared by the `registrar`, `pool_element` and `pool_user`
//! examples (no dependency: `--flag value` pairs).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use rserpool::policy::Policy;
use rserpool::runtime::Multicast;

/// Parsed `--flag value` pairs, in order.
pub struct Args {
    pairs: Vec<(String, String)>,
}

/// Flags that take no value: `--calcapp` (`pool_user`).
pub const SWITCHES: &[&str] = &["--calcapp"];

impl Args {
    /// Reads the process arguments; every flag takes one value, `--help`,
    /// `-v` (more log detail, repeatable: `-vv`), `-q` (errors only) and the
    /// [`SWITCHES`] none (a switch reads as the value `yes`). Prints `usage` and exits on `--help` or a dangling flag. Installs
    /// the logger (`RUST_LOG` overrides `-v`/`-q`).
    pub fn parse(usage: &str) -> Args {
        let mut pairs = Vec::new();
        let mut verbosity: i32 = 0;
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-q" {
                verbosity = -1;
                continue;
            }
            if flag.len() > 1 && flag.starts_with('-') && flag[1..].bytes().all(|b| b == b'v') {
                verbosity += (flag.len() - 1) as i32;
                continue;
            }
            if SWITCHES.contains(&flag.as_str()) {
                pairs.push((flag, "yes".into()));
                continue;
            }
            if flag == "--help" || flag == "-h" || !flag.starts_with("--") {
                eprintln!("{usage}");
                std::process::exit(if flag.starts_with("--h") || flag == "-h" {
                    0
                } else {
                    2
                });
            }
            match it.next() {
                Some(v) => pairs.push((flag, v)),
                None => fail(&format!("{flag} needs a value")),
            }
        }
        init_logging(verbosity);
        let config: Vec<String> = pairs
            .iter()
            .filter(|(f, _)| f == "--config")
            .map(|(_, v)| v.clone())
            .collect();
        pairs.retain(|(f, _)| f != "--config");
        if let Some(path) = config.last() {
            // The file first; a flag given on the command line replaces
            // every value the file gives it.
            let mut merged: Vec<(String, String)> = read_config(path)
                .into_iter()
                .filter(|(f, _)| !pairs.iter().any(|(g, _)| g == f))
                .collect();
            merged.append(&mut pairs);
            pairs = merged;
        }
        Args { pairs }
    }

    /// Fails on a flag not in `known` (or a `--seconds` that is no number
    /// of seconds), before anything is bound; with `--dump-config FILE`
    /// (`-`: standard output) writes the flags in effect as a `--config`
    /// file and exits.
    pub fn only(&self, known: &[&str]) {
        for (f, _) in &self.pairs {
            if f != "--dump-config" && !known.contains(&f.as_str()) {
                fail(&format!("unknown flag {f}"));
            }
        }
        let _: u64 = self.num("--seconds", 0);
        if let Some(to) = self.get("--dump-config") {
            let text = self.config_text();
            let written = if to == "-" {
                print!("{text}");
                Ok(())
            } else {
                std::fs::write(to, text)
            };
            match written {
                Ok(()) => std::process::exit(0),
                Err(e) => fail(&format!("--dump-config {to}: {e}")),
            }
        }
    }

    /// The flags in effect as TOML: `flag = value`, a repeated flag as an
    /// array, numbers as numbers.
    fn config_text(&self) -> String {
        let mut table = toml::Table::new();
        for (f, v) in &self.pairs {
            if f == "--dump-config" {
                continue;
            }
            let key = f.trim_start_matches("--").to_string();
            let value = match v.parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => toml::Value::String(v.clone()),
            };
            match table.get_mut(&key) {
                Some(toml::Value::Array(a)) => a.push(value),
                Some(old) => {
                    let first = old.clone();
                    *old = toml::Value::Array(vec![first, value]);
                }
                None => {
                    table.insert(key, value);
                }
            }
        }
        table.to_string()
    }

    /// Every value of `flag`.
    pub fn all(&self, flag: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The last value of `flag`.
    pub fn get(&self, flag: &str) -> Option<&str> {
        self.all(flag).last().copied()
    }

    /// Every value of `flag` as socket addresses.
    pub fn addrs(&self, flag: &str) -> Vec<SocketAddr> {
        self.all(flag)
            .iter()
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| fail(&format!("{flag}: bad address {v:?}")))
            })
            .collect()
    }

    /// Every value of `flag` as IP addresses.
    pub fn ips(&self, flag: &str) -> Vec<std::net::IpAddr> {
        self.all(flag)
            .iter()
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| fail(&format!("{flag}: bad IP address {v:?}")))
            })
            .collect()
    }

    /// `flag` parsed, or `default`.
    pub fn num<T: std::str::FromStr>(&self, flag: &str, default: T) -> T {
        match self.get(flag) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| fail(&format!("{flag}: bad number {v:?}"))),
            None => default,
        }
    }

    /// `flag GROUP:PORT`, an IPv4 (`239.0.0.50:3863`) or IPv6
    /// (`[ff05::50]:3863`) multicast channel, on `--interface`: for IPv4
    /// the interface's address, for IPv6 its name or index (default: the
    /// system's choice).
    pub fn multicast(&self, flag: &str) -> Option<Multicast> {
        let v = self.get(flag)?;
        let group: SocketAddr = v
            .parse()
            .unwrap_or_else(|_| fail(&format!("{flag}: not a GROUP:PORT: {v:?}")));
        if !group.ip().is_multicast() {
            fail(&format!("{flag}: not a multicast group: {v:?}"));
        }
        let interface = self.get("--interface");
        Some(match group {
            SocketAddr::V4(group) => {
                let interface = interface
                    .map(|i| {
                        i.parse()
                            .unwrap_or_else(|_| fail("--interface: not an IPv4 address"))
                    })
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
                Multicast::v4(group, interface)
            }
            SocketAddr::V6(group) => Multicast::v6(group, interface.map_or(0, interface_index)),
        })
    }

    /// Where a node binds by default: `v4`, or its IPv6 counterpart when
    /// the `--announce` channel is IPv6 (a node reaches the announced
    /// registrars from a socket of their family).
    pub fn default_bind(&self, v4: SocketAddr) -> SocketAddr {
        match self.multicast("--announce") {
            Some(m) if m.is_ipv6() => {
                let ip = if v4.ip().is_loopback() {
                    std::net::Ipv6Addr::LOCALHOST
                } else {
                    std::net::Ipv6Addr::UNSPECIFIED
                };
                SocketAddr::new(ip.into(), v4.port())
            }
            _ => v4,
        }
    }

    /// `--pcap FILE`.
    pub fn pcap(&self) -> Option<PathBuf> {
        self.get("--pcap").map(PathBuf::from)
    }

    /// `--profile rfc|rsplib|loopback` (default `rsplib`).
    pub fn profile(&self) -> Profile {
        match self.get("--profile").unwrap_or("rsplib") {
            "rfc" => Profile::Rfc,
            "rsplib" => Profile::Rsplib,
            "loopback" => Profile::Loopback,
            other => fail(&format!(
                "--profile: rfc, rsplib or loopback, not {other:?}"
            )),
        }
    }

    /// `--transport udp|tcp|usrsctp|kernel-sctp` (default `udp`).
    pub fn transport(&self) -> Transport {
        match self.get("--transport").unwrap_or("udp") {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "usrsctp" => Transport::Usrsctp,
            "kernel-sctp" => Transport::KernelSctp,
            other => fail(&format!(
                "--transport: udp, tcp, usrsctp or kernel-sctp, not {other:?}"
            )),
        }
    }

    /// Makes the node report to `--csp ADDR` every `--csp-interval MS`.
    pub fn apply_csp(&self, node: &mut rserpool::runtime::NodeConfig) {
        let interval = std::time::Duration::from_millis(self.num("--csp-interval", 1000));
        match self.get("--csp") {
            Some(v) => {
                let to = v
                    .parse()
                    .unwrap_or_else(|_| fail(&format!("--csp: bad address {v:?}")));
                node.csp = Some(rserpool::runtime::csp::CspConfig { to, interval });
            }
            None if self.get("--csp-interval").is_some() => fail("--csp-interval: only with --csp"),
            None => {}
        }
    }

    /// Puts the node on SCTP when `--transport` names an SCTP kind (with
    /// `--udp-encaps-port` and `--remote-udp-encaps-port` for usrsctp);
    /// fails clearly when this build lacks it.
    pub fn apply_sctp(&self, node: &mut rserpool::runtime::NodeConfig) {
        use rserpool::transport::sctp::SctpKind;
        let (kind, feature) = match self.transport() {
            Transport::Usrsctp => (SctpKind::Usrsctp, "usrsctp"),
            Transport::KernelSctp => (SctpKind::Kernel, "sctp-kernel"),
            _ => {
                if self.get("--udp-encaps-port").is_some()
                    || self.get("--remote-udp-encaps-port").is_some()
                {
                    fail("--udp-encaps-port: only with --transport usrsctp");
                }
                return;
            }
        };
        if !kind.available() {
            fail(&format!(
                "--transport {}: this build lacks SCTP of that kind; rebuild with \
                 --features {feature}",
                self.get("--transport").unwrap_or_default()
            ));
        }
        node.sctp = Some(kind);
        let port = rserpool::transport::sctp::SCTP_UDP_ENCAPSULATION_PORT;
        node.sctp_config.udp_encapsulation_port = self.num("--udp-encaps-port", port);
        node.sctp_config.remote_udp_encapsulation_port = self.num("--remote-udp-encaps-port", port);
    }

    /// Whether TLS is asked for (`--tls-ca`, `--tls-cert` or `--tls-key`).
    pub fn tls_asked(&self) -> bool {
        TLS_FLAGS.iter().any(|f| self.get(f).is_some())
    }

    /// Puts the node on TLS with `--tls-ca FILE` (the roots peers'
    /// certificates must chain to) and `--tls-cert FILE --tls-key FILE` (the
    /// node's own chain and key; `needs_identity`: required, as for a
    /// registrar and a pool element); fails clearly when this build lacks
    /// TLS or a file cannot be used.
    pub fn apply_tls(&self, node: &mut rserpool::runtime::NodeConfig, needs_identity: bool) {
        if !self.tls_asked() {
            return;
        }
        let Some(ca) = self.get("--tls-ca") else {
            fail("--tls-cert/--tls-key: --tls-ca FILE names the roots to verify peers with")
        };
        let identity = match (self.get("--tls-cert"), self.get("--tls-key")) {
            (Some(c), Some(k)) => Some((std::path::Path::new(c), std::path::Path::new(k))),
            (None, None) if !needs_identity => None,
            (None, None) => fail("--tls-ca: this node also needs --tls-cert FILE --tls-key FILE"),
            _ => fail("--tls-cert and --tls-key go together"),
        };
        #[cfg(feature = "tls")]
        {
            let tls = rserpool::transport::tokio::tls::TlsConfig::from_pem_files(ca, identity)
                .unwrap_or_else(|e| fail(&format!("TLS: {e}")));
            node.tls = Some(tls);
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (ca, identity, node);
            fail("--tls-*: this build lacks TLS; rebuild with --features tls");
        }
    }

    /// `--policy NAME[:P1,P2,...]`, e.g. `rr`, `wrr:3`, `lud:10,5`.
    pub fn policy(&self) -> Policy {
        let Some(v) = self.get("--policy") else {
            return Policy::RoundRobin;
        };
        let (name, params) = v.split_once(':').unwrap_or((v, ""));
        let t = Policy::type_from_short_name(name)
            .unwrap_or_else(|| fail(&format!("--policy: unknown policy {name:?}")));
        let params: Vec<u32> = params
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse()
                    .unwrap_or_else(|_| fail(&format!("--policy: bad parameter {p:?}")))
            })
            .collect();
        Policy::from_parameters(t, &params).unwrap_or_else(|e| fail(&format!("--policy: {e}")))
    }
}

/// A timer profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// RFC 5352/5353 defaults.
    Rfc,
    /// rsplib's defaults.
    Rsplib,
    /// Short timers for one host ([`rserpool::runtime::loopback`]).
    Loopback,
}

/// A transport choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// ASAP over UDP.
    Udp,
    /// ASAP over TCP (pool users only).
    Tcp,
    /// SCTP over UDP encapsulation with usrsctp (feature `usrsctp`).
    Usrsctp,
    /// The Linux kernel's SCTP (feature `sctp-kernel`).
    KernelSctp,
}

/// An interface's index from its index or its name (Linux: from
/// `/sys/class/net/NAME/ifindex`).
pub fn interface_index(name: &str) -> u32 {
    if let Ok(i) = name.parse() {
        return i;
    }
    std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| fail(&format!("--interface: no interface {name:?}")))
}

/// The usage lines of the SCTP flags, shared by the examples.
pub const SCTP_USAGE: &str =
    "  --transport usrsctp      ASAP (and ENRP) over SCTP with usrsctp, over UDP encapsulation
                           (build with --features usrsctp)
  --transport kernel-sctp  ASAP (and ENRP) over the kernel's SCTP (--features sctp-kernel)
  --udp-encaps-port N      usrsctp: this process's UDP encapsulation port (default 9899;
                           processes on one host need one each)
  --remote-udp-encaps-port N  usrsctp: the peers' UDP encapsulation port (default 9899)";

/// The usage lines of the flags every node takes, shared by the examples.
pub const NODE_USAGE: &str =
    "  --config FILE            flags from a TOML file (`listen = \"127.0.0.1:3863\"`, `peer = [..]`
                           for a repeated flag); flags given here replace the file's
  --dump-config FILE|-     write the flags in effect as such a file and exit
  --csp ADDR               report to rsplib's component status monitor (cspmonitor) there
  --csp-interval MS        the time between two reports (default 1000)
  -v, -vv, -q              more log detail (state changes, then inputs), or errors only
                           (RUST_LOG overrides)";

/// The flags [`Args::apply_csp`] reads.
pub const NODE_FLAGS: [&str; 2] = ["--csp", "--csp-interval"];

/// The usage lines of the TLS flags, shared by the examples.
pub const TLS_USAGE: &str =
    "  --tls-ca FILE    TLS 1.3 (build with --features tls): the CA certificates (PEM) peers'
                   certificates must chain to; ASAP to registrars and ENRP between
                   registrars then run over TLS on TCP (a registrar listens on 3864
                   for ASAP and 9902 for ENRP by default)
  --tls-cert FILE  this node's certificate chain (PEM; a registrar's names its IP
                   addresses); needed by registrars and pool elements
  --tls-key FILE   this node's private key (PEM)";

/// The flags [`Args::apply_tls`] reads.
pub const TLS_FLAGS: [&str; 3] = ["--tls-ca", "--tls-cert", "--tls-key"];

/// The flags [`Args::apply_sctp`] reads.
pub const SCTP_FLAGS: [&str; 2] = ["--udp-encaps-port", "--remote-udp-encaps-port"];

/// Prints `message` and exits with status 2.
pub fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

/// Runs until `--seconds` have passed (0 or absent: until killed).
///
/// Returns early on SIGINT or SIGTERM (the caller then stops gracefully:
/// a pool element deregisters, a registrar writes its capture).
pub fn run_for(args: &Args, mut every_second: impl FnMut(u64)) {
    let seconds: u64 = args.num("--seconds", 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, stop.clone()) {
            fail(&format!("cannot handle signal {signal}: {e}"));
        }
    }
    let mut t = 0;
    let mut ticks = 0;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("stopping (signal)");
            return;
        }
        ticks += 1;
        if ticks % 10 != 0 {
            continue;
        }
        t += 1;
        every_second(t);
        if seconds > 0 && t >= seconds {
            return;
        }
    }
}

/// Whether the node's capture lost writes (`--pcap` on a full disk, say):
/// said on stderr; the example then exits with a failure once the node
/// has stopped gracefully.
pub fn capture_lost(counters: &rserpool::runtime::NodeCounters) -> bool {
    let n = counters.capture_errors();
    if n > 0 {
        eprintln!("capture: writing it failed; the capture is incomplete");
    }
    n > 0
}

/// Logs to stderr: warnings and errors by default (the nodes' state
/// changes at info with `-v`, their inputs at debug with `-vv`, trace with
/// `-vvv`), errors only with `-q`; `RUST_LOG` (env_logger's syntax, e.g.
/// `RUST_LOG=rserpool=debug`) overrides.
fn init_logging(verbosity: i32) {
    let level = match verbosity {
        i32::MIN..=-1 => log::LevelFilter::Error,
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    let _ = builder.try_init();
}

/// The flags a `--config` file gives: TOML, each key a flag without its
/// `--`, each value a string, a number, a boolean or an array of them (a
/// repeated flag). A file that cannot be read or parsed fails the program
/// before anything is bound.
fn read_config(path: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("--config {path}: {e}")));
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| fail(&format!("--config {path}: {e}")));
    let scalar = |key: &str, v: &toml::Value| -> String {
        match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => fail(&format!(
                "--config {path}: {key}: a string, number or boolean"
            )),
        }
    };
    let mut pairs = Vec::new();
    for (key, value) in &table {
        if key == "config" || key == "dump-config" {
            fail(&format!(
                "--config {path}: {key} cannot be set in a config file"
            ));
        }
        let flag = format!("--{key}");
        match value {
            toml::Value::Array(items) => {
                for item in items {
                    pairs.push((flag.clone(), scalar(key, item)));
                }
            }
            v => pairs.push((flag, scalar(key, v))),
        }
    }
    pairs
}
