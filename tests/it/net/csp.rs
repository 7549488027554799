//! Component status reports (rsplib's CSP): rsplib's own monitor,
//! `cspmonitor` (Debian's `rsplib-tools`), lists our registrar, pool
//! element and pool user; a node's last report carries the final flag.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::net::{pool, registered, wait_for};

use rserpool::host::services::Echo;
use rserpool::runtime::blocking::{PoolElementNode, PoolUserNode, RegistrarNode};
use rserpool::runtime::csp::{component_id, ComponentGroup, CspConfig, CSPF_FINAL, CSPT_REPORT};
use rserpool::runtime::{loopback, NodeConfig};
use rserpool::ServerId;

fn node(csp: SocketAddr) -> NodeConfig {
    let mut n = NodeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    n.csp = Some(CspConfig {
        to: csp,
        interval: Duration::from_millis(200),
    });
    n
}

fn free_udp_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// rsplib's monitor lists a registrar, a pool element and a pool user of
/// ours, with their ids and status lines.
#[test]
fn cspmonitor_lists_our_registrar_pool_element_and_pool_user() {
    let at = free_udp_port();
    let monitor = Command::new("timeout")
        .args(["-s", "INT", "4"])
        .arg("cspmonitor")
        .arg(format!("-localaddress={at}"))
        .arg("-updateinterval=250")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cspmonitor runs (scripts/test --deps installs rsplib-tools)");
    std::thread::sleep(Duration::from_millis(300));
    let r =
        RegistrarNode::start(loopback::registrar(ServerId::new(0x51).unwrap()), node(at)).unwrap();
    let pe = PoolElementNode::start(
        loopback::element(pool(), &[r.local_addr()], 61),
        node(at),
        Box::new(Echo),
    )
    .unwrap();
    assert!(wait_for(Duration::from_secs(3), || registered(&r, 1)));
    let pu = PoolUserNode::start(
        loopback::user(&[r.local_addr()], 62),
        node(at),
        Duration::from_millis(500),
    )
    .unwrap();
    pu.request(&pool(), b"x", Duration::from_secs(3)).unwrap();
    let out = monitor.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.rsplit("Current Component Status").next().unwrap_or("");
    assert!(
        text.contains("\x1b[31;1m1 PRs\x1b[0m, \x1b[34;1m1 PEs\x1b[0m, \x1b[32;1m1 PUs"),
        "{text}"
    );
    assert!(last.contains("PR $00000051"), "{last}");
    assert!(
        last.contains(&format!("PE ${:08x}", pe.pe_id().get())),
        "{last}"
    );
    assert!(last.contains("PU $"), "{last}");
    assert!(
        last.contains("\"1 PEs (1 owned) in 1 pools, 0 ENRP peers\""),
        "{last}"
    );
    assert!(
        last.contains("\"echo: registered at 0x00000051, "),
        "{last}"
    );
}

/// The reports as a monitor receives them: rsplib's header with the
/// node's component id, and a last one with the final flag when the node
/// stops.
#[test]
fn a_stopping_node_sends_a_final_report() {
    let monitor = UdpSocket::bind("127.0.0.1:0").unwrap();
    monitor
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let r = RegistrarNode::start(
        loopback::registrar(ServerId::new(0x52).unwrap()),
        node(monitor.local_addr().unwrap()),
    )
    .unwrap();
    let id = component_id(ComponentGroup::Registrar, 0x52);
    let mut buf = vec![0u8; 65_536];
    let mut reports = Vec::new();
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end && reports.len() < 3 {
        if let Ok(n) = monitor.recv(&mut buf) {
            reports.push(buf[..n].to_vec());
        }
    }
    assert!(reports.len() >= 3, "a report every 200 ms");
    for rep in &reports {
        assert_eq!(rep[0], CSPT_REPORT);
        assert_eq!(rep[1] & CSPF_FINAL, 0);
        assert_eq!(u64::from_be_bytes(rep[8..16].try_into().unwrap()), id);
    }
    r.shutdown();
    let mut last = None;
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        if let Ok(n) = monitor.recv(&mut buf) {
            if buf[1] & CSPF_FINAL != 0 {
                last = Some(buf[..n].to_vec());
                break;
            }
        }
    }
    let last = last.expect("a final report");
    assert_eq!(u64::from_be_bytes(last[8..16].try_into().unwrap()), id);
}
