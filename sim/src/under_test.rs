//! The kernel as the simulator sees it: a trait the harness drives, implemented by the real
//! kernel and by [`Mutant`](crate::mutant::Mutant)s that plant bugs around it.
//!
//! Planted bugs live here in the simulator, never in `kernel/src`: a mutant wraps a real kernel
//! and bends its inputs, outputs or configuration, which is enough to prove that each property
//! of the oracle catches the kind of bug it is meant to catch.

use baton_kernel::{
    Action, Applied, Config, Error, Explanation, Input, Instant, InvariantViolation, Kernel,
    ListFilter, Notice, Page, TaskId,
};

/// What the harness and the oracle need from a kernel.
///
/// The calling contract is [`Kernel`]'s: one input, then drain [`poll_action`] until `None`,
/// then sleep until [`poll_timeout`].
///
/// [`poll_action`]: KernelUnderTest::poll_action
/// [`poll_timeout`]: KernelUnderTest::poll_timeout
pub trait KernelUnderTest: Send {
    /// Applies one input at `now`.
    fn apply(&mut self, now: Instant, input: Input) -> Result<Applied, Error>;
    /// The next action, oldest first.
    fn poll_action(&mut self) -> Option<Action> {
        self.poll_action_at().map(|(_, action)| action)
    }
    /// The next action with the kernel instant it was decided at, oldest first
    /// ([`Kernel::poll_action_at`]).
    fn poll_action_at(&mut self) -> Option<(Instant, Action)>;
    /// The earliest pending deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The kernel that answers queries (for a mutant, the wrapped one).
    fn kernel(&self) -> &Kernel;
    /// The configuration the driver and the oracle believe the kernel runs with.
    fn config(&self) -> &Config;
    /// A deep copy, used to split a late `handle_timeout` into one call per deadline.
    fn box_clone(&self) -> Box<dyn KernelUnderTest>;
    /// The kernel's own cross-check of its indexes.
    fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.kernel().check_invariants()
    }
    /// Carries on with `kernel`, a copy of this kernel's state rebuilt by recovery (a mutant
    /// keeps its own, which the simulator does not journal).
    fn replace_kernel(&mut self, kernel: Kernel) {
        let _ = kernel;
    }
    /// [`Kernel::list`], as the driver sees it (a mutant may bend it).
    fn list(&self, filter: &ListFilter, after: Option<TaskId>, limit: usize) -> Page {
        self.kernel().list(filter, after, limit)
    }
    /// [`Kernel::explain`], as the driver sees it (a mutant may bend it).
    fn explain(&self, task: TaskId) -> Option<Explanation> {
        self.kernel().explain(task)
    }
}

/// The real kernel, unchanged.
#[derive(Clone, Debug)]
pub struct RealKernel {
    kernel: Kernel,
}

impl RealKernel {
    /// Wraps a kernel.
    pub fn new(kernel: Kernel) -> Self {
        RealKernel { kernel }
    }
}

impl KernelUnderTest for RealKernel {
    fn apply(&mut self, now: Instant, input: Input) -> Result<Applied, Error> {
        self.kernel.apply(now, input)
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.kernel.poll_action()
    }

    fn poll_action_at(&mut self) -> Option<(Instant, Action)> {
        self.kernel.poll_action_at()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.kernel.poll_timeout()
    }

    fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    fn config(&self) -> &Config {
        self.kernel.config()
    }

    fn box_clone(&self) -> Box<dyn KernelUnderTest> {
        Box::new(self.clone())
    }

    fn replace_kernel(&mut self, kernel: Kernel) {
        self.kernel = kernel;
    }
}

/// Whether a notice concerns `task` (used by mutants that hold notices back).
pub(crate) fn notice_task(action: &Action) -> Option<baton_kernel::TaskId> {
    match action {
        Action::Notify(Notice::Finished { task, .. })
        | Action::Notify(Notice::Removed { task }) => Some(*task),
        _ => None,
    }
}
