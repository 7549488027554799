//! The handlespace's view of a policy: how PEs are ordered or weighed in the
//! selection order, and what selection and re-registration do to a PE's
//! state.
//!
//! Interim stand-in until the policy module provides its per-PE state: every
//! ordered policy sorts by (its load or priority key, sequence number), the
//! random ones weigh by their weight.

use core::cmp::Ordering;

use crate::policy::Policy;

/// A PE's policy state: its sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyState {
    seq: u64,
}

impl PolicyState {
    /// The sequence number.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}

/// Whether a pool selects by sort order or by weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SelectionKind {
    Ordered,
    Weighted,
}

pub(crate) fn selection_kind(p: &Policy) -> SelectionKind {
    match p {
        Policy::Random | Policy::WeightedRandom { .. } | Policy::RandomizedLeastUsed { .. } => {
            SelectionKind::Weighted
        }
        _ => SelectionKind::Ordered,
    }
}

fn key(p: &Policy) -> u64 {
    match *p {
        Policy::Priority { priority } => u64::from(!priority),
        Policy::LeastUsed { load } => u64::from(load),
        _ => 0,
    }
}

#[inline]
pub(crate) fn compare(a: &Policy, sa: &PolicyState, b: &Policy, sb: &PolicyState) -> Ordering {
    (key(a), sa.seq).cmp(&(key(b), sb.seq))
}

#[inline]
pub(crate) fn weight(p: &Policy, _s: &PolicyState) -> u64 {
    match *p {
        Policy::WeightedRandom { weight } => u64::from(weight),
        Policy::RandomizedLeastUsed { load } => u64::from(u32::MAX - load).max(1),
        _ => 1,
    }
}

pub(crate) fn initial_state(_p: &Policy, seq: u64) -> PolicyState {
    PolicyState { seq }
}

pub(crate) fn reregistered_state(
    _new: &Policy,
    _old: &Policy,
    old_state: &PolicyState,
    _seq: u64,
) -> PolicyState {
    *old_state
}

pub(crate) fn max_increment(p: &Policy) -> usize {
    match selection_kind(p) {
        SelectionKind::Ordered => 1,
        SelectionKind::Weighted => 0,
    }
}

#[inline]
pub(crate) fn on_selected(_p: &Policy, s: &mut PolicyState, seq: u64) {
    s.seq = seq;
}
