//! The fault injector: disconnects mid-operation, reconnect storms, shutdown mid-flight, reports
//! for unknown tasks and a catalogue of bad inputs. Late and duplicated reports are drawn where
//! reports are scheduled (`harness.rs`); clock jumps where the clock is. Every fault is drawn from
//! the run's one generator, so a seed replays its faults exactly.

use crate::harness::Sim;
use crate::sometimes::Sometimes;
use crate::world::{Event, ExecState};
use baton_kernel::{
    ClassId, Duration, Exit, GroupId, Input, ListFilter, Progress, SessionId, Submit, Target,
    TaskId, TaskState,
};

/// The kinds of bad input the injector sends; each must be refused and change nothing.
const BAD_KINDS: u64 = 14;

impl Sim {
    /// Disconnects a random connected session (often in the middle of an operation).
    pub(crate) fn random_disconnect(&mut self) {
        let n = self.current.len();
        if n == 0 {
            return;
        }
        let start = self.rng.index(n);
        if let Some(i) = (0..n)
            .map(|k| (start + k) % n)
            .find(|i| self.current[*i].is_some())
        {
            let after = self.plan.faults.reconnect_after.draw(&mut self.rng);
            self.disconnect(i, after);
        }
    }

    /// One round of a reconnect storm.
    pub(crate) fn storm(&mut self, round: u32) {
        let Some((_, sessions, rounds, gap)) = self.plan.faults.storm else {
            return;
        };
        let n = self.current.len();
        let start = self.rng.index(n.max(1));
        for k in 0..(sessions as usize).min(n) {
            self.disconnect((start + k) % n, gap);
        }
        if round + 1 < rounds {
            self.events
                .push(self.now + 2 * gap, Event::Storm(round + 1));
        }
    }

    /// Shuts the kernel down in the middle of the run.
    pub(crate) fn shutdown_mid_flight(&mut self) {
        let Some((_, grace)) = self.plan.faults.shutdown else {
            return;
        };
        if self.kernel.kernel().counts().active() > 0 {
            self.counters.hit(Sometimes::ShutdownMidFlight);
        }
        let _ = self.input(Input::Shutdown {
            grace: Duration::from_nanos(grace),
        });
        self.after_input();
    }

    /// A finish report for a task id the kernel never issued.
    pub(crate) fn unknown_report(&mut self) {
        let id = TaskId(1_000_000_000 + self.rng.below(1_000_000));
        if self
            .input(Input::Finished {
                task: id,
                exit: Exit::Completed,
            })
            .is_err()
        {
            self.counters.hit(Sometimes::UnknownReport);
        }
        self.after_input();
    }

    /// A running execution the driver has not been asked to abort, if any.
    fn some_running(&mut self) -> Option<TaskId> {
        let n = self.execs.len();
        if n == 0 {
            return None;
        }
        let start = self.rng.index(n);
        (0..n.min(64))
            .map(|k| &self.execs[(start + k) % n])
            .find(|x| x.state == ExecState::Running && !x.aborted && !x.cancelled)
            .map(|x| x.task)
    }

    fn some_in_state(&self, state: TaskState) -> Option<TaskId> {
        let filter = ListFilter {
            state: Some(state),
            ..ListFilter::default()
        };
        self.kernel
            .kernel()
            .list(&filter, None, 1)
            .items
            .first()
            .map(|v| v.id)
    }

    /// One deliberately bad input, drawn from a catalogue.
    pub(crate) fn bad_input(&mut self) {
        let kind = self.rng.below(BAD_KINDS);
        let unknown = TaskId(2_000_000_000 + self.rng.below(1000));
        let stale = SessionId(u64::MAX / 2);
        let input = match kind {
            0 => Input::Finished {
                task: unknown,
                exit: Exit::Completed,
            },
            1 => Input::Progress {
                task: unknown,
                progress: Progress::default(),
            },
            2 => Input::Cancel { task: unknown },
            3 => match self.some_running() {
                // `Dropped` for a task that was never aborted.
                Some(task) => Input::Finished {
                    task,
                    exit: Exit::Dropped,
                },
                None => return,
            },
            4 => match self.some_running() {
                Some(task) => Input::Progress {
                    task,
                    progress: Progress {
                        current: 7,
                        total: Some(3),
                        message: String::new(),
                    },
                },
                None => return,
            },
            5 => match self.some_running() {
                Some(task) => Input::Progress {
                    task,
                    progress: Progress {
                        current: 1,
                        total: None,
                        message: "x".repeat(self.plan.config.limits.message_len_max as usize + 1),
                    },
                },
                None => return,
            },
            6 => {
                // Time going backwards.
                let last = self.kernel.kernel().now().as_nanos();
                if last == 0 {
                    return;
                }
                let r = self.input_at(last - 1, Input::Timeout);
                self.note_bad(r.is_err());
                return;
            }
            7 => Input::Disconnect {
                name: "no-such-session".to_owned(),
            },
            8 => Input::JoinGroup {
                group: "g".to_owned(),
                session: stale,
            },
            9 => Input::LeaveGroup {
                group: "no-such-group".to_owned(),
                session: stale,
            },
            10 => Input::Submit(Submit::new(ClassId(0), Target::Session(stale))),
            11 => Input::Submit(Submit::new(ClassId(0), Target::Group(GroupId(u32::MAX)))),
            12 => match self.some_in_state(TaskState::Queued) {
                Some(task) => Input::Finished {
                    task,
                    exit: Exit::Completed,
                },
                None => return,
            },
            _ => match self.some_in_state(TaskState::Completed) {
                // A second report for a task that already ended.
                Some(task) => Input::Finished {
                    task,
                    exit: Exit::Completed,
                },
                None => Input::Submit(Submit {
                    parent: Some(unknown),
                    ..Submit::new(ClassId(0), Target::None)
                }),
            },
        };
        let r = self.input(input);
        self.note_bad(r.is_err());
    }

    fn note_bad(&mut self, refused: bool) {
        if refused {
            self.counters.hit(Sometimes::BadInput);
        }
        self.after_input();
    }
}
