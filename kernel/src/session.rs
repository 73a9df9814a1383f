//! Sessions and groups: the exclusive resources and their late-binding sets.

use crate::counts::StateCounts;
use crate::id::{GroupId, SessionId, TaskId};
use crate::queue::Lanes;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One connected (or closing) session generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) name: String,
    /// The exclusive task running or cancelling on it.
    pub(crate) holder: Option<TaskId>,
    /// When it last became free (connect time at first): group tasks take the longest-idle member.
    pub(crate) idle_since: Instant,
    /// Queued exclusive tasks aimed at it, one lane per class (an index: rebuilt on load).
    #[serde(skip)]
    pub(crate) lanes: Lanes,
    /// Every task counted against it (see `Task::counted_session`).
    /// (An index: rebuilt on load.)
    #[serde(skip)]
    pub(crate) tasks: crate::members::Members,
    pub(crate) counts: StateCounts,
    /// Queued and backing-off tasks aimed at it (bounded by `queue_len_max`).
    pub(crate) queue_len: u32,
    pub(crate) groups: BTreeSet<GroupId>,
    /// Set by disconnect: the instant cleanup ends at the latest.
    pub(crate) closing: Option<Instant>,
    /// An earlier generation of its name may still be running exclusive work (see `fence`).
    #[serde(default)]
    pub(crate) fenced: bool,
    /// Set by [`Kernel::restart`](crate::Kernel::restart): the process that held its connection
    /// is gone; it starts nothing until its name connects again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) detached: bool,
}

impl Session {
    /// Whether its exclusive lanes may start a task.
    pub(crate) fn is_free(&self) -> bool {
        self.holder.is_none() && self.closing.is_none() && !self.fenced && !self.detached
    }

    pub(crate) fn label(&self) -> String {
        format!("{}#{}", self.name, self.id.0)
    }
}

/// A named set of sessions with its own queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Group {
    pub(crate) id: GroupId,
    pub(crate) name: String,
    pub(crate) members: BTreeSet<SessionId>,
    /// Free members ordered by (idle since, id): the first is the one a group task takes.
    pub(crate) free: BTreeSet<(Instant, SessionId)>,
    /// Queued tasks aimed at the group, one lane per class (an index: rebuilt on load).
    #[serde(skip)]
    pub(crate) lanes: Lanes,
    pub(crate) queue_len: u32,
}
