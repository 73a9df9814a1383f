//! **Test-only** (feature `fault-injection`): deliberate adapter bugs, switched on per scheduler
//! with [`Scheduler::inject_fault`](crate::Scheduler::inject_fault), so that end-to-end tests
//! (the turmoil scenarios in `sim/net`) can show that their properties catch a broken adapter.
//!
//! Without the feature none of this is public and every check compiles to `false`; with it, a
//! scheduler behaves exactly as without it until a fault is injected. Never enable it outside
//! tests.
#![cfg_attr(not(feature = "fault-injection"), allow(unreachable_pub, dead_code))]

use std::sync::atomic::{AtomicU8, Ordering};

/// A deliberate adapter bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Fault {
    /// Reports a task as stopped as soon as the kernel asks it to cancel, instead of when its
    /// future is gone: the session is freed (and the next operation started) while the
    /// cancelled body is still running.
    ReleaseOnCancel,
    /// Drops the kernel's `Cancel` actions: `ctx.cancelled()` never resolves, so a body is only
    /// ever stopped by the abort after its class's grace.
    IgnoreCancel,
    /// Never reports an attempt whose body returned an error: its session stays held and its
    /// handle never resolves.
    LoseFailedExit,
    /// Never wakes the driver when the kernel's next deadline changes: deadlines armed while the
    /// driver sleeps (run and queue timeouts, graces) do not fire.
    LostWakeup,
}

impl Fault {
    /// Every fault, in declaration order.
    pub const ALL: [Fault; 4] = [
        Fault::ReleaseOnCancel,
        Fault::IgnoreCancel,
        Fault::LoseFailedExit,
        Fault::LostWakeup,
    ];

    fn code(self) -> u8 {
        match self {
            Fault::ReleaseOnCancel => 1,
            Fault::IgnoreCancel => 2,
            Fault::LoseFailedExit => 3,
            Fault::LostWakeup => 4,
        }
    }
}

/// The fault injected into one scheduler, if any.
#[derive(Debug, Default)]
pub(crate) struct Switch(AtomicU8);

impl Switch {
    pub(crate) fn set(&self, fault: Option<Fault>) {
        self.0.store(fault.map_or(0, Fault::code), Ordering::SeqCst);
    }

    pub(crate) fn is(&self, fault: Fault) -> bool {
        self.0.load(Ordering::Relaxed) == fault.code()
    }
}
