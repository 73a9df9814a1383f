//! Property 11, **timing independence** (DESIGN.md, "Properties"): the same world driven by a
//! punctual driver and by a late one gives the same decisions at the same kernel instants.
//!
//! A [`TimingCheck`] runs a second, *lazy* kernel beside the kernel under test. The lazy kernel
//! receives every input the kernel under test receives except `handle_timeout`: it never hears
//! of a deadline until the next input catches up with it ("time keeps itself"). The kernel under
//! test is driven by the harness's driver, punctual or late (the late-driver knob), so every run
//! compares two drivers of different punctuality.
//!
//! After each input both kernels have handled every deadline up to that input's instant and the
//! input itself, so the actions the kernel under test emitted since the previous input the lazy
//! kernel saw (its `handle_timeout` calls' included) must equal, in order, the lazy kernel's
//! actions for this input, each with the same kernel instant ([`Kernel::poll_action_at`]), and
//! both must give the same answer. At the end of a run the lazy kernel catches up with
//! `handle_timeout` at the last instant and the rest must agree too. The first difference is a
//! violation; the check costs one more kernel (not one more oracle) per run.
//!
//! [`Kernel::poll_action_at`]: baton_kernel::Kernel::poll_action_at

use crate::under_test::KernelUnderTest;
use baton_kernel::{Action, Applied, Error, Input, Instant};

/// The lazy kernel and the actions of the kernel under test it has not matched yet.
pub struct TimingCheck {
    lazy: Box<dyn KernelUnderTest>,
    /// Actions of the kernel under test since the last input the lazy kernel received.
    pending: Vec<(Instant, Action)>,
    /// The lazy kernel's actions for the current input (reused buffer).
    lazy_actions: Vec<(Instant, Action)>,
    /// Set after the first difference: the two kernels have parted and nothing more is compared.
    parted: bool,
}

impl std::fmt::Debug for TimingCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimingCheck")
            .field("pending", &self.pending.len())
            .field("parted", &self.parted)
            .finish()
    }
}

/// Shortens an action list for a message.
fn show(actions: &[(Instant, Action)]) -> String {
    const SHOWN: usize = 4;
    let mut parts: Vec<String> = actions
        .iter()
        .take(SHOWN)
        .map(|(t, a)| format!("{}: {a:?}", t.as_nanos()))
        .collect();
    if actions.len() > SHOWN {
        parts.push(format!("… {} more", actions.len() - SHOWN));
    }
    format!("[{}]", parts.join(", "))
}

impl TimingCheck {
    /// A check whose lazy kernel is `fresh`, a kernel in the state the kernel under test starts
    /// in (a copy taken before its first input).
    pub fn new(fresh: Box<dyn KernelUnderTest>) -> Self {
        TimingCheck {
            lazy: fresh,
            pending: Vec::new(),
            lazy_actions: Vec::new(),
            parted: false,
        }
    }

    /// The kernel under test emitted `action`, decided at kernel instant `at`.
    pub fn observed(&mut self, at: Instant, action: &Action) {
        if !self.parted {
            self.pending.push((at, action.clone()));
        }
    }

    /// The kernel under test was given `input` at `now` and answered `result` (its actions were
    /// passed to [`TimingCheck::observed`] first). Feeds the lazy kernel and returns the first
    /// difference, if any.
    pub fn input(
        &mut self,
        now: Instant,
        input: &Input,
        result: &Result<Applied, Error>,
    ) -> Option<String> {
        if self.parted {
            return None;
        }
        match (input, result) {
            // The lazy driver never calls handle_timeout.
            (Input::Timeout, _) => return None,
            // Refused without effect; the lazy kernel's clock may be behind and accept it.
            (_, Err(Error::TimeWentBackwards { .. })) => {
                if self.pending.is_empty() {
                    return None;
                }
                return self.part(format!(
                    "{input:?} at t={} was refused for going back in time but emitted {}",
                    now.as_nanos(),
                    show(&self.pending)
                ));
            }
            _ => {}
        }
        let lazy_result = self.lazy.apply(now, input.clone());
        self.lazy_actions.clear();
        while let Some(a) = self.lazy.poll_action_at() {
            self.lazy_actions.push(a);
        }
        if lazy_result != *result {
            return self.part(format!(
                "{input:?} at t={}: answered {result:?} by the driver under test, {lazy_result:?} by a driver that never calls handle_timeout",
                now.as_nanos()
            ));
        }
        self.compare(|| format!("{input:?} at t={}", now.as_nanos()))
    }

    /// End of the run at `now`: the lazy kernel catches up with one `handle_timeout(now)`, and
    /// every remaining action must agree.
    pub fn finish(&mut self, now: Instant) -> Option<String> {
        if self.parted {
            return None;
        }
        let now = now.max(self.lazy.kernel().now());
        let _ = self.lazy.apply(now, Input::Timeout);
        self.lazy_actions.clear();
        while let Some(a) = self.lazy.poll_action_at() {
            self.lazy_actions.push(a);
        }
        self.compare(|| format!("handle_timeout({}) at the end", now.as_nanos()))
    }

    /// `after` names the input for the message; it is only formatted when they differ.
    fn compare(&mut self, after: impl FnOnce() -> String) -> Option<String> {
        if self.pending == self.lazy_actions {
            self.pending.clear();
            return None;
        }
        let i = self
            .pending
            .iter()
            .zip(&self.lazy_actions)
            .position(|(a, b)| a != b)
            .unwrap_or(self.pending.len().min(self.lazy_actions.len()));
        let after = after();
        let detail = format!(
            "after {after}, decision #{i} differs: the driver under test got {}, a driver that never calls handle_timeout got {}",
            show(&self.pending[i..]),
            show(&self.lazy_actions[i..])
        );
        self.part(detail)
    }

    fn part(&mut self, detail: String) -> Option<String> {
        self.parted = true;
        self.pending.clear();
        Some(detail)
    }
}
