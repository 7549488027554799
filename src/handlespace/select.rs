//! The handlespace's calls into the policies (see
//! [`Policy::compare`] and its neighbours): how PEs are ordered or weighed in the
//! selection order, and what selection and re-registration do to a PE's
//! state. Kept in one place so that the handlespace reads as storage logic.

use core::cmp::Ordering;

use crate::policy::Policy;
pub use crate::policy::{PolicyState, SelectionKind};

#[inline]
pub(crate) fn selection_kind(p: &Policy) -> SelectionKind {
    p.selection_kind()
}

/// [`Policy::compare`], with the common cases of one pool's PEs spelt out so
/// that tree walks do not go through the general match: RR and the weighted
/// policies order by sequence number only, LU by load, then sequence number.
/// The model tests check that it agrees with [`Policy::compare`].
#[inline]
pub(crate) fn compare(a: &Policy, sa: &PolicyState, b: &Policy, sb: &PolicyState) -> Ordering {
    let by_seq = || sa.sequence().cmp(&sb.sequence());
    match (a, b) {
        (Policy::RoundRobin, Policy::RoundRobin)
        | (Policy::Random, Policy::Random)
        | (Policy::WeightedRandom { .. }, Policy::WeightedRandom { .. }) => by_seq(),
        (Policy::LeastUsed { load: la }, Policy::LeastUsed { load: lb }) => {
            la.cmp(lb).then_with(by_seq)
        }
        _ => Policy::compare(a, sa, b, sb),
    }
}

#[inline]
pub(crate) fn weight(p: &Policy, s: &PolicyState) -> u64 {
    p.weight(s)
}

#[inline]
pub(crate) fn initial_state(p: &Policy, seq: u64) -> PolicyState {
    p.initial_state(seq)
}

#[inline]
pub(crate) fn reregistered_state(
    new: &Policy,
    old: &Policy,
    old_state: &PolicyState,
    seq: u64,
) -> PolicyState {
    new.reregistered_state(old, old_state, seq)
}

#[inline]
pub(crate) fn align_to_pool(p: &Policy, state: &mut PolicyState, first: &PolicyState) {
    p.align_to_pool(state, first)
}

#[inline]
pub(crate) fn max_increment(p: &Policy) -> usize {
    p.max_increment()
}

#[inline]
pub(crate) fn on_selected(p: &Policy, s: &mut PolicyState, seq: u64) {
    p.on_selected(s, seq)
}
