//! Multicast discovery on IPv6 groups, for real: registrars announce on
//! the default IPv6 channels (`[ff05::50]:3863`, `[ff05::51]:9901`), a pool
//! element and a pool user with no configured registrar find one by its
//! ASAP_SERVER_ANNOUNCE, and two registrars with no static peers find each
//! other by ENRP PRESENCE.
//!
//! Linux turns every IPv6 route over the loopback interface into a reject
//! route (except local ones), so a host's `lo` carries no IPv6 multicast
//! however its flags are set. The test therefore re-runs itself in a new
//! network namespace of its own (`unshare --net`, with a user namespace
//! when it can, so that it also works unprivileged), where it brings `lo`
//! up and routes the site-local scope `ff05::/16` as local: multicast to
//! those groups is then delivered to the sockets of the namespace that
//! joined them. The host's network configuration is never touched.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::support::net::{registered, wait_for};

use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::blocking::{PoolElementNode, PoolUserNode};
use rserpool::runtime::{loopback, Multicast, NodeConfig};
use rserpool::{PoolHandle, ServerId};

/// Set in the re-run inside the namespace.
const IN_NAMESPACE: &str = "RSERPOOL_TEST_NETNS";

/// The loopback interface's index (1 in every network namespace).
const LO: u32 = 1;

/// What the namespace needs: `lo` up, the site-local scope local.
const SETUP: &str =
    "ip link set lo up && ip -6 route add local ff05::/16 dev lo table local && exec \"$0\" \"$@\"";

/// Runs `test` (a test function of this module) of this binary again
/// inside a new network namespace; `true` when this is that run (the
/// caller then does the work).
fn in_own_network_namespace(test: &str) -> bool {
    // The test's full name in the binary: its module path without the crate.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    in_network_namespace(&format!("{module}::{test}"))
}

/// [`in_own_network_namespace`] for a test of any module, by its full name
/// in the binary (its module path without the crate, then its name).
pub(super) fn in_network_namespace(test: &str) -> bool {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    // Unprivileged: a user namespace maps this user to root in it. Root
    // (CI) can do without one where user namespaces are disallowed.
    let mut tried = Vec::new();
    for flags in [&["--user", "--map-root-user", "--net"][..], &["--net"][..]] {
        let out = Command::new("unshare")
            .args(flags)
            .args(["--", "sh", "-c", SETUP])
            .arg(&exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(IN_NAMESPACE, "1")
            .output()
            .expect("unshare (util-linux) is installed");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            // The re-run really ran the test (and did not filter it away).
            assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
            return false;
        }
        tried.push(format!(
            "unshare {flags:?}: {}\n{stdout}\n{stderr}",
            out.status
        ));
        // A failing test inside the namespace is a failure, not a reason
        // to try without a user namespace.
        if stdout.contains("running 1 test") {
            break;
        }
    }
    panic!(
        "the test failed in its network namespace:\n{}",
        tried.join("\n")
    );
}

fn pool() -> PoolHandle {
    PoolHandle::new(b"echo6").unwrap()
}

fn any6() -> SocketAddr {
    "[::1]:0".parse().unwrap()
}

#[test]
fn ipv6_groups_find_registrars_and_peers() {
    if !in_own_network_namespace("ipv6_groups_find_registrars_and_peers") {
        return;
    }
    let asap = Multicast::asap_v6(LO);
    let enrp = Multicast::enrp_v6(LO);
    assert_eq!(asap.group(), "[ff05::50]:3863".parse().unwrap());
    assert_eq!(enrp.group(), "[ff05::51]:9901".parse().unwrap());
    let announcing_registrar = |id| {
        let mut node = NodeConfig::new(any6());
        node.asap_multicast = Some(asap);
        node.enrp_multicast = Some(enrp);
        let mut config = loopback::registrar(ServerId::new(id).unwrap());
        config.enrp = loopback::enrp(&[]);
        RegistrarNode::start(config, node).unwrap()
    };
    // Two registrars with no static peers: they find each other by PRESENCE.
    let a = announcing_registrar(1);
    let b = announcing_registrar(2);
    assert!(a.local_addr().is_ipv6() && a.enrp_addr().unwrap().is_ipv6());
    assert!(wait_for(Duration::from_secs(8), || {
        a.status().unwrap().peers == [ServerId::new(2).unwrap()]
            && b.status().unwrap().peers == [ServerId::new(1).unwrap()]
    }));
    let mut node = NodeConfig::new(any6());
    node.asap_multicast = Some(asap);
    // No configured registrar: the PE hunts by SERVER_ANNOUNCE.
    let pe = PoolElementNode::start(
        loopback::element(pool(), &[], 80),
        node.clone(),
        Box::new(rserpool::host::services::Echo),
    )
    .unwrap();
    // Registered with one, known to both (ENRP over IPv6).
    assert!(wait_for(Duration::from_secs(8), || registered(&a, 1)
        && registered(&b, 1)));
    let owned = a.status().unwrap().owned + b.status().unwrap().owned;
    assert_eq!(owned, 1);
    let u = PoolUserNode::start(
        loopback::user(&[], 9),
        node,
        core::time::Duration::from_millis(500),
    )
    .unwrap();
    let (id, reply) = u.request(&pool(), b"mc6", Duration::from_secs(8)).unwrap();
    assert_eq!((id, &reply[..]), (pe.pe_id(), &b"mc6"[..]));
}

#[test]
fn an_ipv6_group_needs_an_ipv6_socket_to_send_from() {
    // A registrar bound to IPv4 cannot announce on an IPv6 group: start
    // says so instead of announcing into nothing.
    let mut node = NodeConfig::new("127.0.0.1:0".parse().unwrap());
    node.asap_multicast = Some(Multicast::asap_v6(LO));
    let config = loopback::registrar(ServerId::new(3).unwrap());
    let err = RegistrarNode::start(config, node).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
