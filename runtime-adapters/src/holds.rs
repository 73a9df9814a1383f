//! [`Holds`]: what keeps a started attempt's session held until its code has really stopped —
//! its body's future and every blocking job it started. A counter behind one lock; it knows
//! nothing of the kernel (the report is made by whoever releases the last hold).
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::sync::{Mutex, lock};
use baton_kernel::Exit;

/// What keeps a started attempt alive: its body's future (one hold) and every blocking job it
/// started through [`TaskContext::spawn_blocking`](crate::TaskContext::spawn_blocking) (one hold each). The attempt's exit is
/// reported to the kernel — freeing its session — only when the last hold is released, so code
/// that cannot be aborted keeps the session held and shows up as stuck.
#[derive(Debug)]
pub struct Holds {
    state: Mutex<HoldState>,
}

#[derive(Debug)]
struct HoldState {
    holders: usize,
    exit: Option<Exit>,
}

impl Default for Holds {
    fn default() -> Self {
        Self::new()
    }
}

impl Holds {
    /// Holds for a new attempt: one, its body's.
    pub fn new() -> Self {
        Holds {
            state: Mutex::new(HoldState {
                holders: 1,
                exit: None,
            }),
        }
    }

    /// Takes one more hold. False if every hold was already released (the exit is reported):
    /// the caller then runs unheld.
    pub fn acquire(&self) -> bool {
        let mut state = lock(&self.state);
        if state.holders == 0 {
            return false;
        }
        state.holders += 1;
        true
    }

    /// Releases one hold, recording `exit` if given (the body's release gives it). Returns the
    /// exit to report if this was the last hold: exactly one release ever returns `Some`.
    pub fn release(&self, exit: Option<Exit>) -> Option<Exit> {
        let mut state = lock(&self.state);
        debug_assert!(
            state.holders > 0,
            "released more holds than taken: {state:?}"
        );
        if exit.is_some() {
            state.exit = exit;
        }
        state.holders = state.holders.saturating_sub(1);
        if state.holders == 0 {
            state.exit.take()
        } else {
            None
        }
    }

    #[cfg(loom)]
    /// Holds not yet released.
    pub fn holders(&self) -> usize {
        lock(&self.state).holders
    }
}
