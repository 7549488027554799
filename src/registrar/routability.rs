//! The return-routability check on ASAP: no answer larger than
//! [`AMPLIFICATION_LIMIT`] times its request goes to a source that has not
//! proven it receives at its address.
//!
//! A source's return path is verified when the transport says so
//! ([`TransportEvent::Up`]'s `verified`: SCTP and TCP handshakes), or when
//! the peer echoed this registrar's challenge: an ASAP_COOKIE with 8 to 16
//! pseudo-random bytes, answered by an ASAP_COOKIE_ECHO with the same bytes on
//! the same association. Only the host at the association's address sees
//! the challenge, so a sender with a forged address cannot echo it. Each
//! challenge is SipHash-2-4 of a counter under a 128-bit key, so that the
//! challenges a client sees on its own associations tell nothing of the
//! ones sent to others (the registrar's generator, xoshiro256**, is not
//! made for secrets: its state shows in its outputs).
//!
//! While a source is unverified, every answer to one of its messages is
//! charged to a budget of [`AMPLIFICATION_LIMIT`] times the message's
//! length; an answer that does not fit is withheld
//! ([`Stats::answers_withheld`]) and the challenge is sent instead, if it
//! fits what is left ([`Stats::challenges_sent`]). The peer echoes it and
//! sends its request again, which is then answered in full.

use super::*;
use core::net::{SocketAddrV4, SocketAddrV6};

/// An answer to a source whose return path is unverified is at most this
/// many times the length of the message it answers (all answers to that
/// message together, the challenge included).
pub const AMPLIFICATION_LIMIT: usize = 3;

/// The length of a challenge when the budget allows (a 24-byte
/// ASAP_COOKIE, which fits the budget of the smallest HANDLE_RESOLUTION,
/// 12 bytes).
pub const CHALLENGE_LEN: usize = 16;

/// The shortest challenge sent; below that no challenge is sent at all.
pub const MIN_CHALLENGE_LEN: usize = 8;

/// SipHash-2-4 of one 16-byte block under `key` (Aumasson and Bernstein):
/// a keyed pseudo-random function, so that challenges seen by a client
/// reveal nothing of the key or of other challenges.
fn siphash24(key: [u64; 2], block: [u64; 2]) -> u64 {
    let mut v = [
        key[0] ^ 0x736f_6d65_7073_6575,
        key[1] ^ 0x646f_7261_6e64_6f6d,
        key[0] ^ 0x6c79_6765_6e65_7261,
        key[1] ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    // Two message words, then the length word (16 bytes).
    for m in [block[0], block[1], 16u64 << 56] {
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Mixed into [`RegistrarConfig::seed`] for the generator the default
/// challenge key is drawn from.
pub(super) const KEY_SEED_MASK: u64 = 0xC4A1_1E46_E5EE_D000;

/// Where challenges come from: a secret key and a counter. Challenge
/// number `n` of length `len` is SipHash-2-4 of `n` (and of the 8-byte
/// half) under the key, so an association keeps only its number and
/// length, and the bytes are computed again to compare an echo. The key
/// comes from the registrar's seeded generator, or from the host
/// ([`Registrar::set_challenge_key`]); when the 32-bit counter wraps, the
/// key is replaced by one derived from it, so that no number is used
/// twice under one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ChallengeKey {
    key: [u64; 2],
    counter: u32,
}

impl ChallengeKey {
    /// A key drawn from `rng` (two words).
    pub(super) const fn from_xoshiro(rng: &mut crate::random::Xoshiro256StarStar) -> Self {
        let a = rng.next_u64_const();
        let b = rng.next_u64_const();
        ChallengeKey {
            key: [a, b],
            counter: 0,
        }
    }

    fn from_bytes(key: [u8; 16]) -> Self {
        let mut k = [0u64; 2];
        for (word, bytes) in k.iter_mut().zip(key.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            *word = u64::from_le_bytes(b);
        }
        ChallengeKey { key: k, counter: 0 }
    }

    /// The number of a fresh challenge.
    fn next(&mut self) -> u32 {
        if self.counter == u32::MAX {
            let k = self.key;
            self.key = [siphash24(k, [u64::MAX, 0]), siphash24(k, [u64::MAX, 1])];
            self.counter = 0;
        }
        self.counter += 1;
        self.counter
    }

    /// The bytes of challenge `number` of `len` bytes (at most
    /// [`CHALLENGE_LEN`]) into `out`; returns them.
    fn bytes<'a>(&self, number: u32, len: u8, out: &'a mut [u8; CHALLENGE_LEN]) -> &'a [u8] {
        let out = &mut out[..usize::from(len).min(CHALLENGE_LEN)];
        for (half, chunk) in out.chunks_mut(8).enumerate() {
            let word = siphash24(self.key, [u64::from(number), half as u64]).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        out
    }
}

/// Whether `a` and `b` are equal (compared in time independent of where
/// the bytes differ).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// What the registrar knows of an association's return path, in 8 bytes:
/// verified, or not with the number and length of the challenge sent last
/// (length 0: none yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Path {
    verified: bool,
    /// Whether the peer authenticated ([`TransportEvent::Authenticated`]);
    /// kept here, where it costs no room in the association table.
    authenticated: bool,
    len: u8,
    /// Whether the association's remote address is an IPv4 one (the entry
    /// keeps it IPv4-mapped); kept here, in the padding.
    remote_v4: bool,
    number: u32,
}

impl Path {
    pub(super) fn is_verified(&self) -> bool {
        self.verified
    }
}

/// An association the registrar knows, in 40 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AssocEntry {
    /// The peer's address ([`TransportEvent::Up`]), an IPv4 one mapped
    /// (`path.remote_v4`), so that the entry has room for its PE count
    /// without growing: [`AssocEntry::remote`] gives it back as it came.
    remote: SocketAddrV6,
    /// Its return path.
    pub(super) path: Path,
    /// How many PEs in the handlespace are bound to this association
    /// (`Registrar::hs_register` and `Registrar::hs_remove` keep it), so
    /// that the quotas need not walk them.
    pub(super) pes: u32,
}

impl AssocEntry {
    /// Whether its peer authenticated ([`TransportEvent::Authenticated`]).
    pub(super) fn is_authenticated(&self) -> bool {
        self.path.authenticated
    }

    /// Its peer authenticated.
    pub(super) fn set_authenticated(&mut self) {
        self.path.authenticated = true;
    }

    pub(super) fn new(remote: SocketAddr, verified: bool, pes: u32) -> Self {
        let (remote, remote_v4) = match remote {
            SocketAddr::V4(a) => (
                SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0),
                true,
            ),
            SocketAddr::V6(a) => (a, false),
        };
        AssocEntry {
            remote,
            pes,
            path: Path {
                verified,
                authenticated: false,
                len: 0,
                remote_v4,
                number: 0,
            },
        }
    }

    /// The peer's address ([`TransportEvent::Up`]), exactly as reported.
    pub(super) fn remote(&self) -> SocketAddr {
        match self.remote.ip().to_ipv4_mapped() {
            Some(ip) if self.path.remote_v4 => {
                SocketAddr::V4(SocketAddrV4::new(ip, self.remote.port()))
            }
            _ => SocketAddr::V6(self.remote),
        }
    }
}

/// The answer budget of one message from an unverified source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Gate {
    source: Source,
    /// Where answers to the message go.
    dest: Destination,
    /// Bytes still allowed.
    budget: usize,
    /// Whether the challenge was considered already (once per message).
    challenged: bool,
}

/// What became of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// Queued.
    Queued,
    /// Too large for an unverified source: not sent.
    Withheld,
    /// No room in the transmit queue (counted).
    Full,
}

impl<
        B: Backend,
        S: Storage,
        const OWNED: usize,
        const ASSOCS: usize,
        const QUEUE: usize,
        const EVENTS: usize,
    > Registrar<B, S, OWNED, ASSOCS, QUEUE, EVENTS>
{
    /// Opens the answer budget of a message of `len` bytes from `source`:
    /// none for a verified association.
    pub(super) fn open_gate(&mut self, source: Source, len: usize) {
        let verified = match source {
            Source::Association(a) => self.assocs.get(&a).is_some_and(|e| e.path.is_verified()),
            Source::Datagram(_) => false,
        };
        self.gate = (!verified).then(|| Gate {
            source,
            dest: reply_to(source),
            budget: len.saturating_mul(AMPLIFICATION_LIMIT),
            challenged: false,
        });
    }

    /// Closes the budget once the message is handled.
    pub(super) fn close_gate(&mut self) {
        self.gate = None;
    }

    /// Whether an answer of `len` bytes to `dest` fits the budget
    /// (always, without one), without charging it.
    pub(super) fn answer_fits(&self, dest: Destination, len: usize) -> bool {
        match self.gate {
            Some(g) if g.dest == dest => len <= g.budget,
            _ => true,
        }
    }

    /// Charges an answer of `len` bytes to `dest` to the budget; when it
    /// does not fit, it is withheld (counted) and the challenge goes out
    /// instead.
    pub(super) fn may_answer(&mut self, dest: Destination, len: usize) -> bool {
        match self.gate.as_mut() {
            Some(g) if g.dest == dest => {
                if len <= g.budget {
                    g.budget -= len;
                    return true;
                }
            }
            _ => return true,
        }
        self.withhold();
        false
    }

    /// Counts a withheld answer and sends the challenge.
    pub(super) fn withhold(&mut self) {
        self.stats.answers_withheld += 1;
        net_debug!("registrar: answer to an unverified source withheld");
        self.challenge();
    }

    /// Queues an answer `message` to `dest` within the budget.
    pub(super) fn answer(&mut self, dest: Destination, message: &AsapMessage<'_>) -> Answer {
        if !self.may_answer(dest, message.buffer_len()) {
            return Answer::Withheld;
        }
        if self.push(dest, message) {
            Answer::Queued
        } else {
            Answer::Full
        }
    }

    /// Sends the challenge to the source of the message being handled, at
    /// most once per message and only within its budget: the association's
    /// current challenge when it fits, else a fresh one (which replaces
    /// it). A datagram source, or an association the table does not hold,
    /// has nowhere to keep a challenge and gets none.
    fn challenge(&mut self) {
        let Some(g) = self.gate.as_mut() else { return };
        if g.challenged {
            return;
        }
        g.challenged = true;
        let Source::Association(assoc) = g.source else {
            return;
        };
        // A multiple of four: the Cookie parameter needs no padding.
        let room = g.budget.saturating_sub(HEADER_LEN + TLV_HEADER_LEN);
        let len = room.min(CHALLENGE_LEN) & !3;
        if len < MIN_CHALLENGE_LEN {
            return;
        }
        let Some(entry) = self.assocs.get_mut(&assoc) else {
            return;
        };
        if entry.path.verified {
            return;
        }
        if entry.path.len == 0 || usize::from(entry.path.len) > len {
            entry.path.number = self.challenge_key.next();
            entry.path.len = len as u8;
        }
        let path = entry.path;
        let mut buf = [0u8; CHALLENGE_LEN];
        let msg = AsapMessage::Cookie {
            cookie: self.challenge_key.bytes(path.number, path.len, &mut buf),
        };
        let size = msg.buffer_len();
        if let Some(g) = self.gate.as_mut() {
            g.budget = g.budget.saturating_sub(size);
        }
        if self.push(Destination::Association(assoc), &msg) {
            self.stats.challenges_sent += 1;
        }
    }

    /// Keys the return-routability challenges with `key` (see the
    /// [module documentation](super), "Return routability"). By default the
    /// key comes from the generator seeded with [`RegistrarConfig::seed`],
    /// so a run repeats; a registrar that serves UDP peers is given a key
    /// from its host's randomness instead (the runtime does this), so that
    /// no one who knows or guesses the seed can predict a challenge. A
    /// challenge outstanding under the old key is no longer accepted: the
    /// next request of that association is challenged anew.
    pub fn set_challenge_key(&mut self, key: [u8; 16]) {
        self.challenge_key = ChallengeKey::from_bytes(key);
        for e in self.assocs.values_mut() {
            e.path.len = 0;
        }
    }

    /// ASAP_COOKIE_ECHO: the association's current challenge verifies its
    /// return path ([`Stats::paths_verified`]); anything else (another
    /// value, no challenge outstanding, a datagram) is dropped and counted
    /// ([`Stats::echoes_rejected`]).
    pub(super) fn on_cookie_echo(&mut self, source: Source, cookie: &[u8]) {
        let entry = match source {
            Source::Association(a) => self.assocs.get_mut(&a),
            Source::Datagram(_) => None,
        };
        let key = &self.challenge_key;
        let mut buf = [0u8; CHALLENGE_LEN];
        match entry {
            Some(e)
                if !e.path.verified
                    && e.path.len > 0
                    && same(key.bytes(e.path.number, e.path.len, &mut buf), cookie) =>
            {
                e.path.verified = true;
                e.path.len = 0;
                self.stats.paths_verified += 1;
                net_debug!("registrar: return path verified");
            }
            _ => self.stats.echoes_rejected += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_association_entry_keeps_its_remote_address_exactly_in_40_bytes() {
        assert_eq!(core::mem::size_of::<AssocEntry>(), 40);
        for remote in [
            "10.1.2.3:3863",
            "0.0.0.0:0",
            "[::ffff:10.1.2.3]:3863",
            "[2001:db8::1]:9",
            "[fe80::1%7]:3863",
        ] {
            let remote: SocketAddr = remote.parse().unwrap();
            let e = AssocEntry::new(remote, true, 5);
            assert_eq!(e.remote(), remote);
            assert_eq!(e.pes, 5);
            assert!(e.path.is_verified());
        }
        let flow = SocketAddr::V6(SocketAddrV6::new("2001:db8::2".parse().unwrap(), 1, 77, 3));
        assert_eq!(AssocEntry::new(flow, false, 0).remote(), flow);
    }

    #[test]
    fn siphash24_matches_the_reference_vector() {
        // The paper's key 00..0f and the 16-byte message 00..0f: output 16
        // of the reference implementation's vectors (vectors.h).
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let block = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        assert_eq!(siphash24(key, block), 0x3f2a_cc7f_57c2_9bdb);
    }
}
