//! Caller-supplied randomness for the random selection policies.

/// A source of uniformly distributed 64-bit values.
///
/// The handlespace never creates randomness itself: the caller passes a
/// generator (seeded from hardware on a board, from the OS on a host, or
/// fixed in a simulation or test, so that runs repeat).
pub trait RandomSource {
    /// The next uniformly distributed value.
    fn next_u64(&mut self) -> u64;

    /// A value in `0..bound` (`bound > 0`), by Lemire's multiply-shift; the
    /// bias is below `bound / 2^64`.
    #[inline]
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

/// xoshiro256** (Blackman and Vigna): small, fast, good statistical quality;
/// not for cryptographic use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xoshiro256StarStar {
    s: [u64; 4],
}

impl Xoshiro256StarStar {
    /// A generator whose state is expanded from `seed` with splitmix64.
    pub const fn seed_from_u64(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        let mut i = 0;
        while i < 4 {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            s[i] = z ^ (z >> 31);
            i += 1;
        }
        Xoshiro256StarStar { s }
    }
}

impl RandomSource for Xoshiro256StarStar {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeatable_and_bounded() {
        let mut a = Xoshiro256StarStar::seed_from_u64(42);
        let mut b = Xoshiro256StarStar::seed_from_u64(42);
        let mut c = Xoshiro256StarStar::seed_from_u64(43);
        let x = a.next_u64();
        assert_eq!(x, b.next_u64());
        assert_ne!(x, c.next_u64());
        let mut hits = [0u32; 3];
        for _ in 0..3000 {
            hits[a.below(3) as usize] += 1;
        }
        assert!(hits.iter().all(|&h| (850..1150).contains(&h)), "{hits:?}");
    }
}
