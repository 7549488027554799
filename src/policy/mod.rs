//! Pool member selection policies (RFC 5356 and the extended policies of
//! rsplib): their identifiers, parameters and selection behaviour.
//!
//! A [`Policy`] is what a pool element registers with: the policy type and
//! its parameters. Values called *load*, *degradation* and *DPF* are fractions
//! scaled to `u32` (0 = 0 %, `0xFFFF_FFFF` = 100 %, RFC 5356 §3.1); a *weight*
//! of 0 means the PE cannot serve.

use core::fmt;

mod selection;

pub use selection::{PolicyState, SelectionKind, FULL_LOAD};

/// Policy type identifiers (RFC 5356 §7.1 and rsplib's extensions).
pub mod id {
    /// Round Robin.
    pub const ROUND_ROBIN: u32 = 0x0000_0001;
    /// Weighted Round Robin.
    pub const WEIGHTED_ROUND_ROBIN: u32 = 0x0000_0002;
    /// Random.
    pub const RANDOM: u32 = 0x0000_0003;
    /// Weighted Random.
    pub const WEIGHTED_RANDOM: u32 = 0x0000_0004;
    /// Priority.
    pub const PRIORITY: u32 = 0x0000_0005;
    /// Least Used.
    pub const LEAST_USED: u32 = 0x4000_0001;
    /// Least Used with Degradation.
    pub const LEAST_USED_DEGRADATION: u32 = 0x4000_0002;
    /// Priority Least Used.
    pub const PRIORITY_LEAST_USED: u32 = 0x4000_0003;
    /// Randomized Least Used.
    pub const RANDOMIZED_LEAST_USED: u32 = 0x4000_0004;
    /// Randomized Priority Least Used (rsplib).
    pub const RANDOMIZED_PRIORITY_LEAST_USED: u32 = 0xB000_1001;
    /// Randomized Least Used with Degradation (rsplib).
    pub const RANDOMIZED_LEAST_USED_DEGRADATION: u32 = 0xB000_1002;
    /// Priority Least Used with Degradation (rsplib).
    pub const PRIORITY_LEAST_USED_DEGRADATION: u32 = 0xB000_1003;
    /// Randomized Priority Least Used with Degradation (rsplib).
    pub const RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION: u32 = 0xB000_1004;
    /// Weighted Random with Distance Penalty Factor (rsplib).
    pub const WEIGHTED_RANDOM_DPF: u32 = 0xB000_2001;
    /// Least Used with Distance Penalty Factor (rsplib).
    pub const LEAST_USED_DPF: u32 = 0xB000_2002;
    /// Least Used with Degradation and Distance Penalty Factor (rsplib).
    pub const LEAST_USED_DEGRADATION_DPF: u32 = 0xB000_2003;
    /// Priority Least Used with Distance Penalty Factor (rsplib numbering).
    pub const PRIORITY_LEAST_USED_DPF: u32 = 0xB000_2004;
    /// Priority Least Used with Degradation and Distance Penalty Factor (rsplib numbering).
    pub const PRIORITY_LEAST_USED_DEGRADATION_DPF: u32 = 0xB000_2005;
}

/// The most parameters any policy carries after its type.
pub const MAX_POLICY_PARAMS: usize = 4;

/// A pool member selection policy with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Policy {
    /// Round Robin (RR).
    RoundRobin,
    /// Weighted Round Robin (WRR).
    WeightedRoundRobin {
        /// Relative capacity.
        weight: u32,
    },
    /// Random (RAND).
    Random,
    /// Weighted Random (WRAND).
    WeightedRandom {
        /// Relative capacity.
        weight: u32,
    },
    /// Priority (PRIO): the highest priority first.
    Priority {
        /// Larger is preferred.
        priority: u32,
    },
    /// Least Used (LU).
    LeastUsed {
        /// Current load.
        load: u32,
    },
    /// Least Used with Degradation (LUD).
    LeastUsedDegradation {
        /// Current load.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
    },
    /// Priority Least Used (PLU): ordered by load + load degradation.
    PriorityLeastUsed {
        /// Current load.
        load: u32,
        /// Load one more request would add.
        degradation: u32,
    },
    /// Randomized Least Used (RLU).
    RandomizedLeastUsed {
        /// Current load.
        load: u32,
    },
    /// Randomized Priority Least Used (RPLU).
    RandomizedPriorityLeastUsed {
        /// Current load.
        load: u32,
        /// Load one more request would add.
        degradation: u32,
    },
    /// Randomized Least Used with Degradation (RLUD).
    RandomizedLeastUsedDegradation {
        /// Current load.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
    },
    /// Priority Least Used with Degradation (PLUD).
    PriorityLeastUsedDegradation {
        /// Current load.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
    },
    /// Randomized Priority Least Used with Degradation (RPLUD).
    RandomizedPriorityLeastUsedDegradation {
        /// Current load.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
    },
    /// Weighted Random with Distance Penalty Factor (WRAND-DPF).
    WeightedRandomDpf {
        /// Relative capacity.
        weight: u32,
        /// Weight penalty per unit of distance.
        weight_dpf: u32,
        /// Distance to the PE.
        distance: u32,
    },
    /// Least Used with Distance Penalty Factor (LU-DPF).
    LeastUsedDpf {
        /// Current load.
        load: u32,
        /// Load penalty per unit of distance.
        load_dpf: u32,
        /// Distance to the PE.
        distance: u32,
    },
    /// Least Used with Degradation and Distance Penalty Factor (LUD-DPF).
    LeastUsedDegradationDpf {
        /// Current load.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
        /// Load penalty per unit of distance.
        load_dpf: u32,
        /// Distance to the PE.
        distance: u32,
    },
    /// Priority Least Used with Distance Penalty Factor (PLU-DPF).
    PriorityLeastUsedDpf {
        /// Current load.
        load: u32,
        /// Load one more request would add.
        degradation: u32,
        /// Load penalty per unit of distance.
        load_dpf: u32,
        /// Distance to the PE.
        distance: u32,
    },
    /// Priority Least Used with Degradation and Distance Penalty Factor (PLUD-DPF).
    PriorityLeastUsedDegradationDpf {
        /// Current load.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
        /// Load penalty per unit of distance.
        load_dpf: u32,
        /// Distance to the PE.
        distance: u32,
    },
}

/// Why a policy could not be built from a type and parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PolicyError {
    /// The policy type is not one this crate implements.
    UnknownType(u32),
    /// The number of parameters does not match the policy type.
    WrongParameterCount {
        /// The policy type.
        policy_type: u32,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        found: usize,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::UnknownType(t) => write!(f, "unknown policy type {t:#010x}"),
            PolicyError::WrongParameterCount {
                policy_type,
                expected,
                found,
            } => write!(
                f,
                "policy {policy_type:#010x} takes {expected} parameters, found {found}"
            ),
        }
    }
}

impl core::error::Error for PolicyError {}

/// Every policy type this crate implements, in table order.
pub const ALL_POLICY_TYPES: [u32; 18] = [
    id::ROUND_ROBIN,
    id::WEIGHTED_ROUND_ROBIN,
    id::RANDOM,
    id::WEIGHTED_RANDOM,
    id::PRIORITY,
    id::LEAST_USED,
    id::LEAST_USED_DEGRADATION,
    id::PRIORITY_LEAST_USED,
    id::RANDOMIZED_LEAST_USED,
    id::RANDOMIZED_PRIORITY_LEAST_USED,
    id::RANDOMIZED_LEAST_USED_DEGRADATION,
    id::PRIORITY_LEAST_USED_DEGRADATION,
    id::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION,
    id::WEIGHTED_RANDOM_DPF,
    id::LEAST_USED_DPF,
    id::LEAST_USED_DEGRADATION_DPF,
    id::PRIORITY_LEAST_USED_DPF,
    id::PRIORITY_LEAST_USED_DEGRADATION_DPF,
];

impl Policy {
    /// The policy type identifier sent on the wire.
    pub const fn policy_type(&self) -> u32 {
        match self {
            Policy::RoundRobin => id::ROUND_ROBIN,
            Policy::WeightedRoundRobin { .. } => id::WEIGHTED_ROUND_ROBIN,
            Policy::Random => id::RANDOM,
            Policy::WeightedRandom { .. } => id::WEIGHTED_RANDOM,
            Policy::Priority { .. } => id::PRIORITY,
            Policy::LeastUsed { .. } => id::LEAST_USED,
            Policy::LeastUsedDegradation { .. } => id::LEAST_USED_DEGRADATION,
            Policy::PriorityLeastUsed { .. } => id::PRIORITY_LEAST_USED,
            Policy::RandomizedLeastUsed { .. } => id::RANDOMIZED_LEAST_USED,
            Policy::RandomizedPriorityLeastUsed { .. } => id::RANDOMIZED_PRIORITY_LEAST_USED,
            Policy::RandomizedLeastUsedDegradation { .. } => id::RANDOMIZED_LEAST_USED_DEGRADATION,
            Policy::PriorityLeastUsedDegradation { .. } => id::PRIORITY_LEAST_USED_DEGRADATION,
            Policy::RandomizedPriorityLeastUsedDegradation { .. } => {
                id::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION
            }
            Policy::WeightedRandomDpf { .. } => id::WEIGHTED_RANDOM_DPF,
            Policy::LeastUsedDpf { .. } => id::LEAST_USED_DPF,
            Policy::LeastUsedDegradationDpf { .. } => id::LEAST_USED_DEGRADATION_DPF,
            Policy::PriorityLeastUsedDpf { .. } => id::PRIORITY_LEAST_USED_DPF,
            Policy::PriorityLeastUsedDegradationDpf { .. } => {
                id::PRIORITY_LEAST_USED_DEGRADATION_DPF
            }
        }
    }

    /// The number of `u32` parameters a policy type carries, or `None` for an unknown type.
    #[inline]
    pub const fn parameter_count(policy_type: u32) -> Option<usize> {
        Some(match policy_type {
            id::ROUND_ROBIN | id::RANDOM => 0,
            id::WEIGHTED_ROUND_ROBIN
            | id::WEIGHTED_RANDOM
            | id::PRIORITY
            | id::LEAST_USED
            | id::RANDOMIZED_LEAST_USED => 1,
            id::LEAST_USED_DEGRADATION
            | id::PRIORITY_LEAST_USED
            | id::RANDOMIZED_PRIORITY_LEAST_USED
            | id::RANDOMIZED_LEAST_USED_DEGRADATION
            | id::PRIORITY_LEAST_USED_DEGRADATION
            | id::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION => 2,
            id::WEIGHTED_RANDOM_DPF | id::LEAST_USED_DPF => 3,
            id::LEAST_USED_DEGRADATION_DPF
            | id::PRIORITY_LEAST_USED_DPF
            | id::PRIORITY_LEAST_USED_DEGRADATION_DPF => 4,
            _ => return None,
        })
    }

    /// Builds a policy from its type and its parameters in wire order.
    #[inline(always)]
    pub fn from_parameters(policy_type: u32, params: &[u32]) -> Result<Policy, PolicyError> {
        let expected =
            Policy::parameter_count(policy_type).ok_or(PolicyError::UnknownType(policy_type))?;
        if params.len() != expected {
            return Err(PolicyError::WrongParameterCount {
                policy_type,
                expected,
                found: params.len(),
            });
        }
        let p = |i: usize| params[i];
        Ok(match policy_type {
            id::ROUND_ROBIN => Policy::RoundRobin,
            id::WEIGHTED_ROUND_ROBIN => Policy::WeightedRoundRobin { weight: p(0) },
            id::RANDOM => Policy::Random,
            id::WEIGHTED_RANDOM => Policy::WeightedRandom { weight: p(0) },
            id::PRIORITY => Policy::Priority { priority: p(0) },
            id::LEAST_USED => Policy::LeastUsed { load: p(0) },
            id::LEAST_USED_DEGRADATION => Policy::LeastUsedDegradation {
                load: p(0),
                degradation: p(1),
            },
            id::PRIORITY_LEAST_USED => Policy::PriorityLeastUsed {
                load: p(0),
                degradation: p(1),
            },
            id::RANDOMIZED_LEAST_USED => Policy::RandomizedLeastUsed { load: p(0) },
            id::RANDOMIZED_PRIORITY_LEAST_USED => Policy::RandomizedPriorityLeastUsed {
                load: p(0),
                degradation: p(1),
            },
            id::RANDOMIZED_LEAST_USED_DEGRADATION => Policy::RandomizedLeastUsedDegradation {
                load: p(0),
                degradation: p(1),
            },
            id::PRIORITY_LEAST_USED_DEGRADATION => Policy::PriorityLeastUsedDegradation {
                load: p(0),
                degradation: p(1),
            },
            id::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION => {
                Policy::RandomizedPriorityLeastUsedDegradation {
                    load: p(0),
                    degradation: p(1),
                }
            }
            id::WEIGHTED_RANDOM_DPF => Policy::WeightedRandomDpf {
                weight: p(0),
                weight_dpf: p(1),
                distance: p(2),
            },
            id::LEAST_USED_DPF => Policy::LeastUsedDpf {
                load: p(0),
                load_dpf: p(1),
                distance: p(2),
            },
            id::LEAST_USED_DEGRADATION_DPF => Policy::LeastUsedDegradationDpf {
                load: p(0),
                degradation: p(1),
                load_dpf: p(2),
                distance: p(3),
            },
            id::PRIORITY_LEAST_USED_DPF => Policy::PriorityLeastUsedDpf {
                load: p(0),
                degradation: p(1),
                load_dpf: p(2),
                distance: p(3),
            },
            id::PRIORITY_LEAST_USED_DEGRADATION_DPF => Policy::PriorityLeastUsedDegradationDpf {
                load: p(0),
                degradation: p(1),
                load_dpf: p(2),
                distance: p(3),
            },
            other => return Err(PolicyError::UnknownType(other)),
        })
    }

    /// The parameters in wire order: the array and how many of it are used.
    pub const fn parameters(&self) -> ([u32; MAX_POLICY_PARAMS], usize) {
        match *self {
            Policy::RoundRobin | Policy::Random => ([0; 4], 0),
            Policy::WeightedRoundRobin { weight } | Policy::WeightedRandom { weight } => {
                ([weight, 0, 0, 0], 1)
            }
            Policy::Priority { priority } => ([priority, 0, 0, 0], 1),
            Policy::LeastUsed { load } | Policy::RandomizedLeastUsed { load } => {
                ([load, 0, 0, 0], 1)
            }
            Policy::LeastUsedDegradation { load, degradation }
            | Policy::PriorityLeastUsed { load, degradation }
            | Policy::RandomizedPriorityLeastUsed { load, degradation }
            | Policy::RandomizedLeastUsedDegradation { load, degradation }
            | Policy::PriorityLeastUsedDegradation { load, degradation }
            | Policy::RandomizedPriorityLeastUsedDegradation { load, degradation } => {
                ([load, degradation, 0, 0], 2)
            }
            Policy::WeightedRandomDpf {
                weight,
                weight_dpf,
                distance,
            } => ([weight, weight_dpf, distance, 0], 3),
            Policy::LeastUsedDpf {
                load,
                load_dpf,
                distance,
            } => ([load, load_dpf, distance, 0], 3),
            Policy::LeastUsedDegradationDpf {
                load,
                degradation,
                load_dpf,
                distance,
            }
            | Policy::PriorityLeastUsedDpf {
                load,
                degradation,
                load_dpf,
                distance,
            }
            | Policy::PriorityLeastUsedDegradationDpf {
                load,
                degradation,
                load_dpf,
                distance,
            } => ([load, degradation, load_dpf, distance], 4),
        }
    }

    /// The short name used by rsplib and in this crate's tools (e.g. `"RR"`, `"WRAND-DPF"`).
    pub const fn short_name(&self) -> &'static str {
        Policy::short_name_of(self.policy_type())
    }

    /// The short name of a policy type, or `"?"` for an unknown one.
    pub const fn short_name_of(policy_type: u32) -> &'static str {
        match policy_type {
            id::ROUND_ROBIN => "RR",
            id::WEIGHTED_ROUND_ROBIN => "WRR",
            id::RANDOM => "RAND",
            id::WEIGHTED_RANDOM => "WRAND",
            id::PRIORITY => "PRIO",
            id::LEAST_USED => "LU",
            id::LEAST_USED_DEGRADATION => "LUD",
            id::PRIORITY_LEAST_USED => "PLU",
            id::RANDOMIZED_LEAST_USED => "RLU",
            id::RANDOMIZED_PRIORITY_LEAST_USED => "RPLU",
            id::RANDOMIZED_LEAST_USED_DEGRADATION => "RLUD",
            id::PRIORITY_LEAST_USED_DEGRADATION => "PLUD",
            id::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION => "RPLUD",
            id::WEIGHTED_RANDOM_DPF => "WRAND-DPF",
            id::LEAST_USED_DPF => "LU-DPF",
            id::LEAST_USED_DEGRADATION_DPF => "LUD-DPF",
            id::PRIORITY_LEAST_USED_DPF => "PLU-DPF",
            id::PRIORITY_LEAST_USED_DEGRADATION_DPF => "PLUD-DPF",
            _ => "?",
        }
    }

    /// The policy type for a short name (case-insensitive), e.g. `"wrand"`.
    pub fn type_from_short_name(name: &str) -> Option<u32> {
        ALL_POLICY_TYPES
            .iter()
            .copied()
            .find(|&t| Policy::short_name_of(t).eq_ignore_ascii_case(name))
    }
}

impl Default for Policy {
    /// Round Robin, the policy every implementation must support (RFC 5356).
    fn default() -> Self {
        Policy::RoundRobin
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())?;
        let (params, n) = self.parameters();
        for (i, v) in params[..n].iter().enumerate() {
            f.write_str(if i == 0 { "(" } else { "," })?;
            write!(f, "{v:#x}")?;
        }
        if n > 0 {
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_parameters() {
        for &t in ALL_POLICY_TYPES.iter() {
            let n = Policy::parameter_count(t).unwrap();
            let params: [u32; 4] = [11, 22, 33, 44];
            let p = Policy::from_parameters(t, &params[..n]).unwrap();
            assert_eq!(p.policy_type(), t);
            let (back, m) = p.parameters();
            assert_eq!(m, n);
            assert_eq!(&back[..m], &params[..n]);
            assert_eq!(Policy::type_from_short_name(p.short_name()), Some(t));
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            Policy::from_parameters(0x4000_0000, &[]),
            Err(PolicyError::UnknownType(0x4000_0000))
        );
        assert_eq!(
            Policy::from_parameters(id::WEIGHTED_RANDOM, &[]),
            Err(PolicyError::WrongParameterCount {
                policy_type: id::WEIGHTED_RANDOM,
                expected: 1,
                found: 0
            })
        );
        assert_eq!(Policy::type_from_short_name("nope"), None);
    }
}
