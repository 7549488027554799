//! The registrar's host API over loopback: a status snapshot that walks a
//! bounded number of PEs, paging through a large handlespace, and UDP
//! associations of live PEs that never idle out.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::support::net::{element, registered, wait_for};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::runtime::blocking::RegistrarNode;
use rserpool::runtime::{loopback, NodeConfig, STATUS_ELEMENTS};
use rserpool::wire::{AsapMessage, PolicyParam, PoolElementParam, TransportParam, UserTransport};
use rserpool::{PeId, Policy, PoolHandle, ServerId};

fn any() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Registers PE `id` of `pool` from `s` (its own address as the user
/// transport) and waits for the registrar's acceptance.
fn register(s: &UdpSocket, to: SocketAddr, pool: &[u8], id: u32) -> bool {
    let at = s.local_addr().unwrap();
    let ips = [at.ip()];
    let m = AsapMessage::Registration {
        pool_handle: pool,
        pool_element: PoolElementParam {
            pe_id: PeId::new(id).unwrap(),
            home_server: None,
            registration_life: 600_000,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Udp,
                at.port(),
                TransportUse::DataOnly,
                &ips,
            )),
            policy: PolicyParam::Known(Policy::RoundRobin),
            asap_transport: None,
        },
    };
    let mut buf = vec![0; m.buffer_len()];
    let n = m.emit(&mut buf).unwrap();
    s.send_to(&buf[..n], to).unwrap();
    let end = Instant::now() + Duration::from_secs(2);
    let mut answer = vec![0u8; 65_536];
    while Instant::now() < end {
        if let Ok((len, _)) = s.recv_from(&mut answer) {
            if let Ok(AsapMessage::RegistrationResponse { rejected, .. }) =
                AsapMessage::parse(&answer[..len])
            {
                return !rejected;
            }
        }
    }
    false
}

/// With more PEs than a status lists, the status counts them all, lists
/// the first [`STATUS_ELEMENTS`], and paging with `elements` walks every
/// PE once, in order.
#[test]
fn the_status_lists_a_bounded_page_and_paging_walks_every_pe_once() {
    let mut config = loopback::registrar(ServerId::new(1).unwrap());
    // The PEs below are raw sockets that answer no keep-alive.
    config.keep_alive_interval = None;
    let r = RegistrarNode::start(config, NodeConfig::new(any())).unwrap();
    // Five hosts of 127.0.0.0/8, 220 PEs each (below the per-association
    // quota), in five pools.
    let per_host = 220u32;
    let mut total = 0;
    for host in 0..5u8 {
        let s = UdpSocket::bind(SocketAddr::new(IpAddr::from([127, 0, 0, 21 + host]), 0)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let pool = [b'p', b'0' + host];
        for i in 0..per_host {
            assert!(register(
                &s,
                r.local_addr(),
                &pool,
                1 + u32::from(host) * 1000 + i
            ));
            total += 1;
        }
    }
    let status = r.status().unwrap();
    assert_eq!(status.element_count, total);
    assert_eq!(status.pool_count, 5);
    assert_eq!(status.elements.len(), STATUS_ELEMENTS);

    let mut all: Vec<(PoolHandle, PeId)> = Vec::new();
    let mut after = None;
    loop {
        let page = r.elements(after, 300).unwrap();
        assert!(page.len() <= 300);
        let Some(&last) = page.last() else { break };
        all.extend(page);
        after = Some(last);
    }
    assert_eq!(all.len(), total);
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| (a.0.as_bytes(), a.1).cmp(&(b.0.as_bytes(), b.1)));
    sorted.dedup();
    assert_eq!(
        sorted, all,
        "every PE once, in (pool handle bytes, PE id) order"
    );
    assert_eq!(&all[..STATUS_ELEMENTS], &status.elements[..]);
}

/// A PE over UDP lives by its keep-alives: with a UDP idle timeout far
/// below the keep-alive cycle asked for, the registrar keeps its PEs'
/// associations (the idle timeout is raised to twice the keep-alive
/// cycle), so no PE is removed for an idle association.
#[test]
fn a_pe_that_answers_its_keep_alives_is_never_removed_for_an_idle_association() {
    let config = loopback::registrar(ServerId::new(1).unwrap());
    let mut node = NodeConfig::new(any());
    node.udp.idle_timeout = Duration::from_millis(200);
    assert!(rserpool::runtime::registrar::udp_idle_floor(&config) > Duration::from_secs(2));
    let r = RegistrarNode::start(config, node).unwrap();
    let pe = element(&[r.local_addr()], 97, NodeConfig::new(any()));
    assert!(wait_for(Duration::from_secs(5), || registered(&r, 1)));
    std::thread::sleep(Duration::from_secs(4));
    let status = r.status().unwrap();
    assert_eq!(status.stats.removed_transport, 0);
    assert_eq!(status.elements.len(), 1);
    assert!(status.stats.keep_alive_acks >= 2, "{:?}", status.stats);
    pe.stop();
}
