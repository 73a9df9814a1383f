//! The predictive model on hand-written input sequences around the reconnect fence, with the
//! rule on and off: the paranoid oracle must agree with the real kernel at every step, and the
//! sequences must really exercise the fence (the kernel's own answers are asserted too).

use baton_kernel::{
    Action, ClassConfig, ClassId, Config, Duration, Error, Exit, Input, Instant, Kernel, Notice,
    Outcome, SessionId, Submit, Target, TaskId,
};
use baton_sim::OracleConfig;
use baton_sim::oracle::Oracle;
use baton_sim::under_test::{KernelUnderTest, RealKernel};

struct Driven {
    kernel: RealKernel,
    oracle: Oracle,
}

impl Driven {
    fn new(fence: bool) -> Self {
        let mut config = Config::new(vec![
            ClassConfig::exclusive("io", 5)
                .without_timeouts()
                .with_grace(Duration::from_secs(1)),
        ]);
        config.disconnect_grace = Duration::from_secs(2);
        config.fence_reconnect = fence;
        let kernel = Kernel::new(config.clone()).unwrap();
        Driven {
            kernel: RealKernel::new(kernel),
            oracle: Oracle::new(&config, OracleConfig::paranoid()),
        }
    }

    fn input(
        &mut self,
        secs: u64,
        input: Input,
    ) -> (Result<baton_kernel::Applied, Error>, Vec<Action>) {
        let now = Instant::from_nanos(secs * 1_000_000_000);
        let before = self.oracle.before(&self.kernel, now, &input);
        let result = self.kernel.apply(now, input.clone());
        let actions: Vec<Action> = std::iter::from_fn(|| self.kernel.poll_action()).collect();
        self.oracle
            .after(&self.kernel, now, &input, &result, &actions, before);
        assert!(
            self.oracle.violations().is_empty(),
            "{:?}",
            self.oracle.violations()
        );
        (result, actions)
    }

    fn connect(&mut self, secs: u64) -> SessionId {
        match self
            .input(
                secs,
                Input::Connect {
                    name: "acct".into(),
                },
            )
            .0
        {
            Ok(baton_kernel::Applied::Session(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    fn submit(&mut self, secs: u64, s: SessionId) -> (TaskId, Vec<Action>) {
        let sub = Submit::new(ClassId(0), Target::Session(s));
        match self.input(secs, Input::Submit(sub)) {
            (Ok(baton_kernel::Applied::Task(t)), actions) => (t, actions),
            other => panic!("{other:?}"),
        }
    }
}

fn started(actions: &[Action]) -> Vec<TaskId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { task, .. } => Some(*task),
            _ => None,
        })
        .collect()
}

/// Connect, start a task that never reports, disconnect, wait out cleanup, reconnect, submit.
fn abandoned_then_reconnected(fence: bool) -> (Driven, TaskId, TaskId, Vec<Action>) {
    let mut d = Driven::new(fence);
    let first = d.connect(0);
    let (old, actions) = d.submit(0, first);
    assert_eq!(started(&actions), vec![old]);
    let (result, _) = d.input(
        1,
        Input::Disconnect {
            name: "acct".into(),
        },
    );
    assert!(result.is_ok());
    // Cleanup: grace (1 s) aborts, disconnect grace (2 s) abandons and removes.
    let (_, actions) = d.input(3, Input::Timeout);
    assert!(actions.contains(&Action::Notify(Notice::Finished {
        task: old,
        outcome: Outcome::Abandoned
    })));
    let second = d.connect(4);
    let (new, actions) = d.submit(4, second);
    (d, old, new, actions)
}

#[test]
fn a_fenced_name_waits_for_the_late_report() {
    let (mut d, old, new, actions) = abandoned_then_reconnected(true);
    assert!(started(&actions).is_empty(), "the fence holds: {actions:?}");
    // The late report of the abandoned task is accepted once and lifts the fence.
    let (result, actions) = d.input(
        5,
        Input::Finished {
            task: old,
            exit: Exit::Dropped,
        },
    );
    assert!(result.is_ok());
    assert_eq!(started(&actions), vec![new]);
    let (result, _) = d.input(
        6,
        Input::Finished {
            task: old,
            exit: Exit::Dropped,
        },
    );
    assert_eq!(result, Err(Error::UnknownTask(old)));
}

#[test]
fn a_stale_attempt_of_an_abandoned_task_is_refused() {
    let (mut d, old, _, _) = abandoned_then_reconnected(true);
    let (result, _) = d.input(
        5,
        Input::FinishedAttempt {
            task: old,
            attempt: 2,
            exit: Exit::Completed,
        },
    );
    assert!(
        matches!(result, Err(Error::StaleReport { .. })),
        "{result:?}"
    );
}

#[test]
fn without_the_fence_a_reconnected_name_runs_at_once() {
    let (mut d, old, new, actions) = abandoned_then_reconnected(false);
    assert_eq!(started(&actions), vec![new]);
    let (result, _) = d.input(
        5,
        Input::Finished {
            task: old,
            exit: Exit::Dropped,
        },
    );
    assert_eq!(result, Err(Error::UnknownTask(old)));
}
