//! Named scenarios and the plan a seed draws from one: each client's workload (which session,
//! class, server work, user cancels) and the faults (which, on which link, when, how long).

use crate::client::{PlannedOp, Timing};
use crate::log::Class;
use crate::rng::Rng;

/// A network fault the harness injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Partition the client's link to the server (segments dropped; TCP in turmoil does not
    /// retransmit, so a connection that lost a segment stalls for good), then repair it.
    Partition {
        /// Client index.
        client: u8,
    },
    /// Hold the link (segments queued, not delivered), then release it (delivered in order).
    Hold {
        /// Client index.
        client: u8,
    },
    /// Armed at `at`: when the server next completes an operation of this client, hold the
    /// link, so the response is held while the client's run timeout runs out.
    HoldResponse {
        /// Client index.
        client: u8,
    },
    /// Armed at `at`: when a request of this client next arrives at the server, partition the
    /// link, so the operation runs but its response (and the client's cancel) is lost.
    LoseResponse {
        /// Client index.
        client: u8,
    },
    /// Raise the link's maximum latency to `max_ms`, then restore it.
    LatencySpike {
        /// Client index.
        client: u8,
        /// The spike's maximum latency.
        max_ms: u64,
    },
    /// Lose messages on the link (turmoil's `fail_rate`, which breaks the link at random until a
    /// random repair), then stop and repair it.
    Loss {
        /// Client index.
        client: u8,
        /// Chance per message, per mille.
        per_mille: u32,
    },
    /// Crash the server, then bounce (restart) it.
    ServerCrash,
    /// Crash a client host (its scheduler and tasks vanish), then restart its software.
    ClientCrash {
        /// Client index.
        client: u8,
    },
}

impl FaultKind {
    /// A short name, for counts.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { .. } => "partition",
            FaultKind::Hold { .. } => "hold",
            FaultKind::HoldResponse { .. } => "hold_response",
            FaultKind::LoseResponse { .. } => "lose_response",
            FaultKind::LatencySpike { .. } => "latency_spike",
            FaultKind::Loss { .. } => "loss",
            FaultKind::ServerCrash => "server_crash",
            FaultKind::ClientCrash { .. } => "client_crash",
        }
    }

    /// Whether it waits for a trigger after `at`.
    pub fn is_triggered(&self) -> bool {
        matches!(
            self,
            FaultKind::HoldResponse { .. } | FaultKind::LoseResponse { .. }
        )
    }
}

/// One planned fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFault {
    /// Start (or arming) time, simulated ms.
    pub at_ms: u64,
    /// How long it lasts once started.
    pub dur_ms: u64,
    /// What.
    pub kind: FaultKind,
}

/// Relative weights of the per-link fault kinds (0 = never).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkFaults {
    /// [`FaultKind::Partition`].
    pub partition: u32,
    /// [`FaultKind::Hold`].
    pub hold: u32,
    /// [`FaultKind::HoldResponse`].
    pub hold_response: u32,
    /// [`FaultKind::LoseResponse`].
    pub lose_response: u32,
    /// [`FaultKind::LatencySpike`].
    pub spike: u32,
    /// [`FaultKind::Loss`].
    pub loss: u32,
}

impl LinkFaults {
    fn total(&self) -> u32 {
        self.partition
            + self.hold
            + self.hold_response
            + self.lose_response
            + self.spike
            + self.loss
    }
}

/// A named scenario: the world's size, its workload and its fault mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Its name (test and `run.sh` use it).
    pub name: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// Client hosts.
    pub clients: u8,
    /// Sessions per client.
    pub sessions: u8,
    /// Deadlines.
    pub timing: Timing,
    /// Faults start from here (ms).
    pub faults_from_ms: u64,
    /// Every fault is healed here (ms): links repaired and released, hosts restarted.
    pub heal_ms: u64,
    /// After the heal, operations submitted once this long has passed must complete.
    pub settle_ms: u64,
    /// The workload goes on this long after `heal + settle`.
    pub tail_ms: u64,
    /// Gap between two submits on one session (ms, inclusive range).
    pub gap_ms: (u64, u64),
    /// The links' normal maximum latency (ms; the minimum is 1 ms).
    pub max_latency_ms: u64,
    /// Per-link fault kinds.
    pub link_faults: LinkFaults,
    /// Gap between two faults on one link (ms range).
    pub link_gap_ms: (u64, u64),
    /// Server crashes (inclusive range).
    pub server_crashes: (u64, u64),
    /// Client crashes (inclusive range).
    pub client_crashes: (u64, u64),
    /// Operations (submitted before `heal + settle / 2`) whose server work outlasts their run
    /// timeout, per mille.
    pub slow_per_mille: u64,
    /// Operations (submitted before `heal + settle / 2`) the user cancels, per mille.
    pub cancel_per_mille: u64,
}

/// What a seed draws from a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Each client's operations, by submit time.
    pub clients: Vec<Vec<PlannedOp>>,
    /// The faults, by start time.
    pub faults: Vec<PlannedFault>,
    /// When every fault is healed.
    pub heal_ms: u64,
    /// Operations submitted from here on must complete.
    pub settled_ms: u64,
    /// The last submit is before this.
    pub end_ms: u64,
    /// Everything must have drained by here (liveness bound).
    pub deadline_ms: u64,
}

/// How long a triggered fault waits for its trigger before it is dropped.
pub const ARM_MS: u64 = 300;

impl Scenario {
    /// The defaults every built-in scenario starts from: two clients with three sessions, the
    /// default [`Timing`], faults from 200 ms to the heal at 3000 ms, 2500 ms to settle and an
    /// 800 ms tail, no fault kind switched on.
    pub fn base(name: &'static str, about: &'static str) -> Self {
        Scenario {
            name,
            about,
            clients: 2,
            sessions: 3,
            timing: Timing::default(),
            faults_from_ms: 200,
            heal_ms: 3000,
            settle_ms: 2500,
            tail_ms: 800,
            gap_ms: (40, 260),
            max_latency_ms: 8,
            link_faults: LinkFaults::default(),
            link_gap_ms: (100, 500),
            server_crashes: (0, 0),
            client_crashes: (0, 0),
            slow_per_mille: 40,
            cancel_per_mille: 80,
        }
    }

    /// Every built-in scenario.
    pub fn all() -> Vec<Scenario> {
        vec![
            Self::partition(),
            Self::loss(),
            Self::bounce(),
            Self::crash(),
            Self::chaos(),
        ]
    }

    /// A built-in scenario by name (also `quick`, which is not in [`Scenario::all`]).
    pub fn named(name: &str) -> Option<Scenario> {
        Self::all()
            .into_iter()
            .chain([Self::quick()])
            .find(|s| s.name == name)
    }

    /// Partitions and repairs, holds and releases, responses held or lost right after the
    /// server ran the operation.
    pub fn partition() -> Self {
        Scenario {
            link_faults: LinkFaults {
                partition: 2,
                hold: 2,
                hold_response: 3,
                lose_response: 2,
                ..LinkFaults::default()
            },
            ..Self::base(
                "partition",
                "partitions/repairs, hold/release, held and lost responses",
            )
        }
    }

    /// Message loss (turmoil's fail rate) and latency spikes.
    pub fn loss() -> Self {
        Scenario {
            link_faults: LinkFaults {
                spike: 3,
                loss: 3,
                hold_response: 1,
                ..LinkFaults::default()
            },
            ..Self::base("loss", "message loss (fail rate) and latency spikes")
        }
    }

    /// The server crashes and is bounced, with some partitions.
    pub fn bounce() -> Self {
        Scenario {
            link_faults: LinkFaults {
                partition: 1,
                hold_response: 1,
                ..LinkFaults::default()
            },
            link_gap_ms: (400, 1200),
            server_crashes: (1, 3),
            ..Self::base("bounce", "server crash and bounce, some partitions")
        }
    }

    /// Client hosts crash and restart, with holds.
    pub fn crash() -> Self {
        Scenario {
            link_faults: LinkFaults {
                hold: 1,
                hold_response: 1,
                ..LinkFaults::default()
            },
            link_gap_ms: (400, 1200),
            client_crashes: (1, 2),
            ..Self::base("crash", "client crash and restart, holds")
        }
    }

    /// Everything at once.
    pub fn chaos() -> Self {
        Scenario {
            link_faults: LinkFaults {
                partition: 2,
                hold: 2,
                hold_response: 2,
                lose_response: 2,
                spike: 1,
                loss: 1,
            },
            server_crashes: (0, 2),
            client_crashes: (0, 1),
            ..Self::base("chaos", "every fault kind")
        }
    }

    /// A small fault-free world (slow operations and user cancels only), for determinism
    /// checks that need a short run.
    pub fn quick() -> Self {
        Scenario {
            clients: 1,
            sessions: 2,
            heal_ms: 600,
            settle_ms: 0,
            tail_ms: 200,
            ..Self::base("quick", "one client, no network faults")
        }
    }

    /// The plan `seed` draws.
    pub fn plan(&self, seed: u64) -> Plan {
        let mut rng = Rng::new(seed);
        let heal_ms = self.heal_ms;
        let settled_ms = heal_ms + self.settle_ms;
        let end_ms = settled_ms + self.tail_ms;
        let t = &self.timing;
        let slack = t.abandon_wait + t.connect_timeout + t.hello_timeout + t.grace;
        let deadline_ms =
            end_ms + (t.queue_timeout + t.max_run_timeout() + slack).as_millis() as u64 + 2000;
        let clients = (0..self.clients)
            .map(|_| self.workload(&mut rng, end_ms))
            .collect();
        let mut faults = Vec::new();
        if self.link_faults.total() > 0 {
            for client in 0..self.clients {
                self.link_episodes(&mut rng, client, &mut faults);
            }
        }
        let span = heal_ms.saturating_sub(self.faults_from_ms + 800).max(1);
        let crashes = rng.range(self.server_crashes.0, self.server_crashes.1);
        let slots = crashes.max(1);
        for i in 0..crashes {
            // One crash per slot of the fault window, so they never overlap.
            let slot = span / slots;
            let at = self.faults_from_ms + i * slot + rng.below(slot.saturating_sub(700).max(1));
            faults.push(PlannedFault {
                at_ms: at,
                dur_ms: rng.range(100, 600),
                kind: FaultKind::ServerCrash,
            });
        }
        let crashes = rng.range(self.client_crashes.0, self.client_crashes.1);
        for _ in 0..crashes {
            faults.push(PlannedFault {
                at_ms: self.faults_from_ms + rng.below(span),
                dur_ms: rng.range(100, 500),
                kind: FaultKind::ClientCrash {
                    client: rng.below(u64::from(self.clients)) as u8,
                },
            });
        }
        // Two crashes of one client must not overlap: push a later one past the earlier's end.
        faults.sort_by_key(|f| f.at_ms);
        let mut up_at = vec![0u64; usize::from(self.clients)];
        for f in &mut faults {
            if let FaultKind::ClientCrash { client } = f.kind {
                let up = &mut up_at[usize::from(client)];
                f.at_ms = f.at_ms.max(*up + 50);
                *up = f.at_ms + f.dur_ms;
            }
        }
        faults.retain(|f| f.at_ms < heal_ms);
        faults.sort_by_key(|f| f.at_ms);
        Plan {
            clients,
            faults,
            heal_ms,
            settled_ms,
            end_ms,
            deadline_ms,
        }
    }

    fn workload(&self, rng: &mut Rng, end_ms: u64) -> Vec<PlannedOp> {
        let mut ops = Vec::new();
        for session in 0..self.sessions {
            let mut at = rng.range(0, self.gap_ms.1);
            while at < end_ms {
                let class = match rng.below(10) {
                    0 | 1 => Class::Monitoring,
                    2..=5 => Class::Scraping,
                    _ => Class::Sending,
                };
                let (lo, hi) = match class {
                    Class::Monitoring => (40, 200),
                    Class::Scraping => (60, 300),
                    Class::Sending => (20, 120),
                };
                // Slow operations and user cancels until halfway through the settling time, so
                // every run also cancels operations running on a healthy network.
                let faulty = at < self.heal_ms + self.settle_ms / 2;
                let run_ms = self.timing.run_timeout(class).as_millis() as u64;
                let op_ms = if faulty && rng.chance(self.slow_per_mille) {
                    rng.range(run_ms + run_ms / 2, run_ms * 3)
                } else {
                    rng.range(lo, hi)
                };
                let cancel_after_ms = (faulty && rng.chance(self.cancel_per_mille))
                    .then(|| rng.range(5, op_ms.min(run_ms)));
                ops.push(PlannedOp {
                    at_ms: at,
                    session,
                    class,
                    op_ms: u32::try_from(op_ms).unwrap_or(u32::MAX),
                    cancel_after_ms,
                });
                at += rng.range(self.gap_ms.0, self.gap_ms.1);
            }
        }
        ops.sort_by_key(|op| (op.at_ms, op.session));
        ops
    }

    fn link_episodes(&self, rng: &mut Rng, client: u8, faults: &mut Vec<PlannedFault>) {
        let w = self.link_faults;
        let mut at = self.faults_from_ms + rng.below(400);
        while at + 100 < self.heal_ms {
            let mut pick = rng.below(u64::from(w.total())) as u32;
            let mut kinds = [
                (w.partition, FaultKind::Partition { client }),
                (w.hold, FaultKind::Hold { client }),
                (w.hold_response, FaultKind::HoldResponse { client }),
                (w.lose_response, FaultKind::LoseResponse { client }),
                (
                    w.spike,
                    FaultKind::LatencySpike {
                        client,
                        max_ms: rng.range(150, 500),
                    },
                ),
                (
                    w.loss,
                    FaultKind::Loss {
                        client,
                        per_mille: rng.range(20, 150) as u32,
                    },
                ),
            ]
            .into_iter();
            let kind = loop {
                let (weight, kind) = kinds.next().expect("pick < total");
                if pick < weight {
                    break kind;
                }
                pick -= weight;
            };
            let dur_ms = rng.range(200, 1200);
            let reserved = if kind.is_triggered() {
                ARM_MS + dur_ms
            } else {
                dur_ms
            };
            faults.push(PlannedFault {
                at_ms: at,
                dur_ms,
                kind,
            });
            at += reserved + rng.range(self.link_gap_ms.0, self.link_gap_ms.1);
        }
    }
}
