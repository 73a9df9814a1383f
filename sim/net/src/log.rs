//! The run's event log: everything the clients, the server and the fault injector did, in the
//! order they did it, stamped with simulated time. The properties are checked on it after the
//! run, and its hash is what two runs of one seed must agree on.

use crate::wire::Origin;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// An operation class of the messaging-account preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Priority 10, the longest run timeout.
    Monitoring,
    /// Priority 5, at most 5 at once across all sessions.
    Scraping,
    /// Priority 1, the shortest run timeout.
    Sending,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 3] = [Class::Monitoring, Class::Scraping, Class::Sending];

    /// The class's name in the kernel config.
    pub fn name(self) -> &'static str {
        match self {
            Class::Monitoring => "monitoring",
            Class::Scraping => "scraping",
            Class::Sending => "sending",
        }
    }
}

/// How a client gave up an operation it was asked to cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandon {
    /// Its response had already arrived: nothing was left to stop.
    AlreadyDone,
    /// The server confirmed the operation stopped (`CancelAck`, or its `Response`).
    Acked,
    /// No confirmation in time: the connection was reset (the next operation reconnects, and
    /// its `Hello` ends whatever the server still ran for the session).
    Reset,
    /// The connection was already gone.
    ConnLost,
    /// Cancelled before its request was sent.
    NotSent,
}

/// How the server ended an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It ran to its end and the response was sent.
    Completed,
    /// It stopped on the client's `Cancel`.
    Cancelled,
    /// Its connection closed or broke.
    ConnClosed,
    /// A newer connection of its session said `Hello`.
    Superseded,
    /// The server crashed.
    Crashed,
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The harness injected or healed a fault.
    Fault(String),
    /// The harness crashed a client host: its current incarnation's tasks are lost with it.
    ClientCrash {
        /// Client index.
        client: u8,
    },
    /// A client's software started (incarnation `inc`).
    ClientUp {
        /// Client index.
        client: u8,
        /// Incarnation.
        inc: u32,
    },
    /// A client submitted planned operation `plan` as task `origin.task`.
    Submit {
        /// Who.
        origin: Origin,
        /// Session index on the client.
        session: u8,
        /// Class.
        class: Class,
        /// Index in the client's plan.
        plan: u32,
    },
    /// The scheduler refused a submit (no task id).
    Refused {
        /// Client index.
        client: u8,
        /// Incarnation.
        inc: u32,
        /// Index in the client's plan.
        plan: u32,
        /// The refusal.
        error: String,
    },
    /// A task's body started running (an attempt began).
    BodyStart {
        /// Who.
        origin: Origin,
    },
    /// A task's body returned (or was dropped).
    BodyEnd {
        /// Who.
        origin: Origin,
        /// Whether the future was dropped instead of returning.
        dropped: bool,
    },
    /// A task sent its request.
    Sent {
        /// Who.
        origin: Origin,
        /// The client's connection number.
        conn: u64,
        /// Request id.
        req: u64,
    },
    /// A cancelled task gave its operation up.
    Abandoned {
        /// Who.
        origin: Origin,
        /// How.
        how: Abandon,
    },
    /// A task's handle resolved.
    Outcome {
        /// Who.
        origin: Origin,
        /// `completed`, `failed`, `timed_out`, `cancelled:<reason>`, `abandoned`,
        /// `rejected:<reason>`, …
        outcome: String,
        /// The kernel's start instant (ns since the scheduler's epoch), if it started.
        started_ns: Option<u64>,
        /// The kernel's finish instant.
        finished_ns: Option<u64>,
    },
    /// A session's disconnect finished; `stuck` tasks were still running at its end.
    Cleanup {
        /// Client index.
        client: u8,
        /// Incarnation.
        inc: u32,
        /// Session index.
        session: u8,
        /// Stuck tasks in the report.
        stuck: usize,
    },
    /// A client finished its plan, disconnected and shut its scheduler down.
    ClientDone {
        /// Client index.
        client: u8,
        /// Incarnation.
        inc: u32,
        /// Records left in the kernel's registry after the shutdown (must be 0).
        registry: usize,
        /// Task handles the adapter still had unresolved (must be 0).
        pending: usize,
    },
    /// A response for a request nobody waits for any more arrived and was dropped.
    Stale {
        /// Client index.
        client: u8,
        /// Connection number.
        conn: u64,
        /// Request id.
        req: u64,
    },
    /// The server software started (incarnation `inc`).
    ServerUp {
        /// Incarnation.
        inc: u32,
    },
    /// A request arrived at the server.
    Arrive {
        /// The session's name.
        session: String,
        /// The server's connection number.
        sconn: u64,
        /// Request id.
        req: u64,
        /// Who.
        origin: Origin,
    },
    /// The server ended an operation.
    End {
        /// The session's name.
        session: String,
        /// The server's connection number.
        sconn: u64,
        /// Request id.
        req: u64,
        /// Who.
        origin: Origin,
        /// How.
        how: End,
    },
}

/// An event with its simulated time (ns) and position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Simulated nanoseconds since the run began.
    pub t: u64,
    /// The event.
    pub event: Event,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.t / 1_000_000;
        let us = (self.t / 1_000) % 1_000;
        write!(f, "{ms:>6}.{us:03}ms {:?}", self.event)
    }
}

impl Event {
    /// The client host whose code logged it, if a client did.
    pub fn client(&self) -> Option<u8> {
        match self {
            Event::ClientUp { client, .. }
            | Event::Refused { client, .. }
            | Event::Cleanup { client, .. }
            | Event::ClientDone { client, .. }
            | Event::Stale { client, .. } => Some(*client),
            Event::Submit { origin, .. }
            | Event::BodyStart { origin }
            | Event::BodyEnd { origin, .. }
            | Event::Sent { origin, .. }
            | Event::Abandoned { origin, .. }
            | Event::Outcome { origin, .. } => Some(origin.client),
            Event::Fault(_)
            | Event::ClientCrash { .. }
            | Event::ServerUp { .. }
            | Event::Arrive { .. }
            | Event::End { .. } => None,
        }
    }
}

/// The shared log and the simulated clock the harness advances (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct Log {
    inner: Arc<Mutex<Vec<Entry>>>,
    clock: Arc<AtomicU64>,
    /// Clients whose events are dropped: a crashing host's, whose runtime drops its tasks in an
    /// order that depends on tokio's process-wide task ids.
    muted: Arc<Mutex<BTreeSet<u8>>>,
}

impl Log {
    /// An empty log at time 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the simulated time (the harness does, before each step).
    pub fn set_now(&self, ns: u64) {
        self.clock.store(ns, Ordering::SeqCst);
    }

    /// The simulated time.
    pub fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Appends `event` at the current time (unless its client is muted).
    pub fn push(&self, event: Event) {
        if let Some(client) = event.client()
            && self.muted().contains(&client)
        {
            return;
        }
        let t = self.now();
        self.lock().push(Entry { t, event });
    }

    /// Drops `client`'s events from now on (the harness does, right before crashing it).
    pub fn mute(&self, client: u8) {
        self.muted().insert(client);
    }

    /// Records `client`'s events again (its restarted software does, first thing).
    pub fn unmute(&self, client: u8) {
        self.muted().remove(&client);
    }

    fn muted(&self) -> MutexGuard<'_, BTreeSet<u8>> {
        self.muted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of entries so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was logged yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries from index `from` on.
    pub fn since(&self, from: usize) -> Vec<Entry> {
        self.lock()
            .get(from..)
            .map(<[Entry]>::to_vec)
            .unwrap_or_default()
    }

    /// Every entry.
    pub fn entries(&self) -> Vec<Entry> {
        self.since(0)
    }

    /// FNV-1a over the rendered entries: what two runs of one seed must agree on.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv::default();
        for entry in self.lock().iter() {
            h.write(entry.to_string().as_bytes());
            h.write(b"\n");
        }
        h.0
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// 64-bit FNV-1a: stable across platforms and Rust versions.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
