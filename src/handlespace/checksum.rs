//! The PE checksum of RFC 5353 §3.6.2 (SPEC §11).
//!
//! For one owner registrar, every PE it owns contributes the block
//! `pool handle ‖ zero padding to a multiple of 4 ‖ PE id (big-endian)`; the
//! checksum is the RFC 1071 Internet checksum over all blocks. Each block has
//! even length, so the ones-complement sum does not depend on the order and
//! can be kept incrementally: [`ChecksumAccumulator`] adds a PE's block sum
//! when it is added and subtracts it when it leaves. It keeps the plain
//! integer sum of the 16-bit words in a `u64` (exact for any number of PEs, so
//! adding and subtracting never disagrees with a recomputation) and folds and
//! complements only when read. The empty set gives `0xFFFF`.

use crate::id::PeId;

/// The sum of the 16-bit big-endian words of a pool handle padded with zeros
/// to a multiple of 4 bytes (a plain integer sum, not folded).
pub fn pool_handle_sum(handle: &[u8]) -> u32 {
    let mut sum = 0u32;
    let mut words = handle.chunks(2);
    for w in &mut words {
        let hi = u32::from(w[0]);
        let lo = w.get(1).copied().map_or(0, u32::from);
        sum += (hi << 8) | lo;
    }
    sum
}

/// The plain word sum of one PE's checksum block, given its pool handle's
/// [`pool_handle_sum`].
#[inline]
pub const fn pe_block_sum(pool_handle_sum: u32, pe_id: PeId) -> u64 {
    let id = pe_id.get();
    pool_handle_sum as u64 + (id >> 16) as u64 + (id & 0xFFFF) as u64
}

/// Folds a plain word sum with end-around carry and complements it.
#[inline]
pub const fn finish(sum: u64) -> u16 {
    let mut s = sum;
    while s >> 16 != 0 {
        s = (s & 0xFFFF) + (s >> 16);
    }
    !(s as u16)
}

/// A running PE checksum: add and remove PEs in any order, read at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChecksumAccumulator {
    sum: u64,
}

impl ChecksumAccumulator {
    /// The accumulator of the empty set.
    pub const fn new() -> Self {
        ChecksumAccumulator { sum: 0 }
    }
    /// Adds a PE.
    pub fn add(&mut self, pool_handle: &[u8], pe_id: PeId) {
        self.add_block(pe_block_sum(pool_handle_sum(pool_handle), pe_id));
    }
    /// Removes a PE that was added before.
    pub fn remove(&mut self, pool_handle: &[u8], pe_id: PeId) {
        self.remove_block(pe_block_sum(pool_handle_sum(pool_handle), pe_id));
    }
    /// Adds a block sum from [`pe_block_sum`].
    #[inline]
    pub fn add_block(&mut self, block: u64) {
        self.sum += block;
    }
    /// Removes a block sum added before.
    #[inline]
    pub fn remove_block(&mut self, block: u64) {
        self.sum -= block;
    }
    /// Adds everything another accumulator holds.
    pub fn merge(&mut self, other: &ChecksumAccumulator) {
        self.sum += other.sum;
    }
    /// The checksum as sent in the PE Checksum parameter.
    pub const fn checksum(&self) -> u16 {
        finish(self.sum)
    }
}

/// The PE checksum of a set of PEs given as (pool handle bytes, PE id).
pub fn pe_checksum<'a, I>(pes: I) -> u16
where
    I: IntoIterator<Item = (&'a [u8], PeId)>,
{
    let mut acc = ChecksumAccumulator::new();
    for (handle, id) in pes {
        acc.add(handle, id);
    }
    acc.checksum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(v: u32) -> PeId {
        PeId::new(v).unwrap()
    }

    #[test]
    fn spec_vectors() {
        assert_eq!(pe_checksum([(&b"EchoPool1"[..], id(0x1234_5678))]), 0xF8A4);
        let four = [
            (&b"EchoPool1"[..], id(0x1234_5678)),
            (&b"EchoPool1"[..], id(0x0BAD_CAFE)),
            (&b"P"[..], id(0x0000_0100)),
            (&b"abcdefgh"[..], id(0xFFFF_FFFF)),
        ];
        assert_eq!(pe_checksum(four), 0xA0B4);
        assert_eq!(pe_checksum([]), 0xFFFF);
        // Incremental: order does not matter, removal undoes addition.
        let mut acc = ChecksumAccumulator::new();
        for &(h, i) in four.iter().rev() {
            acc.add(h, i);
        }
        assert_eq!(acc.checksum(), 0xA0B4);
        acc.remove(b"P", id(0x100));
        acc.remove(b"abcdefgh", id(0xFFFF_FFFF));
        acc.remove(b"EchoPool1", id(0x0BAD_CAFE));
        assert_eq!(acc.checksum(), 0xF8A4);
        acc.remove(b"EchoPool1", id(0x1234_5678));
        assert_eq!(acc.checksum(), 0xFFFF);
    }
}
