//! Selection behaviour of the policies: per-PE selection state, the order of
//! ordered policies, the weights of weighted ones, and the state updates
//! after a selection or a re-registration.
//!
//! # How a handlespace uses this
//!
//! Each PE carries a [`PolicyState`] beside its [`Policy`]. A pool keeps its
//! PEs in a tree ordered by [`Policy::compare`]. A handle resolution asking
//! for N PEs then
//!
//! * for [`SelectionKind::Ordered`] policies returns the first N PEs in that
//!   order;
//! * for [`SelectionKind::Weighted`] policies draws N distinct PEs at random,
//!   each draw with probability proportional to [`Policy::weight`] among the
//!   PEs not drawn yet (the tree order is then by sequence number only);
//!
//! and afterwards calls [`Policy::on_selected`] exactly once for each of the
//! first [`Policy::max_increment`] returned PEs, each time with a fresh
//! sequence number, removing the PE from the tree before and re-inserting it
//! after (the sort key may change).
//!
//! A new PE gets [`Policy::initial_state`]; a re-registered one
//! [`Policy::reregistered_state`] (remove it from the tree first). Before
//! inserting either, pass it through [`Policy::align_to_pool`] with the state
//! of the pool's first PE, so that a WRR PE joins the pool's current round.
//!
//! # Sequence numbers
//!
//! Sequence numbers come from one `u64` counter per handlespace that only
//! grows; every call that takes a `seq` wants a value never handed out
//! before. They break ties: among PEs that are otherwise equal the one with
//! the smaller sequence number comes first, so giving a selected PE a fresh
//! (largest) number moves it behind its equals — round robin. A `u64`
//! counter incremented a billion times per second wraps after about 584
//! years, so wrap-around is not handled (rsplib uses smaller counters that
//! start near the wrap point and must resequence; this crate does not).
//!
//! # Differences from rsplib and choices for the extended policies
//!
//! * State is updated once per selection, as RFC 5356 says; rsplib runs its
//!   update a second time when re-linking a selected PE (SPEC §15 item 18).
//! * WRR orders PEs within a round by the midpoint of their next slot
//!   (Webster/Sainte-Laguë spacing) instead of rsplib's ascending virtual
//!   counter, so a PE's selections are spread over the round instead of
//!   coming in bursts; see [`Policy::WeightedRoundRobin`] handling in
//!   [`Policy::compare`]. PEs with weight 0 come after all others.
//! * RLUD and RPLUD add the load degradation to the PE's degradation counter
//!   on each selection, as LUD and PLUD do; rsplib's update for them only
//!   recomputes the weight and never raises the counter.
//! * WRAND-DPF: a PE with weight 0 keeps weight 0 (it cannot serve, RFC 5356
//!   §3.1); any other PE's penalised weight is at least 1. rsplib gives
//!   weight 0 when the penalty exactly equals the weight and 1 when it
//!   exceeds it.
//! * PLU-DPF and PLUD-DPF are not in rsplib's policy table; they are PLU and
//!   PLUD with the LU-DPF distance penalty added to the sort value.
//! * Following rsplib rather than RFC 5356: the weight of the randomized
//!   least-used policies is at least 1, so a fully loaded PE can still be
//!   drawn (RFC: weight `0xFFFFFFFF − load`, i.e. 0); the sort value of the
//!   least-used policies is capped at 100 %, so PEs beyond it tie and rotate;
//!   only the first [`Policy::max_increment`] PEs of an answer are updated.
//! * All arithmetic is on `u64`/`u128` and saturates, so no parameter or
//!   state value can overflow or panic.

use core::cmp::Ordering;

use super::Policy;

/// 100 % load, the largest load, degradation and DPF value (RFC 5356 §3.1).
pub const FULL_LOAD: u64 = 0xFFFF_FFFF;

/// Per-PE selection state kept by the handlespace beside the PE's policy.
///
/// What the fields mean depends on the policy: every policy uses the
/// sequence number; WRR uses the round and the credit left in the round;
/// the degradation policies (LUD, PLUD, RLUD, RPLUD, LUD-DPF, PLUD-DPF)
/// use the accumulated degradation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PolicyState {
    /// Tie-breaking sequence number (smaller first).
    pub(crate) seq: u64,
    /// WRR: the round the PE is in.
    pub(crate) round: u64,
    /// WRR: selections left for the PE in its round (1..=weight; 0 for weight 0).
    pub(crate) credit: u32,
    /// Degradation policies: load degradation accumulated since the last
    /// (re-)registration (counter × load degradation, capped at 100 %).
    pub(crate) degradation: u32,
}

impl PolicyState {
    /// The tie-breaking sequence number.
    pub const fn sequence(&self) -> u64 {
        self.seq
    }

    /// WRR: the round the PE is in (0 for other policies).
    pub const fn round(&self) -> u64 {
        self.round
    }

    /// WRR: how many selections the PE has left in its round (0 for other policies).
    pub const fn credit(&self) -> u32 {
        self.credit
    }

    /// Degradation policies: the load degradation accumulated since the last
    /// (re-)registration, capped at 100 % (0 for other policies).
    pub const fn degradation(&self) -> u32 {
        self.degradation
    }
}

/// How a policy chooses among a pool's PEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SelectionKind {
    /// The first N PEs in [`Policy::compare`] order.
    Ordered,
    /// N distinct PEs drawn at random with probability proportional to
    /// [`Policy::weight`]; the tree order is by sequence number.
    Weighted,
}

/// `a + b + ...` capped at 100 % load.
fn capped_sum(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0u64, |sum, &p| sum.saturating_add(p))
        .min(FULL_LOAD)
}

/// The load penalty for a distance: `distance × load_dpf / 100 % × 100 %`,
/// i.e. `distance × load_dpf` (rsplib's LU-DPF), which cannot overflow `u64`.
fn distance_penalty(distance: u32, load_dpf: u32) -> u64 {
    u64::from(distance) * u64::from(load_dpf)
}

/// The selection weight of a randomized least-used policy: the unused
/// capacity `100 % − load`, at least 1 (rsplib: a PE must stay selectable).
fn headroom(effective_load: u64) -> u64 {
    FULL_LOAD.saturating_sub(effective_load).max(1)
}

/// WRAND-DPF: `weight − round(weight × distance × weight_dpf / 100 %)`,
/// at least 1; weight 0 stays 0.
fn penalised_weight(weight: u32, weight_dpf: u32, distance: u32) -> u64 {
    if weight == 0 {
        return 0;
    }
    let w = u128::from(weight);
    let product = w * u128::from(distance) * u128::from(weight_dpf);
    let full = u128::from(FULL_LOAD);
    // FULL_LOAD is odd, so the remainder is never exactly one half: rounding
    // to nearest is unambiguous.
    let mut penalty = product / full;
    if 2 * (product % full) > full {
        penalty += 1;
    }
    if penalty >= w {
        1
    } else {
        // w − penalty < 2^32.
        (w - penalty) as u64
    }
}

/// WRR: compares the positions of the next slots of two PEs within a round,
/// `(2 × used + 1) / (2 × weight)` with `used = weight − credit`, exactly.
/// Both weights must be non-zero.
fn wrr_slot_cmp(wa: u32, ca: u32, wb: u32, cb: u32) -> Ordering {
    let used_a = u128::from(wa.saturating_sub(ca));
    let used_b = u128::from(wb.saturating_sub(cb));
    let lhs = (2 * used_a + 1) * u128::from(wb);
    let rhs = (2 * used_b + 1) * u128::from(wa);
    lhs.cmp(&rhs)
}

impl Policy {
    /// Whether the policy selects in an order or at random by weight.
    pub const fn selection_kind(&self) -> SelectionKind {
        match self {
            Policy::Random
            | Policy::WeightedRandom { .. }
            | Policy::RandomizedLeastUsed { .. }
            | Policy::RandomizedPriorityLeastUsed { .. }
            | Policy::RandomizedLeastUsedDegradation { .. }
            | Policy::RandomizedPriorityLeastUsedDegradation { .. }
            | Policy::WeightedRandomDpf { .. } => SelectionKind::Weighted,
            Policy::RoundRobin
            | Policy::WeightedRoundRobin { .. }
            | Policy::Priority { .. }
            | Policy::LeastUsed { .. }
            | Policy::LeastUsedDegradation { .. }
            | Policy::PriorityLeastUsed { .. }
            | Policy::PriorityLeastUsedDegradation { .. }
            | Policy::LeastUsedDpf { .. }
            | Policy::LeastUsedDegradationDpf { .. }
            | Policy::PriorityLeastUsedDpf { .. }
            | Policy::PriorityLeastUsedDegradationDpf { .. } => SelectionKind::Ordered,
        }
    }

    /// The load a least-used policy selects by, in `0..=FULL_LOAD`, or `None`
    /// for policies that do not look at load (RR, WRR, RAND, WRAND, PRIO,
    /// WRAND-DPF).
    ///
    /// Ordered least-used policies prefer the smallest value; randomized ones
    /// draw with weight `max(1, FULL_LOAD − value)`. The value is the sum,
    /// capped at 100 %, of:
    ///
    /// | Policy | Sum |
    /// |---|---|
    /// | LU, RLU | load |
    /// | LUD, RLUD | load + accumulated degradation |
    /// | PLU, RPLU | load + load degradation |
    /// | PLUD, RPLUD | load + load degradation + accumulated degradation |
    /// | LU-DPF | load + distance × load DPF |
    /// | LUD-DPF | load + accumulated degradation + distance × load DPF |
    /// | PLU-DPF | load + load degradation + distance × load DPF |
    /// | PLUD-DPF | load + load degradation + accumulated degradation + distance × load DPF |
    ///
    /// The accumulated degradation is [`PolicyState::degradation`]. The
    /// distance penalty is rsplib's `distance × (load_dpf / 100 %) × 100 %`.
    pub fn effective_load(&self, state: &PolicyState) -> Option<u64> {
        let acc = u64::from(state.degradation);
        Some(match *self {
            Policy::LeastUsed { load } | Policy::RandomizedLeastUsed { load } => u64::from(load),
            Policy::LeastUsedDegradation { load, .. }
            | Policy::RandomizedLeastUsedDegradation { load, .. } => {
                capped_sum(&[u64::from(load), acc])
            }
            Policy::PriorityLeastUsed { load, degradation }
            | Policy::RandomizedPriorityLeastUsed { load, degradation } => {
                capped_sum(&[u64::from(load), u64::from(degradation)])
            }
            Policy::PriorityLeastUsedDegradation { load, degradation }
            | Policy::RandomizedPriorityLeastUsedDegradation { load, degradation } => {
                capped_sum(&[u64::from(load), u64::from(degradation), acc])
            }
            Policy::LeastUsedDpf {
                load,
                load_dpf,
                distance,
            } => capped_sum(&[u64::from(load), distance_penalty(distance, load_dpf)]),
            Policy::LeastUsedDegradationDpf {
                load,
                load_dpf,
                distance,
                ..
            } => capped_sum(&[u64::from(load), acc, distance_penalty(distance, load_dpf)]),
            Policy::PriorityLeastUsedDpf {
                load,
                degradation,
                load_dpf,
                distance,
            } => capped_sum(&[
                u64::from(load),
                u64::from(degradation),
                distance_penalty(distance, load_dpf),
            ]),
            Policy::PriorityLeastUsedDegradationDpf {
                load,
                degradation,
                load_dpf,
                distance,
            } => capped_sum(&[
                u64::from(load),
                u64::from(degradation),
                acc,
                distance_penalty(distance, load_dpf),
            ]),
            Policy::RoundRobin
            | Policy::WeightedRoundRobin { .. }
            | Policy::Random
            | Policy::WeightedRandom { .. }
            | Policy::Priority { .. }
            | Policy::WeightedRandomDpf { .. } => return None,
        })
    }

    /// Total order of two PEs of one pool in selection order, preferred first.
    ///
    /// Never returns `Equal` for two states with different sequence numbers;
    /// among otherwise equal PEs the smaller sequence number comes first.
    ///
    /// | Policy | Order |
    /// |---|---|
    /// | RR, and all weighted policies | sequence number |
    /// | WRR | weight 0 last; then round; then position of the next slot in the round, `(2·used + 1) / (2·weight)`; then sequence number |
    /// | PRIO | priority descending, then sequence number |
    /// | LU, LUD, PLU, PLUD and their DPF variants | [`effective_load`](Policy::effective_load) ascending, then sequence number |
    ///
    /// Both policies should be of the same type (a pool has one policy type);
    /// if they are not, the order is by policy type, then as above, which is
    /// still a total order.
    pub fn compare(
        a: &Policy,
        a_state: &PolicyState,
        b: &Policy,
        b_state: &PolicyState,
    ) -> Ordering {
        let by_seq = a_state.seq.cmp(&b_state.seq);
        let (ta, tb) = (a.policy_type(), b.policy_type());
        if ta != tb {
            return ta.cmp(&tb).then(by_seq);
        }
        match (*a, *b) {
            (
                Policy::WeightedRoundRobin { weight: wa },
                Policy::WeightedRoundRobin { weight: wb },
            ) => (wa == 0)
                .cmp(&(wb == 0))
                .then(a_state.round.cmp(&b_state.round))
                .then_with(|| {
                    if wa == 0 || wb == 0 {
                        Ordering::Equal
                    } else {
                        wrr_slot_cmp(wa, a_state.credit, wb, b_state.credit)
                    }
                })
                .then(by_seq),
            (Policy::Priority { priority: pa }, Policy::Priority { priority: pb }) => {
                pb.cmp(&pa).then(by_seq)
            }
            _ => match (a.effective_load(a_state), b.effective_load(b_state)) {
                (Some(la), Some(lb)) if a.selection_kind() == SelectionKind::Ordered => {
                    la.cmp(&lb).then(by_seq)
                }
                _ => by_seq,
            },
        }
    }

    /// Selection weight for [`SelectionKind::Weighted`] policies (0 = never
    /// chosen); 0 for ordered ones.
    ///
    /// | Policy | Weight |
    /// |---|---|
    /// | RAND | 1 |
    /// | WRAND | weight |
    /// | RLU, RPLU, RLUD, RPLUD | `max(1, FULL_LOAD − effective_load)` (see [`effective_load`](Policy::effective_load)) |
    /// | WRAND-DPF | 0 if weight is 0; else `max(1, weight − round(weight × distance × weight_dpf / FULL_LOAD))` |
    pub fn weight(&self, state: &PolicyState) -> u64 {
        match *self {
            Policy::Random => 1,
            Policy::WeightedRandom { weight } => u64::from(weight),
            Policy::WeightedRandomDpf {
                weight,
                weight_dpf,
                distance,
            } => penalised_weight(weight, weight_dpf, distance),
            Policy::RandomizedLeastUsed { .. }
            | Policy::RandomizedPriorityLeastUsed { .. }
            | Policy::RandomizedLeastUsedDegradation { .. }
            | Policy::RandomizedPriorityLeastUsedDegradation { .. } => {
                headroom(self.effective_load(state).unwrap_or(FULL_LOAD))
            }
            _ => 0,
        }
    }

    /// State of a newly registered PE; `seq` is a fresh sequence number.
    ///
    /// A WRR PE starts in round 0 with its full weight as credit. That is
    /// right for the first PE of a pool; a PE joining a pool that has already
    /// served rounds should then be passed through
    /// [`align_to_pool`](Policy::align_to_pool), or it would be preferred
    /// until it has caught up with the pool's round.
    pub fn initial_state(&self, seq: u64) -> PolicyState {
        PolicyState {
            seq,
            round: 0,
            credit: self.full_credit(),
            degradation: 0,
        }
    }

    /// State after a re-registration that changes the policy from `old` to
    /// `self` (or keeps it).
    ///
    /// * The sequence number is kept, so a periodic re-registration does not
    ///   move the PE in round-robin order; `_seq` is not used.
    /// * The accumulated degradation is reset to 0 (RFC 5356 §4.5 resets it
    ///   whenever the PE is updated by re-registration; rsplib resets it when
    ///   the settings changed or it is non-zero, which is the same).
    /// * WRR keeps the round and caps the credit left at the new weight, as
    ///   rsplib does; a PE whose weight changes between 0 and non-zero gets
    ///   the full new weight as credit. A PE coming back from weight 0 may
    ///   lag behind the pool's round: see [`align_to_pool`](Policy::align_to_pool).
    /// * If the policy type changes (a handlespace rejects that), the result
    ///   is [`initial_state`](Policy::initial_state) with the old sequence number.
    pub fn reregistered_state(
        &self,
        old: &Policy,
        old_state: &PolicyState,
        _seq: u64,
    ) -> PolicyState {
        if old.policy_type() != self.policy_type() {
            return self.initial_state(old_state.seq);
        }
        let mut state = *old_state;
        state.degradation = 0;
        state.credit = match (*self, *old) {
            (
                Policy::WeightedRoundRobin { weight },
                Policy::WeightedRoundRobin { weight: old_weight },
            ) => {
                if weight == 0 {
                    0
                } else if old_weight == 0 || state.credit == 0 {
                    weight
                } else {
                    state.credit.min(weight)
                }
            }
            _ => 0,
        };
        state
    }

    /// Brings the state of a PE that enters a pool's selection order (newly
    /// registered, or re-registered) in line with the pool, given the state
    /// of the pool's current first PE in selection order (another PE).
    ///
    /// For WRR the PE joins the round of that first PE if it is behind it
    /// (rsplib gives a new PE the round of the pool's first PE), so that it is
    /// not preferred for the rounds it missed. For all other policies the
    /// state is left as it is.
    pub fn align_to_pool(&self, state: &mut PolicyState, first_in_pool: &PolicyState) {
        if let Policy::WeightedRoundRobin { .. } = self {
            state.round = state.round.max(first_in_pool.round);
        }
    }

    /// How many of the selected PEs are updated by
    /// [`on_selected`](Policy::on_selected) after a handle resolution
    /// (rsplib's default maxIncrement): 0 for RAND, WRAND and WRAND-DPF
    /// (selection does not change them), 1 for all others.
    pub const fn max_increment(&self) -> usize {
        match self {
            Policy::Random | Policy::WeightedRandom { .. } | Policy::WeightedRandomDpf { .. } => 0,
            _ => 1,
        }
    }

    /// Updates the state of a PE that was just selected; call exactly once
    /// per selection with a fresh sequence number `seq`.
    ///
    /// Every policy takes the new sequence number (so the PE goes behind its
    /// equals). In addition:
    ///
    /// * WRR: one credit is used; when the last one is used the PE moves to
    ///   the next round with its full weight as credit.
    /// * LUD, PLUD, RLUD, RPLUD, LUD-DPF, PLUD-DPF: the load degradation is
    ///   added to the accumulated degradation (saturating at 100 %).
    pub fn on_selected(&self, state: &mut PolicyState, seq: u64) {
        state.seq = seq;
        match *self {
            Policy::WeightedRoundRobin { weight } => {
                if state.credit > 1 {
                    state.credit -= 1;
                } else {
                    state.round = state.round.saturating_add(1);
                    state.credit = weight;
                }
            }
            Policy::LeastUsedDegradation { degradation, .. }
            | Policy::PriorityLeastUsedDegradation { degradation, .. }
            | Policy::RandomizedLeastUsedDegradation { degradation, .. }
            | Policy::RandomizedPriorityLeastUsedDegradation { degradation, .. }
            | Policy::LeastUsedDegradationDpf { degradation, .. }
            | Policy::PriorityLeastUsedDegradationDpf { degradation, .. } => {
                let sum = capped_sum(&[u64::from(state.degradation), u64::from(degradation)]);
                // capped_sum is at most FULL_LOAD = u32::MAX.
                state.degradation = u32::try_from(sum).unwrap_or(u32::MAX);
            }
            _ => {}
        }
    }

    /// The PE's sequence number (same as [`PolicyState::sequence`]).
    pub const fn sequence(state: &PolicyState) -> u64 {
        state.seq
    }

    /// WRR: the credit a PE starts a round with (its weight); 0 otherwise.
    const fn full_credit(&self) -> u32 {
        match *self {
            Policy::WeightedRoundRobin { weight } => weight,
            _ => 0,
        }
    }
}

#[cfg(test)]
#[path = "selection_tests.rs"]
mod tests;
