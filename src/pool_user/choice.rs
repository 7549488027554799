//! The user side of the selection policies (RFC 5356 §4-§5, SPEC §12.3):
//! which cached PE a pool user takes, given the pool's overall policy.
//!
//! * RR, WRR: round robin over the list as the registrar returned it.
//! * RAND, WRAND, RLU and the other randomized policies, WRAND-DPF: at
//!   random, with probability proportional to [`Policy::weight`] of each
//!   PE's own policy parameters (1 each for RAND; a weight of 0 is never
//!   taken unless every PE has 0, then none is).
//! * PRIO: the highest priority; the earliest in the list among equals.
//! * LU and the other ordered least-used policies: the least effective
//!   load ([`Policy::effective_load`] of the PE's parameters); the earliest
//!   in the list among equals (the registrar sorts ascending).

use crate::policy::{Policy, PolicyState, SelectionKind};
use crate::random::{below, Rng};

/// What the choice needs to know of one cached PE.
pub(crate) trait Candidate {
    /// The PE's own policy parameters, if known.
    fn policy(&self) -> Option<Policy>;
}

/// The policy to read a PE's parameters from: its own if it has the
/// pool's policy type, else the pool's.
fn effective<C: Candidate>(overall: Policy, c: &C) -> Policy {
    match c.policy() {
        Some(p) if p.policy_type() == overall.policy_type() => p,
        _ => overall,
    }
}

/// Picks the index of a PE in `list` by the pool's `overall` policy.
/// `rr_next` is the pool's round-robin position (advanced when used).
pub(crate) fn choose<C: Candidate, R: Rng + ?Sized>(
    overall: Policy,
    list: &[C],
    rr_next: &mut usize,
    rng: &mut R,
) -> Option<usize> {
    if list.is_empty() {
        return None;
    }
    let state = PolicyState::default();
    match overall.selection_kind() {
        SelectionKind::Weighted => {
            let total: u64 = list
                .iter()
                .map(|c| effective(overall, c).weight(&state))
                .fold(0u64, u64::saturating_add);
            if total == 0 {
                return None;
            }
            let mut x = below(rng, total);
            for (i, c) in list.iter().enumerate() {
                let w = effective(overall, c).weight(&state);
                if x < w {
                    return Some(i);
                }
                x -= w;
            }
            Some(list.len() - 1)
        }
        SelectionKind::Ordered => match overall {
            Policy::RoundRobin | Policy::WeightedRoundRobin { .. } => {
                let i = *rr_next % list.len();
                *rr_next = i + 1;
                Some(i)
            }
            Policy::Priority { .. } => {
                let priority = |c: &C| match effective(overall, c) {
                    Policy::Priority { priority } => priority,
                    _ => 0,
                };
                let mut best = 0;
                for (i, c) in list.iter().enumerate().skip(1) {
                    if priority(c) > priority(&list[best]) {
                        best = i;
                    }
                }
                Some(best)
            }
            _ => {
                let load = |c: &C| {
                    effective(overall, c)
                        .effective_load(&state)
                        .unwrap_or(u64::MAX)
                };
                let mut best = 0;
                for (i, c) in list.iter().enumerate().skip(1) {
                    if load(c) < load(&list[best]) {
                        best = i;
                    }
                }
                Some(best)
            }
        },
    }
}
