//! The properties the oracle checks (DESIGN.md, "Properties") and the violations it reports.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One checked property. `Exclusivity` … `Robustness`, `TimingIndependence` and `NameExclusivity` are DESIGN.md's (1–12); `Invariants` is the kernel's own
/// `check_invariants()` and `Sometimes` is the campaign-level "this fault really fired" check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    /// Physical run intervals of exclusive tasks on one session never overlap.
    Exclusivity,
    /// Every start is the one the naive reference model makes.
    Order,
    /// After each input no ready task is left queued.
    WorkConservation,
    /// Class limits, queue bounds and the registry bound hold.
    Limits,
    /// Deadlines fire at their instant, never early, never missed.
    Deadlines,
    /// Every task reaches exactly one terminal state; metrics match.
    Accounting,
    /// Disconnect, shutdown and retention remove what they must.
    Cleanup,
    /// Once faults stop every task ends within a bound.
    Liveness,
    /// Same scenario and seed, same trace.
    Determinism,
    /// Bad inputs return errors and change nothing.
    Robustness,
    /// A punctual and a lazy driver get the same decisions at the same kernel instants.
    TimingIndependence,
    /// Physical run intervals of exclusive tasks on all generations of one session name never
    /// overlap (with `fence_reconnect`).
    NameExclusivity,
    /// The kernel's own `check_invariants()`.
    Invariants,
    /// A scenario's required events happened at least once over a campaign.
    Sometimes,
}

impl Property {
    /// Every property, in report order.
    pub const ALL: [Property; 14] = [
        Property::Exclusivity,
        Property::Order,
        Property::WorkConservation,
        Property::Limits,
        Property::Deadlines,
        Property::Accounting,
        Property::Cleanup,
        Property::Liveness,
        Property::Determinism,
        Property::Robustness,
        Property::TimingIndependence,
        Property::NameExclusivity,
        Property::Invariants,
        Property::Sometimes,
    ];

    /// The snake_case name used in traces and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Property::Exclusivity => "exclusivity",
            Property::Order => "order",
            Property::WorkConservation => "work_conservation",
            Property::Limits => "limits",
            Property::Deadlines => "deadlines",
            Property::Accounting => "accounting",
            Property::Cleanup => "cleanup",
            Property::Liveness => "liveness",
            Property::Determinism => "determinism",
            Property::Robustness => "robustness",
            Property::TimingIndependence => "timing_independence",
            Property::NameExclusivity => "name_exclusivity",
            Property::Invariants => "invariants",
            Property::Sometimes => "sometimes",
        }
    }

    /// A short column header for tables.
    pub const fn short(self) -> &'static str {
        match self {
            Property::Exclusivity => "excl",
            Property::Order => "order",
            Property::WorkConservation => "work",
            Property::Limits => "limit",
            Property::Deadlines => "dline",
            Property::Accounting => "acct",
            Property::Cleanup => "clean",
            Property::Liveness => "live",
            Property::Determinism => "determ",
            Property::Robustness => "robust",
            Property::TimingIndependence => "timing",
            Property::NameExclusivity => "nmexcl",
            Property::Invariants => "invar",
            Property::Sometimes => "smtimes",
        }
    }

    /// Parses a name as written by [`Property::name`].
    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Position in [`Property::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of properties to check (all by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PropertySet(u32);

impl PropertySet {
    /// Every property.
    pub const ALL: PropertySet = PropertySet((1 << Property::ALL.len()) - 1);
    /// No property.
    pub const NONE: PropertySet = PropertySet(0);

    /// Only `p`.
    pub const fn only(p: Property) -> Self {
        PropertySet(1 << p as u32)
    }

    /// Whether `p` is checked.
    pub const fn has(self, p: Property) -> bool {
        self.0 & (1 << p as u32) != 0
    }

    /// This set without `p`.
    pub const fn without(self, p: Property) -> Self {
        PropertySet(self.0 & !(1 << p as u32))
    }

    /// This set plus `p`.
    pub const fn with(self, p: Property) -> Self {
        PropertySet(self.0 | (1 << p as u32))
    }
}

/// One broken property: which, when, and what the oracle saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The property.
    pub property: Property,
    /// Virtual time in nanoseconds.
    pub t: u64,
    /// Index of the kernel input after which it was found (0-based).
    pub step: u64,
    /// What went wrong, with the values that disagree.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at t={}ns (input #{}): {}",
            self.property, self.t, self.step, self.detail
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Property::ALL {
            assert_eq!(Property::from_name(p.name()), Some(p));
            assert!(PropertySet::ALL.has(p));
            assert!(!PropertySet::NONE.has(p));
        }
        let s = PropertySet::only(Property::Limits);
        assert!(s.has(Property::Limits) && !s.has(Property::Order));
    }
}
