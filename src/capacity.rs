//! Each machine's capacities as one value with named fields, and the type
//! they give.
//!
//! The machines are sized by const generics (`Registrar<B, S, OWNED,
//! ASSOCS, QUEUE, EVENTS>`), which stable Rust orders by position only.
//! Here each machine's capacities have a struct whose fields say what each
//! number sizes ([`StorageCapacity`], [`RegistrarCapacity`],
//! [`PoolElementCapacity`], [`PoolUserCapacity`]); a `const` of it names a
//! set, and a macro turns it into the machine's type
//! ([`fixed_storage!`](crate::fixed_storage),
//! [`registrar_type!`](crate::registrar_type),
//! [`pool_element_type!`](crate::pool_element_type),
//! [`pool_user_type!`](crate::pool_user_type)). Every type answers with its
//! capacities as such a value (`Registrar::CAPACITY`, …), and a capacity out
//! of range is a compile-time error that names the field's const parameter
//! (e.g. `OWNED`). The [presets](crate::presets) are built this way.
//!
//! ```
//! use rserpool::capacity::{RegistrarCapacity, StorageCapacity};
//! use rserpool::registrar::{Registrar, RegistrarConfig};
//! use rserpool::storage::RedBlackTree;
//! use rserpool::{fixed_storage, registrar_type, ServerId};
//!
//! const STORAGE: StorageCapacity = StorageCapacity {
//!     pes: 32,
//!     pools: 4,
//!     addresses: 8,
//!     owners: 2,
//! };
//! const SMALL: RegistrarCapacity = RegistrarCapacity {
//!     owned: 32,
//!     associations: 8,
//!     transmit_queue: 2048,
//!     events: 8,
//! };
//! type SmallRegistrar = registrar_type!(RedBlackTree, fixed_storage!(STORAGE), SMALL);
//!
//! const ID: ServerId = match ServerId::new(7) {
//!     Ok(id) => id,
//!     Err(_) => panic!("zero"),
//! };
//! static REGISTRAR: SmallRegistrar = SmallRegistrar::new_const(RegistrarConfig::rfc(ID));
//! assert_eq!(SmallRegistrar::CAPACITY, SMALL);
//! assert_eq!(REGISTRAR.handlespace().capacity(), 32);
//! ```

/// A fixed (no heap) handlespace storage's capacities:
/// [`Fixed<PES, POOLS, ADDRS, OWNERS>`](crate::handlespace::Fixed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StorageCapacity {
    /// Pool elements (`PES`).
    pub pes: usize,
    /// Pools (`POOLS`).
    pub pools: usize,
    /// Transport addresses beyond each PE's first, shared by all PEs
    /// (`ADDRS`).
    pub addresses: usize,
    /// Owner registrars tracked (`OWNERS`).
    pub owners: usize,
}

/// A registrar's capacities besides its handlespace's:
/// [`Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>`](crate::registrar::Registrar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegistrarCapacity {
    /// PEs it can be the home registrar of (`OWNED`; a power of two).
    pub owned: usize,
    /// Associations (ASAP and ENRP peers) it tracks at once (`ASSOCS`; a
    /// power of two).
    pub associations: usize,
    /// Bytes of its transmit queue (`QUEUE`).
    pub transmit_queue: usize,
    /// Events it holds for the application (`EVENTS`; a power of two).
    pub events: usize,
}

/// A pool element's capacities:
/// [`PoolElement<QUEUE, MESSAGES, EVENTS>`](crate::pool_element::PoolElement).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolElementCapacity {
    /// Bytes of its transmit queue (`QUEUE`).
    pub transmit_queue: usize,
    /// Messages its transmit queue holds (`MESSAGES`).
    pub messages: usize,
    /// Events it holds for the application (`EVENTS`).
    pub events: usize,
}

/// A pool user's capacities:
/// [`PoolUser<POOLS, PES>`](crate::pool_user::PoolUser).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolUserCapacity {
    /// Pools it caches (`POOLS`).
    pub pools: usize,
    /// PEs it caches per pool (`PES`).
    pub pes_per_pool: usize,
}

/// The [`Fixed`](crate::handlespace::Fixed) storage of a
/// [`StorageCapacity`] constant: `fixed_storage!(CAPS)`.
#[macro_export]
macro_rules! fixed_storage {
    ($caps:expr) => {
        $crate::handlespace::Fixed<
            { $caps.pes },
            { $caps.pools },
            { $caps.addresses },
            { $caps.owners },
        >
    };
}

/// The [`Registrar`](crate::registrar::Registrar) of a backend, a storage
/// and a [`RegistrarCapacity`] constant: `registrar_type!(B, S, CAPS)`.
#[macro_export]
macro_rules! registrar_type {
    ($backend:ty, $storage:ty, $caps:expr) => {
        $crate::registrar::Registrar<
            $backend,
            $storage,
            { $caps.owned },
            { $caps.associations },
            { $caps.transmit_queue },
            { $caps.events },
        >
    };
}

/// The [`PoolElement`](crate::pool_element::PoolElement) of a
/// [`PoolElementCapacity`] constant: `pool_element_type!(CAPS)`.
#[macro_export]
macro_rules! pool_element_type {
    ($caps:expr) => {
        $crate::pool_element::PoolElement<
            { $caps.transmit_queue },
            { $caps.messages },
            { $caps.events },
        >
    };
}

/// The [`PoolUser`](crate::pool_user::PoolUser) of a [`PoolUserCapacity`]
/// constant: `pool_user_type!(CAPS)`.
#[macro_export]
macro_rules! pool_user_type {
    ($caps:expr) => {
        $crate::pool_user::PoolUser<{ $caps.pools }, { $caps.pes_per_pool }>
    };
}
