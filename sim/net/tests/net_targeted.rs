//! Hand-written plans, one per situation the issue names, each asserting what happens step by
//! step — and that the matching broken adapter is caught on exactly this plan.

use baton_sim_net::client::PlannedOp;
use baton_sim_net::log::{Abandon, Class, End, Event};
use baton_sim_net::runner::{describe, parse_fault};
use baton_sim_net::scenario::{FaultKind, Plan, PlannedFault};
use baton_sim_net::wire::Origin;
use baton_sim_net::{Options, Property, Report, Scenario, run_plan};

/// One client with one session.
fn world() -> Scenario {
    Scenario {
        clients: 1,
        sessions: 1,
        ..Scenario::quick()
    }
}

fn op(at_ms: u64, class: Class, op_ms: u32) -> PlannedOp {
    PlannedOp {
        at_ms,
        session: 0,
        class,
        op_ms,
        cancel_after_ms: None,
    }
}

/// A plan: `ops` on client 0, `faults`, healed at 1500 ms; operations from 1500 ms on must
/// complete.
fn plan(ops: Vec<PlannedOp>, faults: Vec<PlannedFault>) -> Plan {
    Plan {
        clients: vec![ops],
        faults,
        heal_ms: 1500,
        settled_ms: 1500,
        end_ms: 2000,
        deadline_ms: 9000,
    }
}

fn task(n: u64) -> Origin {
    Origin {
        client: 0,
        inc: 0,
        task: n,
    }
}

fn outcome(report: &Report, origin: Origin) -> String {
    report
        .log
        .entries()
        .iter()
        .find_map(|e| match &e.event {
            Event::Outcome {
                origin: o, outcome, ..
            } if *o == origin => Some(outcome.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "none".into())
}

fn abandon(report: &Report, origin: Origin) -> Option<Abandon> {
    report.log.entries().iter().find_map(|e| match &e.event {
        Event::Abandoned { origin: o, how } if *o == origin => Some(*how),
        _ => None,
    })
}

fn server_end(report: &Report, origin: Origin) -> Option<(u64, End)> {
    report.log.entries().iter().find_map(|e| match &e.event {
        Event::End { origin: o, how, .. } if *o == origin => Some((e.t, *how)),
        _ => None,
    })
}

fn arrival(report: &Report, origin: Origin) -> Option<u64> {
    report.log.entries().iter().find_map(|e| match &e.event {
        Event::Arrive { origin: o, .. } if *o == origin => Some(e.t),
        _ => None,
    })
}

fn clean(report: &Report) {
    // Shown with `--nocapture`.
    for entry in report.log.entries() {
        println!("{entry}");
    }
    assert!(
        report.violations.is_empty(),
        "violations:\n{}\nlog:\n{}",
        describe(&report.violations, 5),
        report
            .log
            .entries()
            .iter()
            .map(|e| format!("{e}\n"))
            .collect::<String>()
    );
}

fn broken(plan: &Plan, bug: &str, property: Property) {
    let report = run_plan(&world(), plan, 1, parse_fault(bug).expect("known"));
    assert!(
        report.broke(property),
        "{bug} not caught by {}:\n{}",
        property.name(),
        describe(&report.violations, 5)
    );
}

/// The server completes a send, and its response is held on the link (hold, released 700 ms
/// later). The run timeout (300 ms) fires anyway; the body sends `Cancel` (held too), gets no
/// ack within the abandon wait and resets the connection; the task ends `timed_out` and the
/// session moves on: the next operation after the heal completes on a new connection.
#[test]
fn held_response_times_out_and_the_session_moves_on() {
    // Task 1 (monitoring) arms the driver's timer, so a lost wake-up loses task 2's deadline.
    let plan = plan(
        vec![
            op(0, Class::Monitoring, 50),
            op(200, Class::Sending, 40),
            op(300, Class::Sending, 40),
            op(1600, Class::Sending, 40),
        ],
        vec![PlannedFault {
            at_ms: 150,
            dur_ms: 700,
            kind: FaultKind::HoldResponse { client: 0 },
        }],
    );
    let report = run_plan(&world(), &plan, 1, Options::default());
    clean(&report);
    assert_eq!(outcome(&report, task(1)), "completed");
    assert_eq!(outcome(&report, task(2)), "timed_out");
    assert_eq!(abandon(&report, task(2)), Some(Abandon::Reset));
    assert!(matches!(
        server_end(&report, task(2)),
        Some((_, End::Completed))
    ));
    assert_eq!(outcome(&report, task(4)), "completed");
    // Without the driver's wake-up, the held response is simply waited for.
    broken(&plan, "lost-wakeup", Property::Timeout);
}

/// The request arrives, then the link is partitioned: the operation runs on the server but its
/// response — and the client's `Cancel` — are lost, and the connection (no retransmission in
/// turmoil's TCP) stalls for good. The run timeout fires, the connection is reset, and after
/// the repair the session works again.
#[test]
fn lost_response_times_out_and_the_connection_is_reset() {
    let plan = plan(
        vec![
            op(0, Class::Monitoring, 50),
            op(200, Class::Scraping, 100),
            op(1600, Class::Scraping, 100),
        ],
        vec![PlannedFault {
            at_ms: 150,
            dur_ms: 900,
            kind: FaultKind::LoseResponse { client: 0 },
        }],
    );
    let report = run_plan(&world(), &plan, 1, Options::default());
    clean(&report);
    assert_eq!(outcome(&report, task(2)), "timed_out");
    assert_eq!(abandon(&report, task(2)), Some(Abandon::Reset));
    assert!(matches!(
        server_end(&report, task(2)),
        Some((_, End::Completed))
    ));
    assert_eq!(outcome(&report, task(3)), "completed");
    // Without the driver's wake-up the stalled connection is waited on for ever.
    broken(&plan, "lost-wakeup", Property::Liveness);
}

/// A send outlasts its run timeout on a healthy network. The body cancels it on the server,
/// which stops it at its next step and acknowledges; only then does the next operation of the
/// session reach the server.
#[test]
fn a_cancelled_operation_stops_on_the_server_before_the_next_arrives() {
    let plan = plan(
        vec![
            op(0, Class::Sending, 900),
            op(10, Class::Monitoring, 60),
            op(1600, Class::Sending, 40),
        ],
        vec![],
    );
    let report = run_plan(&world(), &plan, 1, Options::default());
    clean(&report);
    assert_eq!(outcome(&report, task(1)), "timed_out");
    assert_eq!(abandon(&report, task(1)), Some(Abandon::Acked));
    let (ended, how) = server_end(&report, task(1)).expect("ended");
    assert_eq!(how, End::Cancelled);
    let next = arrival(&report, task(2)).expect("arrived");
    assert!(
        ended <= next,
        "task 2 arrived at {next} before task 1 ended at {ended}"
    );
    assert_eq!(outcome(&report, task(2)), "completed");
    // Freeing the session on cancel lets task 2 in while task 1 still runs.
    broken(&plan, "release-on-cancel", Property::Exclusive);
    // Ignoring the cancel: task 1 is aborted after the grace, without giving its request up.
    broken(&plan, "ignore-cancel", Property::Timeout);
}

/// The server crashes mid-operation and comes back 300 ms later. The operation in flight fails
/// (its connection closes), operations meanwhile fail to connect, and every task still reaches
/// exactly one terminal state; after the bounce the session works again.
#[test]
fn a_server_bounce_loses_no_task() {
    let plan = plan(
        vec![
            op(0, Class::Scraping, 200),
            op(50, Class::Sending, 40),
            op(150, Class::Sending, 40),
            op(1600, Class::Sending, 40),
        ],
        vec![PlannedFault {
            at_ms: 60,
            dur_ms: 300,
            kind: FaultKind::ServerCrash,
        }],
    );
    let report = run_plan(&world(), &plan, 1, Options::default());
    clean(&report);
    assert!(matches!(
        server_end(&report, task(1)),
        Some((_, End::Crashed))
    ));
    assert_eq!(outcome(&report, task(1)), "failed");
    assert_eq!(outcome(&report, task(4)), "completed");
    // Losing failed attempts loses exactly these tasks.
    broken(&plan, "lose-failed-exit", Property::Accounting);
}
