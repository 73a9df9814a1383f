//! Session and group inputs: connecting and disconnecting session generations, joining and
//! leaving groups.
//!
//! A disconnect cancels what runs on the session, rejects what waits for it, fences its name
//! while its exclusive work may still run, and arms the session's cleanup deadline; the rest of
//! the closing happens in `cleanup.rs`.

use crate::counts::StateCounts;
use crate::deadline::Cleanup;
use crate::error::Error;
use crate::id::{GroupId, SessionId, TaskId};
use crate::kernel::Kernel;
use crate::session::{Group, Session};
use crate::task::CancelReason;
use crate::time::Instant;
use std::collections::BTreeSet;

impl Kernel {
    pub(crate) fn live_session(&self, id: SessionId) -> Result<&Session, Error> {
        match self.sessions.get(&id) {
            Some(s) if s.closing.is_none() => Ok(s),
            _ => Err(Error::UnknownSessionId(id)),
        }
    }

    /// Connects a session by name and returns its id (a new generation if the name was seen
    /// before; the same one if the name's session was detached by a
    /// [`restart`](Kernel::restart), which re-attaches it). O(log sessions).
    ///
    /// Errors: `BadName`, `AlreadyConnected`, `TooManySessions`, `ShuttingDown`,
    /// `TimeWentBackwards`.
    pub fn connect(&mut self, now: Instant, name: &str) -> Result<SessionId, Error> {
        self.advance(now)?;
        self.check_open()?;
        self.check_name(name)?;
        if let Some(&sid) = self.session_names.get(name) {
            let free = match self.sessions.get_mut(&sid) {
                Some(s) if s.detached => {
                    s.detached = false;
                    s.is_free()
                }
                _ => return Err(Error::AlreadyConnected(name.to_owned())),
            };
            self.now = now;
            if free {
                self.session_free(sid);
            }
            self.settle();
            return Ok(sid);
        }
        if self.sessions.len() >= self.config.limits.sessions_max as usize
            || self.next_session == u64::MAX
        {
            return Err(Error::TooManySessions(self.config.limits.sessions_max));
        }
        self.now = now;
        let id = SessionId(self.next_session);
        self.next_session = self.next_session.saturating_add(1);
        self.sessions.insert(Session {
            id,
            name: name.to_owned(),
            holder: None,
            idle_since: now,
            lanes: Default::default(),
            tasks: Default::default(),
            counts: StateCounts::default(),
            queue_len: 0,
            groups: BTreeSet::new(),
            closing: None,
            fenced: self.config.fence_reconnect && self.fences.is_fenced(name),
            detached: false,
        });
        self.session_names.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Disconnects a session: its waiting tasks are Rejected(SessionClosed), its running tasks
    /// are cancelled (reason Disconnect), it leaves its groups, and within
    /// `config.disconnect_grace` every task of it leaves the registry — still-running ones end
    /// Abandoned and are listed in the [`Notice::Closed`](crate::Notice::Closed) report, which is
    /// emitted as soon as nothing of the session is running. O(k log n) for its k tasks.
    pub fn disconnect(&mut self, now: Instant, name: &str) -> Result<SessionId, Error> {
        self.advance(now)?;
        self.check_open()?;
        let id = *self
            .session_names
            .get(name)
            .ok_or_else(|| Error::UnknownSession(name.to_owned()))?;
        self.now = now;
        self.session_names.remove(name);
        let deadline = now + self.config.disconnect_grace;
        if self.sessions.get(&id).is_some_and(Session::is_free) {
            self.session_busy(id);
        }
        // Its exclusive task may run on after the name reconnects: fence the name until it stops.
        if self.config.fence_reconnect
            && let Some(holder) = self.sessions.get(&id).and_then(|s| s.holder)
        {
            let attempt = self.tasks.get(&holder).map_or(0, |t| t.attempt);
            self.fences.add(holder, name, attempt);
        }
        let groups: Vec<GroupId> = match self.sessions.get_mut(&id) {
            Some(s) => {
                s.closing = Some(deadline);
                std::mem::take(&mut s.groups).into_iter().collect()
            }
            None => Vec::new(),
        };
        for g in &groups {
            if let Some(group) = self.groups.get_mut(g.0 as usize) {
                group.members.remove(&id);
            }
        }
        let ids: Vec<TaskId> = self
            .sessions
            .get(&id)
            .map(|s| s.tasks.iter(&self.tasks).collect())
            .unwrap_or_default();
        for task in ids {
            self.pending_cancels
                .push_back((task, CancelReason::Disconnect));
        }
        self.timers.insert_cleanup(deadline, Cleanup::Session(id));
        self.closing_checks.push(id);
        self.settle();
        Ok(id)
    }

    /// Adds a session to a group (created on first join). O(log n + lanes of the group).
    pub fn join_group(
        &mut self,
        now: Instant,
        group: &str,
        session: SessionId,
    ) -> Result<GroupId, Error> {
        self.advance(now)?;
        self.check_open()?;
        self.check_name(group)?;
        let s = self.live_session(session)?;
        let existing = self.group_names.get(group).copied();
        if let Some(g) = existing {
            if s.groups.contains(&g) {
                return Err(Error::AlreadyMember { session, group: g });
            }
        } else if self.groups.len() >= self.config.limits.groups_max as usize {
            return Err(Error::TooManyGroups(self.config.limits.groups_max));
        }
        if s.groups.len() >= self.config.limits.groups_per_session_max as usize {
            return Err(Error::TooManyGroupsForSession(session));
        }
        self.now = now;
        let g = match existing {
            Some(g) => g,
            None => {
                let g = GroupId(self.groups.len() as u32);
                self.groups.push(Group {
                    id: g,
                    name: group.to_owned(),
                    members: BTreeSet::new(),
                    free: BTreeSet::new(),
                    lanes: Default::default(),
                    queue_len: 0,
                });
                self.group_names.insert(group.to_owned(), g);
                g
            }
        };
        let (free, idle) = match self.sessions.get_mut(&session) {
            Some(s) => {
                s.groups.insert(g);
                (s.is_free(), s.idle_since)
            }
            None => (false, now),
        };
        if let Some(grp) = self.groups.get_mut(g.0 as usize) {
            grp.members.insert(session);
        }
        if free {
            self.group_member_free(g, idle, session);
        }
        self.settle();
        Ok(g)
    }

    /// Removes a session from a group. Group tasks already running on it keep running.
    pub fn leave_group(
        &mut self,
        now: Instant,
        group: &str,
        session: SessionId,
    ) -> Result<(), Error> {
        self.advance(now)?;
        self.check_open()?;
        let g = *self
            .group_names
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_owned()))?;
        let s = self.live_session(session)?;
        if !s.groups.contains(&g) {
            return Err(Error::NotMember { session, group: g });
        }
        let (free, idle) = (s.is_free(), s.idle_since);
        self.now = now;
        if let Some(s) = self.sessions.get_mut(&session) {
            s.groups.remove(&g);
        }
        if let Some(grp) = self.groups.get_mut(g.0 as usize) {
            grp.members.remove(&session);
        }
        if free {
            self.group_member_busy(g, idle, session);
        }
        self.settle();
        Ok(())
    }
}
