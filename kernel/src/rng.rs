//! The kernel's only source of randomness: a seeded SplitMix64 generator held in the state.
//!
//! It is part of the serialized kernel, so a snapshot or a replayed input log draws the same jitter.
//! SplitMix64 is tiny, integer-only and identical on every platform.

use serde::{Deserialize, Serialize};

/// A seeded, portable pseudo-random generator (SplitMix64).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`, by widening multiplication (no modulo bias worth caring about for
    /// jitter, and no division by zero).
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        let span = u128::from(max) + 1;
        ((u128::from(self.next_u64()) * span) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            let x = a.up_to(10);
            assert_eq!(x, b.up_to(10));
            assert!(x <= 10);
        }
        assert_eq!(Rng::new(1).up_to(0), 0);
    }

    #[test]
    fn up_to_reaches_both_ends() {
        let mut r = Rng::new(3);
        let draws: Vec<u64> = (0..64).map(|_| r.up_to(1)).collect();
        assert!(draws.contains(&0) && draws.contains(&1), "{draws:?}");
    }

    #[test]
    fn known_first_value() {
        // Reference value of SplitMix64 seeded with 0: guards against accidental edits.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }
}
