//! A walk through the kernel with a tiny virtual-time driver: three accounts share the
//! messaging-account preset (monitoring / scraping limited to 5 / sending), contend for their
//! sessions, hit a run timeout, ignore a cancellation until aborted, get disconnected, and the
//! registry, explanations, metrics and the stuck-task report are printed along the way.
//!
//! Run: `cargo run -p baton-kernel --example walkthrough`

use baton_kernel::{
    Action, CancelReason, Duration, Exit, Instant, Kernel, ListFilter, Notice, Outcome, Progress,
    RejectReason, Submit, Target, TaskId, preset,
};
use std::collections::BTreeMap;

/// How a simulated task body behaves once started.
#[derive(Clone, Copy)]
enum Body {
    /// Finishes after this long.
    Runs(Duration),
    /// Never finishes on its own; stops promptly when cancelled.
    Cooperative,
    /// Ignores cancellation and abort (blocking code): it never reports.
    Zombie,
}

struct Driver {
    kernel: Kernel,
    now: Instant,
    bodies: BTreeMap<TaskId, Body>,
    /// Reports the "runtime" will deliver: (instant, task, exit).
    pending: Vec<(Instant, TaskId, Exit)>,
}

impl Driver {
    fn drain(&mut self) {
        while let Some(action) = self.kernel.poll_action() {
            let at = self.now;
            match action {
                Action::Start {
                    task,
                    session,
                    attempt,
                    ..
                } => {
                    let label = session
                        .and_then(|s| self.kernel.session_label(s))
                        .unwrap_or_else(|| "-".into());
                    println!("{at:>12}  start   {task} on {label} (attempt {attempt})");
                    if let Some(Body::Runs(d)) = self.bodies.get(&task) {
                        self.pending.push((at + *d, task, Exit::Completed));
                    }
                }
                Action::Cancel { task, reason } => {
                    println!("{at:>12}  cancel  {task} ({})", reason.name());
                    if let Some(Body::Cooperative | Body::Runs(_)) = self.bodies.get(&task) {
                        // A cooperative body notices the signal a little later.
                        self.pending.retain(|p| p.1 != task);
                        self.pending
                            .push((at + Duration::from_millis(200), task, Exit::Completed));
                    }
                }
                Action::Abort { task } => println!("{at:>12}  abort   {task} (grace over)"),
                Action::Notify(Notice::Finished { task, outcome }) => {
                    println!("{at:>12}  ended   {task}: {}", outcome.name());
                }
                Action::Notify(Notice::Closed(report)) => {
                    println!("{at:>12}  closed  {:?}; stuck tasks:", report.scope);
                    for s in &report.stuck {
                        let class = &self.kernel.config().classes[s.class.index()].name;
                        println!(
                            "              - {} ({class}, parent {:?}, age {})",
                            s.task, s.parent, s.age
                        );
                    }
                }
                Action::Notify(_) => {}
            }
        }
    }

    /// Advances virtual time to `until`, delivering reports and deadlines in order.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.pending.sort_by_key(|p| (p.0, p.1));
            let next_report = self.pending.first().map(|p| p.0);
            let next_timer = self.kernel.poll_timeout();
            let next = [next_report, next_timer].into_iter().flatten().min();
            match next {
                Some(t) if t <= until => {
                    self.now = t;
                    if next_report == Some(t) {
                        let (_, task, exit) = self.pending.remove(0);
                        // A report for a task already removed is refused, and changes nothing.
                        let _ = self.kernel.finished(t, task, exit);
                    } else {
                        self.kernel.handle_timeout(t).expect("time moves forward");
                    }
                    self.drain();
                    self.kernel
                        .check_invariants()
                        .expect("kernel invariants hold");
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn submit(&mut self, class: &str, target: Target, body: Body) -> TaskId {
        let class = self.kernel.class_id(class).expect("preset class");
        let id = self
            .kernel
            .submit(self.now, Submit::new(class, target))
            .expect("accepted");
        self.bodies.insert(id, body);
        self.drain();
        id
    }

    fn print_registry(&self, title: &str) {
        println!("\n--- registry: {title} ({}) ---", self.now);
        let page = self.kernel.list(&ListFilter::default(), None, 100);
        for v in &page.items {
            let why = self
                .kernel
                .explain(v.id)
                .map(|e| e.to_string())
                .unwrap_or_default();
            println!(
                "  {:<8} {:<11} {:<10} {}",
                v.id.to_string(),
                v.class_name,
                v.state.name(),
                why
            );
        }
        let c = self.kernel.counts();
        println!(
            "  counts: {} queued, {} running, {} terminal, {} in registry\n",
            c.waiting(),
            c.active(),
            c.terminal(),
            c.total()
        );
    }
}

fn main() {
    let mut config = preset::session_manager();
    // Short deadlines so the walk takes seconds of virtual time, not hours.
    for class in &mut config.classes {
        class.run_timeout = Some(Duration::from_secs(4));
        class.queue_timeout = Some(Duration::from_secs(6));
        class.grace = Duration::from_secs(1);
    }
    config.disconnect_grace = Duration::from_secs(2);
    let mut d = Driver {
        kernel: Kernel::new(config).expect("valid preset"),
        now: Instant::ZERO,
        bodies: BTreeMap::new(),
        pending: Vec::new(),
    };

    println!("== three accounts connect; work contends for each session ==");
    let alice = d.kernel.connect(d.now, "alice").expect("connect");
    let bob = d.kernel.connect(d.now, "bob").expect("connect");
    let carol = d.kernel.connect(d.now, "carol").expect("connect");
    let secs = Duration::from_secs;
    d.submit("sending", Target::Session(alice), Body::Runs(secs(1)));
    d.submit("monitoring", Target::Session(alice), Body::Runs(secs(2)));
    d.submit("scraping", Target::Session(alice), Body::Runs(secs(1)));
    let slow = d.submit("scraping", Target::Session(bob), Body::Cooperative);
    d.submit("sending", Target::Session(bob), Body::Runs(secs(1)));
    let zombie = d.submit("monitoring", Target::Session(carol), Body::Zombie);
    d.submit("sending", Target::Session(carol), Body::Runs(secs(1)));
    d.print_registry("after submits");

    println!("== progress is a heartbeat; the first second passes ==");
    d.kernel
        .progress(
            d.now,
            slow,
            Progress {
                current: 1,
                total: Some(10),
                message: "page 1".into(),
            },
        )
        .expect("running");
    d.run_until(Instant::ZERO + secs(3));
    d.print_registry("t=3s");

    println!(
        "== run timeouts fire at 4s: bob's scrape stops when asked, carol's zombie does not =="
    );
    d.run_until(Instant::ZERO + secs(6));
    d.print_registry("t=6s");
    println!(
        "stuck tasks: {:?}",
        d.kernel.stuck().iter().map(|v| v.id).collect::<Vec<_>>()
    );
    assert!(d.kernel.stuck().iter().any(|v| v.id == zombie));

    println!(
        "\n== carol disconnects: her queued work is rejected, the zombie reported and removed =="
    );
    d.kernel.disconnect(d.now, "carol").expect("connected");
    d.drain();
    d.run_until(Instant::ZERO + secs(10));
    d.print_registry("t=10s");

    println!("== metrics ==");
    for m in d.kernel.metrics().classes {
        println!(
            "  {:<11} running {} queued {} | completed {} timed_out {} rejected {} abandoned {} | wait p50 <= {} run p50 <= {}",
            m.name,
            m.running,
            m.queued,
            m.totals.ended(Outcome::Completed),
            m.totals.ended(Outcome::TimedOut(CancelReason::Timeout)),
            m.totals
                .ended(Outcome::Rejected(RejectReason::QueueTimeout)),
            m.totals.ended(Outcome::Abandoned),
            m.totals.queue_wait.quantile_upper_bound(500),
            m.totals.run_time.quantile_upper_bound(500),
        );
    }
    println!("\n== retention: terminal records leave within [300 s, 360 s) ==");
    d.run_until(Instant::ZERO + secs(400));
    d.print_registry("t=400s");
    assert_eq!(
        d.kernel.registry_len(),
        0,
        "every record was removed after retention"
    );
    println!("walkthrough done: invariants held after every step.");
}
