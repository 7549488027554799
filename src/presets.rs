//! Ready-made capacities for the machines: one name per use, so that a
//! program need not spell out a row of numbers. Each is a named
//! [capacity](crate::capacity) value (e.g. [`BOARD_REGISTRAR`]) and the type
//! it gives (e.g. [`BoardRegistrar`]); a program's own sizes are built the
//! same way.
//!
//! | preset | what it holds |
//! |---|---|
//! | [`BoardHandlespace`] | 64 PEs in 8 pools, 16 further addresses, 4 owner registrars (red-black trees, no heap) |
//! | [`BoardRegistrar`] | a [`BoardHandlespace`], 64 owned PEs, 16 associations, a 4 KiB transmit queue, 16 events |
//! | [`BoardPoolElement`] | a 1 KiB transmit queue of 8 messages, 4 events |
//! | [`BoardPoolUser`] | 4 pools of 16 PEs cached |
//! | `HostRegistrar` (feature `alloc`) | the runtime's registrar: growable handlespace, up to 2^20 owned PEs, 4,096 associations, a 64 KiB transmit queue, 64 events |
//! | [`HostPoolElement`] | an 8 KiB transmit queue of 32 messages, 16 events (the default limits) |
//! | [`HostPoolUser`] | 8 pools of 16 PEs (the defaults) |
//!
//! Every machine of fixed size can be built in a `static` by its
//! `new_const` (a pool element of a preset's capacities by
//! [`new_sized_const`](crate::pool_element::PoolElement::new_sized_const))
//! with `static_cell::ConstStaticCell` for a `&'static mut` without
//! `unsafe`:
//!
//! ```
//! use rserpool::presets::BoardRegistrar;
//! use rserpool::registrar::RegistrarConfig;
//! use rserpool::ServerId;
//!
//! const ID: ServerId = match ServerId::new(1) {
//!     Ok(id) => id,
//!     Err(_) => panic!("zero"),
//! };
//! static REGISTRAR: BoardRegistrar = BoardRegistrar::new_const(RegistrarConfig::rfc(ID));
//! assert_eq!(REGISTRAR.handlespace().capacity(), 64);
//! ```
//!
//! The `*_BYTES` constants are the documented sizes on a 64-bit host
//! (`size_of`); the test suite fails when a preset grows past them. On a
//! 32-bit board the values are smaller (the README's table gives both).

use crate::capacity::{PoolElementCapacity, PoolUserCapacity, RegistrarCapacity, StorageCapacity};
use crate::handlespace::Handlespace;
use crate::storage::RedBlackTree;
use crate::{fixed_storage, pool_element_type, pool_user_type, registrar_type};

/// The capacities of [`BoardStorage`]: 64 PEs, 8 pools, 16 further
/// addresses, 4 owner registrars.
pub const BOARD_STORAGE: StorageCapacity = StorageCapacity {
    pes: 64,
    pools: 8,
    addresses: 16,
    owners: 4,
};

/// A handlespace for a board: [`BOARD_STORAGE`] in red-black trees.
pub type BoardHandlespace = Handlespace<RedBlackTree, BoardStorage>;

/// The storage of [`BoardHandlespace`] and [`BoardRegistrar`].
pub type BoardStorage = fixed_storage!(BOARD_STORAGE);

/// The capacities of [`BoardRegistrar`]: 64 owned PEs, 16 associations, a
/// 4 KiB transmit queue and 16 events.
pub const BOARD_REGISTRAR: RegistrarCapacity = RegistrarCapacity {
    owned: 64,
    associations: 16,
    transmit_queue: 4096,
    events: 16,
};

/// A registrar for a board: a [`BoardHandlespace`] and [`BOARD_REGISTRAR`].
pub type BoardRegistrar = registrar_type!(RedBlackTree, BoardStorage, BOARD_REGISTRAR);

/// The capacities of [`BoardPoolElement`]: a transmit queue of 1 KiB and
/// 8 messages (a REGISTRATION with a few addresses takes under 200 bytes, a
/// keep-alive's answer a few dozen), 4 application events.
pub const BOARD_POOL_ELEMENT: PoolElementCapacity = PoolElementCapacity {
    transmit_queue: 1024,
    messages: 8,
    events: 4,
};

/// A pool element for a board ([`BOARD_POOL_ELEMENT`]). Built by
/// [`new_sized`](crate::pool_element::PoolElement::new_sized) or, in a `static`,
/// [`new_sized_const`](crate::pool_element::PoolElement::new_sized_const).
pub type BoardPoolElement = pool_element_type!(BOARD_POOL_ELEMENT);

/// The capacities of [`HostPoolElement`]: a transmit queue of 8 KiB and 32
/// messages, 16 application events (the crate's default limits, so that
/// with them it is the plain [`PoolElement`](crate::pool_element::PoolElement)).
pub const HOST_POOL_ELEMENT: PoolElementCapacity = PoolElementCapacity {
    transmit_queue: 8192,
    messages: 32,
    events: 16,
};

/// A pool element for a host ([`HOST_POOL_ELEMENT`]).
pub type HostPoolElement = pool_element_type!(HOST_POOL_ELEMENT);

/// The capacities of [`BoardPoolUser`]: 4 pools of 16 PEs cached.
pub const BOARD_POOL_USER: PoolUserCapacity = PoolUserCapacity {
    pools: 4,
    pes_per_pool: 16,
};

/// A pool user for a board ([`BOARD_POOL_USER`]).
pub type BoardPoolUser = pool_user_type!(BOARD_POOL_USER);

/// The capacities of the runtime's registrar (`HostRegistrar`, feature
/// `alloc`): up to 2^20 owned PEs, 4,096 associations, a 64 KiB transmit
/// queue and 64 events.
pub const HOST_REGISTRAR: RegistrarCapacity = RegistrarCapacity {
    owned: 1 << 20,
    associations: 4096,
    transmit_queue: 65536,
    events: 64,
};

/// The runtime's registrar (`runtime::RegistrarNode`): growable storage
/// and [`HOST_REGISTRAR`].
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub type HostRegistrar =
    registrar_type!(RedBlackTree, crate::handlespace::Growable, HOST_REGISTRAR);

/// The capacities of [`HostPoolUser`]: 8 pools of 16 PEs (the defaults).
pub const HOST_POOL_USER: PoolUserCapacity = PoolUserCapacity {
    pools: 8,
    pes_per_pool: 16,
};

/// A pool user with the default capacities ([`HOST_POOL_USER`]).
pub type HostPoolUser = pool_user_type!(HOST_POOL_USER);

/// The documented size of [`BoardHandlespace`] on a 64-bit host.
pub const BOARD_HANDLESPACE_BYTES: usize = 13_304;
/// The documented size of [`BoardRegistrar`] on a 64-bit host.
pub const BOARD_REGISTRAR_BYTES: usize = 78_120;
/// The documented size of [`BoardPoolUser`] on a 64-bit host.
pub const BOARD_POOL_USER_BYTES: usize = 35_792;
/// The documented size of a
/// [`PoolElement`](crate::pool_element::PoolElement) on a 64-bit host,
/// with the default limits.
pub const POOL_ELEMENT_BYTES: usize = 17_336;
/// The documented size of [`BoardPoolElement`] on a 64-bit host.
pub const BOARD_POOL_ELEMENT_BYTES: usize = 5_848;
/// The documented size of [`HostPoolElement`] on a 64-bit host.
pub const HOST_POOL_ELEMENT_BYTES: usize = 17_336;
/// The documented size of [`HostPoolUser`] on a 64-bit host.
pub const HOST_POOL_USER_BYTES: usize = 58_096;
/// The documented size of [`HostRegistrar`] on a 64-bit host (without its
/// heap).
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub const HOST_REGISTRAR_BYTES: usize = 697_432;
