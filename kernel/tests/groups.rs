//! Groups and late binding: a group task runs on whichever member frees first; among several
//! free members it takes the one idle longest (ties: lowest session id); joins, leaves and
//! disconnects change the member set at once.

use baton_kernel::{
    Action, Blocker, CancelReason, ClassConfig, ClassId, Config, Duration, Error, Exit,
    Explanation, GroupId, Instant, Kernel, Notice, Outcome, SessionId, Submit, Target, TaskId,
    TaskState,
};

const WORK: ClassId = ClassId(0);

fn config() -> Config {
    Config::new(vec![ClassConfig::exclusive("work", 5).without_timeouts()])
}

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn drain(k: &mut Kernel) -> Vec<Action> {
    let actions: Vec<Action> = std::iter::from_fn(|| k.poll_action()).collect();
    k.check_invariants().expect("invariants hold");
    actions
}

/// (task, session) of every Start.
fn starts(actions: &[Action]) -> Vec<(TaskId, Option<SessionId>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { task, session, .. } => Some((*task, *session)),
            _ => None,
        })
        .collect()
}

fn submit(k: &mut Kernel, now: Instant, target: Target) -> TaskId {
    k.submit(now, Submit::new(WORK, target)).unwrap()
}

/// A kernel with sessions `names` connected at 0 s and all joined to group "g".
fn grouped(names: &[&str]) -> (Kernel, GroupId, Vec<SessionId>) {
    let mut k = Kernel::new(config()).unwrap();
    let ss: Vec<SessionId> = names.iter().map(|n| k.connect(at(0), n).unwrap()).collect();
    let mut g = GroupId(u32::MAX);
    for s in &ss {
        g = k.join_group(at(0), "g", *s).unwrap();
    }
    drain(&mut k);
    (k, g, ss)
}

#[test]
fn a_group_task_runs_on_whichever_member_frees_first() {
    let (mut k, g, ss) = grouped(&["a", "b"]);
    let (a, b) = (ss[0], ss[1]);
    let on_a = submit(&mut k, at(0), Target::Session(a));
    let on_b = submit(&mut k, at(0), Target::Session(b));
    let grouped_task = submit(&mut k, at(1), Target::Group(g));
    assert_eq!(
        starts(&drain(&mut k)),
        vec![(on_a, Some(a)), (on_b, Some(b))]
    );
    assert_eq!(
        k.explain(grouped_task),
        Some(Explanation::Queued {
            blockers: vec![Blocker::NoFreeMember {
                group: g,
                members: 2
            }]
        })
    );
    // Not bound at submit: no session counts it while it waits.
    assert_eq!(k.task(grouped_task).unwrap().session, None);
    assert_eq!(k.session_counts(a).unwrap().get(TaskState::Queued), 0);
    assert_eq!(k.session_counts(b).unwrap().get(TaskState::Queued), 0);

    k.finished(at(2), on_b, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![(grouped_task, Some(b))]);
    assert_eq!(k.session_holder(b), Some(grouped_task));
    assert_eq!(k.task(grouped_task).unwrap().session, Some(b));
    assert_eq!(k.session_counts(b).unwrap().get(TaskState::Running), 1);
    // Once it stops, a is free and b is free again.
    k.finished(at(3), grouped_task, Exit::Completed).unwrap();
    drain(&mut k);
    assert_eq!(k.session_holder(b), None);
}

#[test]
fn several_free_members_the_one_idle_longest_takes_the_task() {
    let (mut k, g, ss) = grouped(&["a", "b", "c"]);
    let (a, b, c) = (ss[0], ss[1], ss[2]);
    let t1 = submit(&mut k, at(1), Target::Group(g));
    let t2 = submit(&mut k, at(1), Target::Group(g));
    let t3 = submit(&mut k, at(1), Target::Group(g));
    // All idle since 0 s: ties go to the lowest session id.
    assert_eq!(
        starts(&drain(&mut k)),
        vec![(t1, Some(a)), (t2, Some(b)), (t3, Some(c))]
    );
    k.finished(at(5), t3, Exit::Completed).unwrap();
    k.finished(at(6), t1, Exit::Completed).unwrap();
    k.finished(at(7), t2, Exit::Completed).unwrap();
    drain(&mut k);
    // c has been idle since 5 s, a since 6 s, b since 7 s.
    let t4 = submit(&mut k, at(8), Target::Group(g));
    let t5 = submit(&mut k, at(8), Target::Group(g));
    let t6 = submit(&mut k, at(8), Target::Group(g));
    assert_eq!(
        starts(&drain(&mut k)),
        vec![(t4, Some(c)), (t5, Some(a)), (t6, Some(b))]
    );
}

#[test]
fn ties_in_idle_time_go_to_the_lowest_session_id_whatever_the_join_order() {
    let mut k = Kernel::new(config()).unwrap();
    let x = k.connect(at(0), "x").unwrap();
    let y = k.connect(at(0), "y").unwrap();
    let g = k.join_group(at(0), "g", y).unwrap();
    k.join_group(at(0), "g", x).unwrap();
    let t = submit(&mut k, at(0), Target::Group(g));
    assert!(x < y);
    assert_eq!(starts(&drain(&mut k)), vec![(t, Some(x))]);
}

#[test]
fn a_free_member_serves_its_own_queue_and_the_group_queue_by_the_one_rule() {
    let (mut k, g, ss) = grouped(&["a"]);
    let a = ss[0];
    let holder = submit(&mut k, at(0), Target::Session(a));
    let own = submit(&mut k, at(1), Target::Session(a));
    let grouped_task = submit(&mut k, at(2), Target::Group(g));
    let urgent_group = k
        .submit(
            at(3),
            Submit {
                priority: Some(9),
                ..Submit::new(WORK, Target::Group(g))
            },
        )
        .unwrap();
    drain(&mut k);
    k.finished(at(4), holder, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![(urgent_group, Some(a))]);
    k.finished(at(5), urgent_group, Exit::Completed).unwrap();
    // Equal priority: the earlier submission, the session's own task, goes first.
    assert_eq!(starts(&drain(&mut k)), vec![(own, Some(a))]);
    k.finished(at(6), own, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![(grouped_task, Some(a))]);
}

#[test]
fn a_member_that_left_takes_no_group_task_and_a_new_member_takes_one_at_once() {
    let (mut k, g, ss) = grouped(&["a", "b"]);
    let (a, b) = (ss[0], ss[1]);
    let on_b = submit(&mut k, at(0), Target::Session(b));
    drain(&mut k);
    k.leave_group(at(1), "g", a).unwrap();
    assert_eq!(
        k.leave_group(at(1), "g", a),
        Err(Error::NotMember {
            session: a,
            group: g
        })
    );
    let waiting = submit(&mut k, at(2), Target::Group(g));
    assert_eq!(
        starts(&drain(&mut k)),
        vec![],
        "a is free but no longer a member"
    );
    assert_eq!(
        k.explain(waiting),
        Some(Explanation::Queued {
            blockers: vec![Blocker::NoFreeMember {
                group: g,
                members: 1
            }]
        })
    );
    let c = k.connect(at(3), "c").unwrap();
    k.join_group(at(3), "g", c).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![(waiting, Some(c))]);
    assert_eq!(k.task(on_b).unwrap().state, TaskState::Running);
}

#[test]
fn rejoining_member_is_served_again() {
    let (mut k, g, ss) = grouped(&["a"]);
    let a = ss[0];
    k.leave_group(at(1), "g", a).unwrap();
    let t = submit(&mut k, at(2), Target::Group(g));
    assert_eq!(starts(&drain(&mut k)), vec![]);
    k.join_group(at(3), "g", a).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![(t, Some(a))]);
}

#[test]
fn leaving_while_running_a_group_task_keeps_it_running() {
    let (mut k, g, ss) = grouped(&["a", "b"]);
    let (a, b) = (ss[0], ss[1]);
    let t = submit(&mut k, at(0), Target::Group(g));
    assert_eq!(starts(&drain(&mut k)), vec![(t, Some(a))]);
    k.leave_group(at(1), "g", a).unwrap();
    assert_eq!(drain(&mut k), vec![]);
    assert_eq!(k.session_holder(a), Some(t));
    k.finished(at(2), t, Exit::Completed).unwrap();
    drain(&mut k);
    // a is free now but not a member: the next group task goes to b.
    let t2 = submit(&mut k, at(3), Target::Group(g));
    assert_eq!(starts(&drain(&mut k)), vec![(t2, Some(b))]);
}

#[test]
fn a_disconnected_member_cancels_its_group_task_and_the_queue_moves_to_the_others() {
    let (mut k, g, ss) = grouped(&["a", "b"]);
    let (a, b) = (ss[0], ss[1]);
    let on_a = submit(&mut k, at(0), Target::Group(g));
    let on_b = submit(&mut k, at(0), Target::Group(g));
    let waiting = submit(&mut k, at(0), Target::Group(g));
    assert_eq!(
        starts(&drain(&mut k)),
        vec![(on_a, Some(a)), (on_b, Some(b))]
    );
    k.disconnect(at(1), "a").unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Cancel {
            task: on_a,
            reason: CancelReason::Disconnect
        }]
    );
    // The group's queued task belongs to the group, not to a: it is not rejected.
    assert_eq!(k.task(waiting).unwrap().state, TaskState::Queued);
    k.finished(at(2), on_a, Exit::Completed).unwrap();
    let actions = drain(&mut k);
    assert_eq!(
        actions[0],
        Action::Notify(Notice::Finished {
            task: on_a,
            outcome: Outcome::Cancelled(CancelReason::Disconnect)
        })
    );
    assert_eq!(starts(&actions), vec![], "a is gone, b is busy");
    assert_eq!(
        k.explain(waiting),
        Some(Explanation::Queued {
            blockers: vec![Blocker::NoFreeMember {
                group: g,
                members: 1
            }]
        })
    );
    // A reconnected "a" is a new generation and not a member.
    let a2 = k.connect(at(3), "a").unwrap();
    assert_ne!(a2, a);
    assert_eq!(starts(&drain(&mut k)), vec![]);
    k.finished(at(4), on_b, Exit::Completed).unwrap();
    assert_eq!(starts(&drain(&mut k)), vec![(waiting, Some(b))]);
}

#[test]
fn a_group_task_with_no_members_waits_until_its_queue_timeout() {
    let mut c = config();
    c.classes[0].queue_timeout = Some(Duration::from_secs(10));
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let g = k.join_group(at(0), "g", a).unwrap();
    k.disconnect(at(0), "a").unwrap();
    drain(&mut k);
    let t = submit(&mut k, at(1), Target::Group(g));
    assert_eq!(starts(&drain(&mut k)), vec![]);
    k.handle_timeout(at(11)).unwrap();
    assert_eq!(
        drain(&mut k),
        vec![Action::Notify(Notice::Finished {
            task: t,
            outcome: Outcome::Rejected(baton_kernel::RejectReason::QueueTimeout)
        })]
    );
}

#[test]
fn a_retried_group_task_binds_again_to_whichever_member_is_free() {
    let mut c = config();
    c.classes[0].retry = baton_kernel::RetryPolicy {
        max_attempts: 2,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(1),
        jitter_permille: 0,
    };
    let mut k = Kernel::new(c).unwrap();
    let a = k.connect(at(0), "a").unwrap();
    let b = k.connect(at(0), "b").unwrap();
    let g = k.join_group(at(0), "g", a).unwrap();
    k.join_group(at(0), "g", b).unwrap();
    let t = submit(&mut k, at(0), Target::Group(g));
    assert_eq!(starts(&drain(&mut k)), vec![(t, Some(a))]);
    k.finished(
        at(1),
        t,
        Exit::Failed {
            error: "e".into(),
            retryable: true,
        },
    )
    .unwrap();
    drain(&mut k);
    // While it backs off, a takes other work; the retry goes to b.
    let other = submit(&mut k, at(1), Target::Session(a));
    assert_eq!(starts(&drain(&mut k)), vec![(other, Some(a))]);
    assert_eq!(k.session_counts(a).unwrap().get(TaskState::Backoff), 0);
    k.handle_timeout(at(2)).unwrap();
    let actions = drain(&mut k);
    assert_eq!(starts(&actions), vec![(t, Some(b))]);
    assert!(actions.contains(&Action::Start {
        task: t,
        class: WORK,
        session: Some(b),
        attempt: 2
    }));
}
