//! Inputs as data: every input method as one serializable enum, for logs, replay, shrinking and
//! fuzzing.

use crate::error::Error;
use crate::id::{GroupId, SessionId, TaskId};
use crate::kernel::{Kernel, Submit};
use crate::task::{Exit, Progress};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};

/// One kernel input (the `now` travels beside it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// [`Kernel::connect`].
    Connect {
        /// Session name.
        name: String,
    },
    /// [`Kernel::disconnect`].
    Disconnect {
        /// Session name.
        name: String,
    },
    /// [`Kernel::join_group`].
    JoinGroup {
        /// Group name.
        group: String,
        /// The session.
        session: SessionId,
    },
    /// [`Kernel::leave_group`].
    LeaveGroup {
        /// Group name.
        group: String,
        /// The session.
        session: SessionId,
    },
    /// [`Kernel::submit`].
    Submit(Submit),
    /// [`Kernel::cancel`].
    Cancel {
        /// The task.
        task: TaskId,
    },
    /// [`Kernel::progress`].
    Progress {
        /// The task.
        task: TaskId,
        /// Its progress.
        progress: Progress,
    },
    /// [`Kernel::progress_attempt`].
    ProgressAttempt {
        /// The task.
        task: TaskId,
        /// The attempt the report is for.
        attempt: u32,
        /// Its progress.
        progress: Progress,
    },
    /// [`Kernel::finished`].
    Finished {
        /// The task.
        task: TaskId,
        /// How its future stopped.
        exit: Exit,
    },
    /// [`Kernel::finished_attempt`].
    FinishedAttempt {
        /// The task.
        task: TaskId,
        /// The attempt the report is for.
        attempt: u32,
        /// How its future stopped.
        exit: Exit,
    },
    /// [`Kernel::shutdown`].
    Shutdown {
        /// Grace before everything is removed.
        grace: Duration,
    },
    /// [`Kernel::handle_timeout`].
    Timeout,
    /// [`Kernel::restart`].
    Restart,
}

/// What a successful [`Kernel::apply`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// A session id (connect, disconnect).
    Session(SessionId),
    /// A group id (join).
    Group(GroupId),
    /// A new task id (submit).
    Task(TaskId),
    /// Nothing to return.
    Done,
}

impl Kernel {
    /// Applies one input at `now`: the same as calling the matching method.
    ///
    /// ```
    /// use baton_kernel::{Applied, Input, Instant, Kernel};
    /// let mut k = Kernel::new(baton_kernel::preset::session_manager()).unwrap();
    /// let r = k.apply(Instant::ZERO, Input::Connect { name: "a".into() });
    /// assert!(matches!(r, Ok(Applied::Session(_))));
    /// ```
    pub fn apply(&mut self, now: Instant, input: Input) -> Result<Applied, Error> {
        match input {
            Input::Connect { name } => self.connect(now, &name).map(Applied::Session),
            Input::Disconnect { name } => self.disconnect(now, &name).map(Applied::Session),
            Input::JoinGroup { group, session } => {
                self.join_group(now, &group, session).map(Applied::Group)
            }
            Input::LeaveGroup { group, session } => self
                .leave_group(now, &group, session)
                .map(|()| Applied::Done),
            Input::Submit(s) => self.submit(now, s).map(Applied::Task),
            Input::Cancel { task } => self.cancel(now, task).map(|()| Applied::Done),
            Input::Progress { task, progress } => {
                self.progress(now, task, progress).map(|()| Applied::Done)
            }
            Input::ProgressAttempt {
                task,
                attempt,
                progress,
            } => self
                .progress_attempt(now, task, attempt, progress)
                .map(|()| Applied::Done),
            Input::Finished { task, exit } => {
                self.finished(now, task, exit).map(|()| Applied::Done)
            }
            Input::FinishedAttempt {
                task,
                attempt,
                exit,
            } => self
                .finished_attempt(now, task, attempt, exit)
                .map(|()| Applied::Done),
            Input::Shutdown { grace } => self.shutdown(now, grace).map(|()| Applied::Done),
            Input::Timeout => self.handle_timeout(now).map(|()| Applied::Done),
            Input::Restart => self.restart(now).map(|()| Applied::Done),
        }
    }
}
