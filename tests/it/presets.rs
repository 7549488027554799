//! The presets' sizes, and the machines built at compile time (`new_const`)
//! in statics: they start on a small stack and behave as those built by
//! `new`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::pool_element::{Event, OwnedTransport, PoolElement, PoolElementConfig};
use rserpool::pool_user::{PoolUser, PoolUserConfig, PoolUserError};
use rserpool::presets::{
    BoardHandlespace, BoardPoolElement, BoardPoolUser, BoardRegistrar, HostPoolElement,
    HostPoolUser, HostRegistrar, BOARD_HANDLESPACE_BYTES, BOARD_POOL_ELEMENT_BYTES,
    BOARD_POOL_USER_BYTES, BOARD_REGISTRAR_BYTES, HOST_POOL_ELEMENT_BYTES, HOST_POOL_USER_BYTES,
    HOST_REGISTRAR_BYTES, POOL_ELEMENT_BYTES,
};
use rserpool::registrar::{EnrpConfig, RegistrarConfig};
use rserpool::transmit::{Connect, Machine};
use rserpool::wire::Protocol;
use rserpool::{CauseCode, Instant, PeId, PoolHandle, ServerId};

const POOL: PoolHandle = match PoolHandle::new(b"echo") {
    Ok(p) => p,
    Err(_) => panic!("pool handle"),
};
const ID: ServerId = match ServerId::new(5) {
    Ok(id) => id,
    Err(_) => panic!("server id"),
};
const REGISTRAR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 3863);
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 9901);
const PE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

const fn element_config(addresses: usize) -> PoolElementConfig {
    let transport = if addresses == 1 {
        OwnedTransport::new_const(TransportProtocol::Sctp, 7, TransportUse::DataOnly, [PE_IP])
    } else {
        // Two addresses on TCP: not a valid transport.
        OwnedTransport::new_const(
            TransportProtocol::Tcp,
            7,
            TransportUse::DataOnly,
            [PE_IP, PE_IP],
        )
    };
    let mut c = PoolElementConfig::rfc(POOL, transport).with_registrars([REGISTRAR]);
    c.pe_id = match PeId::new(0x77) {
        Ok(id) => Some(id),
        Err(_) => None,
    };
    c
}

const fn user_config() -> PoolUserConfig {
    PoolUserConfig::rfc().with_registrars([REGISTRAR])
}

static BOARD_REGISTRAR: Mutex<BoardRegistrar> = Mutex::new(BoardRegistrar::new_const(
    RegistrarConfig::rfc(ID).with_seed(3),
));
static ELEMENT: Mutex<PoolElement> = Mutex::new(PoolElement::new_const(element_config(1)));
static BAD_ELEMENT: Mutex<PoolElement> = Mutex::new(PoolElement::new_const(element_config(2)));
static BOARD_ELEMENT: Mutex<BoardPoolElement> =
    Mutex::new(BoardPoolElement::new_sized_const(element_config(1)));
static USER: Mutex<BoardPoolUser> = Mutex::new(BoardPoolUser::new_const(user_config()));

/// Runs `f` on a thread with a stack of `kib` KiB.
fn on_stack<T: Send + 'static>(kib: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(kib * 1024)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no panic")
}

#[test]
#[cfg(target_pointer_width = "64")]
fn presets_stay_within_their_documented_sizes() {
    use std::mem::size_of;
    assert!(size_of::<BoardHandlespace>() <= BOARD_HANDLESPACE_BYTES);
    assert!(size_of::<BoardRegistrar>() <= BOARD_REGISTRAR_BYTES);
    assert!(size_of::<BoardPoolUser>() <= BOARD_POOL_USER_BYTES);
    assert!(size_of::<PoolElement>() <= POOL_ELEMENT_BYTES);
    let (board, host) = (size_of::<BoardPoolElement>(), size_of::<HostPoolElement>());
    assert!(
        board <= BOARD_POOL_ELEMENT_BYTES,
        "BoardPoolElement: {board} bytes"
    );
    assert!(
        host <= HOST_POOL_ELEMENT_BYTES,
        "HostPoolElement: {host} bytes"
    );
    // The board's pool element is the smaller one.
    assert!(size_of::<BoardPoolElement>() < size_of::<HostPoolElement>());
    assert!(size_of::<HostPoolUser>() <= HOST_POOL_USER_BYTES);
    assert!(size_of::<HostRegistrar>() <= HOST_REGISTRAR_BYTES);
    // A registrar larger than the stack the start below runs on.
    assert!(size_of::<BoardRegistrar>() > 64 * 1024);
}

#[test]
fn a_registrar_in_a_static_starts_on_a_small_stack() {
    // 64 KiB: less than a `BoardRegistrar` (a copy of one would overflow
    // it).
    let due = on_stack(64, || {
        let mut r = BOARD_REGISTRAR.lock().unwrap();
        assert!(r.handlespace().is_empty());
        assert_eq!(r.handlespace().capacity(), 64);
        // Announcements are due at once, as for `new`.
        let due = r.poll_timeout();
        r.handle_timeout(Instant::ZERO);
        due
    });
    assert_eq!(due, Some(Instant::ZERO));
}

fn first_connect(m: &mut dyn Machine) -> Option<Connect> {
    m.poll_connect()
}

#[test]
fn a_pool_element_in_a_static_hunts_its_configured_registrar() {
    // 64 KiB: a few times a `PoolElement` (17 KiB).
    let (connect, registered) = on_stack(64, || {
        let mut pe = ELEMENT.lock().unwrap();
        pe.register(Instant::ZERO);
        (first_connect(&mut *pe), pe.poll_event())
    });
    assert_eq!(
        connect,
        Some(Connect {
            remote: REGISTRAR,
            protocol: Protocol::Asap
        })
    );
    assert_eq!(registered, None);
    // The same as a pool element built by `new`.
    let mut by_new = PoolElement::new(element_config(1)).unwrap();
    by_new.register(Instant::ZERO);
    assert_eq!(first_connect(&mut by_new), connect);
}

#[test]
fn a_board_pool_element_in_a_static_registers_as_one_built_by_new_sized() {
    let mut by_const = BOARD_ELEMENT.lock().unwrap();
    let mut by_new: BoardPoolElement = PoolElement::new_sized(element_config(1)).unwrap();
    for pe in [&mut *by_const, &mut by_new] {
        pe.register(Instant::ZERO);
        assert_eq!(
            first_connect(pe),
            Some(Connect {
                remote: REGISTRAR,
                protocol: Protocol::Asap
            })
        );
        pe.handle_transport_event(
            Instant::ZERO,
            rserpool::transmit::TransportEvent::Up {
                assoc: rserpool::AssocId(1),
                remote: REGISTRAR,
                protocol: Protocol::Asap,
                verified: true,
            },
        );
    }
    // The same REGISTRATION, lent from the smaller queue.
    let (t, bytes) = by_const.peek_transmit().unwrap();
    let (u, same) = by_new.peek_transmit().unwrap();
    assert_eq!((t, bytes), (u, same));
    assert!(matches!(
        rserpool::wire::AsapMessage::parse(bytes).unwrap(),
        rserpool::wire::AsapMessage::Registration { .. }
    ));
    assert!(bytes.len() < 1024);
}

#[test]
fn an_invalid_transport_of_a_const_pool_element_fails_its_registration() {
    assert!(PoolElement::new(element_config(2)).is_err());
    let mut pe = BAD_ELEMENT.lock().unwrap();
    pe.register(Instant::ZERO);
    assert_eq!(
        pe.poll_event(),
        Some(Event::RegistrationFailed {
            cause: Some(CauseCode::InvalidValues),
            retry_at: None
        })
    );
    assert_eq!(pe.poll_connect(), None);
    assert!(!pe.is_registered());
}

#[test]
fn a_pool_user_in_a_static_hunts_its_configured_registrar() {
    // 256 KiB: a debug build's first resolution takes more than 64 KiB
    // (a release build on a Cortex-M4 takes 604 bytes, see
    // examples/firmware).
    let (resolve, connect) = on_stack(256, || {
        let mut pu = USER.lock().unwrap();
        let r = pu.resolve(Instant::ZERO, &POOL);
        (r, first_connect(&mut *pu))
    });
    assert_eq!(resolve, Err(PoolUserError::WouldBlock));
    assert_eq!(
        connect,
        Some(Connect {
            remote: REGISTRAR,
            protocol: Protocol::Asap
        })
    );
    let mut by_new: PoolUser<4, 16> = PoolUser::new(user_config());
    assert_eq!(
        by_new.resolve(Instant::ZERO, &POOL),
        Err(PoolUserError::WouldBlock)
    );
    assert_eq!(first_connect(&mut by_new), connect);
}

#[test]
fn a_const_registrar_enters_its_static_enrp_peers_at_the_first_input() {
    let mut config = RegistrarConfig::rfc(ID).with_seed(3);
    config.enrp =
        EnrpConfig::rfc(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9901)).with_peer(PEER);
    let mut by_new = Box::new(BoardRegistrar::new(config.clone()));
    let mut by_const = Box::new(BoardRegistrar::new_const(config));
    assert_eq!(by_new.peers().len(), 1);
    assert!(by_const.peers().is_empty());
    by_new.handle_timeout(Instant::ZERO);
    by_const.handle_timeout(Instant::ZERO);
    assert_eq!(by_const.peers(), by_new.peers());
    assert_eq!(by_const.peers()[0].address, Some(PEER));
    assert_eq!(by_const.poll_timeout(), by_new.poll_timeout());
    assert_eq!(by_const.poll_connect(), by_new.poll_connect());
}

#[test]
fn presets_are_their_named_capacities() {
    use rserpool::handlespace::Fixed;
    use rserpool::presets::*;
    assert_eq!(BoardStorage::CAPACITY, BOARD_STORAGE);
    assert_eq!(Fixed::<64, 8, 16, 4>::CAPACITY, BOARD_STORAGE);
    assert_eq!(BoardRegistrar::CAPACITY, BOARD_REGISTRAR);
    assert_eq!(BoardRegistrar::CAPACITY.associations, 16);
    assert_eq!(HostRegistrar::CAPACITY, HOST_REGISTRAR);
    assert_eq!(BoardPoolElement::CAPACITY, BOARD_POOL_ELEMENT);
    assert_eq!(HostPoolElement::CAPACITY, HOST_POOL_ELEMENT);
    assert_eq!(BoardPoolUser::CAPACITY, BOARD_POOL_USER);
    assert_eq!(HostPoolUser::CAPACITY, HOST_POOL_USER);
    // The defaults of the plain types.
    assert_eq!(
        rserpool::pool_user::PoolUser::<8, 16>::CAPACITY,
        HOST_POOL_USER
    );
}

#[test]
fn a_machine_of_named_capacities_is_sized_by_them() {
    use rserpool::capacity::{PoolElementCapacity, PoolUserCapacity, StorageCapacity};
    use rserpool::{fixed_storage, pool_element_type, pool_user_type};
    const STORAGE: StorageCapacity = StorageCapacity {
        pes: 20,
        pools: 3,
        addresses: 5,
        owners: 2,
    };
    const PE: PoolElementCapacity = PoolElementCapacity {
        transmit_queue: 2048,
        messages: 8,
        events: 4,
    };
    const PU: PoolUserCapacity = PoolUserCapacity {
        pools: 2,
        pes_per_pool: 5,
    };
    type Hs = rserpool::handlespace::Handlespace<rserpool::storage::Treap, fixed_storage!(STORAGE)>;
    type Pe = pool_element_type!(PE);
    type Pu = pool_user_type!(PU);
    let hs = Hs::new_const();
    assert_eq!(hs.capacity(), 20);
    assert_eq!(Pe::CAPACITY, PE);
    assert_eq!(Pu::CAPACITY, PU);
    // A smaller queue is a smaller machine.
    assert!(
        core::mem::size_of::<Pe>() < core::mem::size_of::<rserpool::pool_element::PoolElement>()
    );
}
