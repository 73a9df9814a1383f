//! Record → replay → what if, end to end: a real scheduler on tokio records its run; the log
//! replays exactly and passes the oracle; doctored logs are caught; a what-if changes what it
//! should.

use baton_kernel::{Action, Applied, ClassConfig, Config, Duration, LogHeader, RetryPolicy};
use baton_runtime::{MemoryLog, Scheduler, TaskFailure};
use baton_sim::OracleConfig;
use baton_sim::input_log::InputLog;
use baton_sim::whatif::{self, ClassStats, Overrides};
use std::time::Duration as StdDuration;

fn config() -> Config {
    let mut c = Config::new(vec![
        ClassConfig::exclusive("io", 5)
            .without_timeouts()
            .with_grace(Duration::from_millis(50))
            .with_limit(3)
            .with_retry(RetryPolicy {
                max_attempts: 2,
                base: Duration::from_millis(5),
                cap: Duration::from_millis(5),
                jitter_permille: 0,
            }),
        ClassConfig::background("bg", 1).without_timeouts(),
    ]);
    c.disconnect_grace = Duration::from_millis(100);
    c
}

/// Six sessions × three io tasks (one fails once and is retried), background work, a user
/// cancel, a disconnect and a shutdown, recorded.
fn recorded_run() -> String {
    let buffer = MemoryLog::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Scheduler::recording(config(), None, buffer.clone()).unwrap();
        let mut handles = Vec::new();
        for a in 0..6 {
            let session = s.connect(&format!("acct-{a}")).unwrap();
            for t in 0..3u64 {
                let fail_once = a == 0 && t == 0;
                handles.push(s.submit(session, "io", move |ctx| async move {
                    ctx.progress(1, 2, "half")?;
                    tokio::time::sleep(StdDuration::from_millis(3 + t)).await;
                    if fail_once && ctx.attempt() == 1 {
                        return Err(TaskFailure::retryable("flaky"));
                    }
                    Ok::<_, TaskFailure>(t)
                }));
            }
        }
        let bg = s.submit(baton_kernel::Target::None, "bg", |_| async {
            tokio::time::sleep(StdDuration::from_millis(2)).await;
            Ok::<_, TaskFailure>(99)
        });
        let doomed = s.submit(baton_kernel::Target::None, "bg", |ctx| async move {
            ctx.cancelled().await;
            Err::<u64, _>(TaskFailure::new("stopped"))
        });
        tokio::time::sleep(StdDuration::from_millis(5)).await;
        doomed.cancel().unwrap();
        assert!(doomed.await.is_err());
        assert_eq!(bg.await, Ok(99));
        for h in handles {
            assert!(h.await.is_ok());
        }
        s.disconnect("acct-5").await.unwrap();
        s.shutdown(StdDuration::from_millis(100)).await.unwrap();
        s.flush_recording().unwrap();
    });
    buffer.text()
}

#[test]
fn a_recorded_run_replays_exactly_and_passes_the_oracle() {
    let text = recorded_run();
    assert!(InputLog::looks_like(&text));
    let log = InputLog::parse(&text).unwrap();
    assert_eq!(log.config, config());
    let r = log.reproduce().unwrap();
    assert_eq!(r.inputs, log.entries.len());
    let starts = log
        .entries
        .iter()
        .flat_map(|e| &e.actions)
        .filter(|(_, a)| matches!(a, Action::Start { .. }))
        .count();
    // 18 io tasks, one retried, and two background tasks.
    assert_eq!(starts, 18 + 1 + 2);
    assert!(r.actions > starts);
    let out = log
        .recording("recorded")
        .replay(None, OracleConfig::full())
        .unwrap();
    assert!(out.violations.is_empty(), "{:?}", out.violations);
    assert_eq!(out.inputs, log.entries.len() as u64);
}

#[test]
fn doctored_logs_do_not_reproduce() {
    let log = InputLog::parse(&recorded_run()).unwrap();
    // An answer changed: the second task submitted gets another id.
    let mut wrong_answer = log.clone();
    let i = wrong_answer
        .entries
        .iter()
        .position(|e| matches!(e.result, Some(Applied::Task(_))))
        .unwrap();
    wrong_answer.entries[i].result = Some(Applied::Task(baton_kernel::TaskId(999)));
    let err = wrong_answer.reproduce().unwrap_err();
    assert!(err.contains(&format!("input #{i}")), "{err}");
    // An action lost.
    let mut lost = log.clone();
    let e = lost
        .entries
        .iter_mut()
        .find(|e| !e.actions.is_empty())
        .unwrap();
    e.actions.remove(0);
    assert!(lost.reproduce().unwrap_err().contains("action #"));
    // An action stamped with another instant.
    let mut moved = log.clone();
    let e = moved
        .entries
        .iter_mut()
        .find(|e| !e.actions.is_empty())
        .unwrap();
    e.actions[0].0 = baton_kernel::Instant::from_nanos(e.actions[0].0.as_nanos() + 1);
    assert!(moved.reproduce().unwrap_err().contains("action #"));
    // A refusal reworded.
    let mut reworded = log.clone();
    if let Some(e) = reworded.entries.iter_mut().find(|e| e.error.is_some()) {
        e.error = Some("something else".to_owned());
        assert!(
            reworded
                .reproduce()
                .unwrap_err()
                .contains("refused: something else")
        );
    }
}

#[test]
fn logs_from_another_format_or_version_are_refused() {
    let mut header = LogHeader::new(config());
    header.version = 99;
    let text = serde_json::to_string(&header).unwrap();
    let err = InputLog::parse(&text).unwrap_err();
    assert!(err.contains("version 99"), "{err}");
    assert!(InputLog::parse("{}").unwrap_err().starts_with("line 1"));
    assert!(InputLog::parse("").is_err());
    let good = recorded_run();
    let torn = format!("{good}{{\"t\":1,");
    assert!(InputLog::parse(&torn).unwrap_err().starts_with("line "));
}

#[test]
fn a_tighter_limit_makes_the_same_work_wait_longer() {
    let log = InputLog::parse(&recorded_run()).unwrap();
    let same = whatif::replay(&log, &log.config).unwrap();
    let overrides: Overrides = toml::from_str("[[class]]\nname = \"io\"\nlimit = 1\n").unwrap();
    let tight = whatif::replay(&log, &overrides.apply(&log.config).unwrap()).unwrap();
    let io = |s: &[ClassStats]| s.iter().find(|c| c.class == "io").unwrap().clone();
    let (before, after) = (io(&same), io(&tight));
    // The same arrivals…
    assert_eq!(before.submitted, 18);
    assert_eq!(after.submitted, 18);
    // …wait longer with one slot instead of three, and take longer overall.
    let p99 = |c: &ClassStats| ClassStats::quantile(&c.queue_wait, 0.99).unwrap();
    assert!(
        p99(&after) > p99(&before),
        "{} vs {}",
        p99(&after),
        p99(&before)
    );
    let span = |c: &ClassStats| c.span.map(|(a, b)| b - a).unwrap();
    assert!(span(&after) > span(&before));
    // Bodies keep their recorded run times (or stop sooner when cancelled): waiting longer
    // does not make them run longer.
    let longest = |c: &ClassStats| c.run_time.iter().copied().max().unwrap();
    assert!(longest(&after) <= longest(&before));
    let table = whatif::table(&[("recorded", &same), ("limit 1", &tight)]);
    assert!(table.contains("| io | limit 1 | 18 |"), "{table}");
}

#[test]
fn what_if_files_are_checked() {
    assert!(toml::from_str::<Overrides>("[[class]]\nname = \"io\"\nlimt = 1\n").is_err());
    let o: Overrides = toml::from_str("[[class]]\nname = \"new\"\nlimit = 1\n").unwrap();
    let err = o.apply(&config()).unwrap_err();
    assert!(err.contains("exclusive"), "{err}");
}

#[test]
fn a_recorded_run_writes_a_trace_in_the_simulators_format() {
    use baton_sim::trace::{self, TraceEvent};
    let log = InputLog::parse(&recorded_run()).unwrap();
    let trace_text = MemoryLog::default();
    let hash = log.write_trace(Some(Box::new(trace_text.clone()))).unwrap();
    let text = trace_text.text();
    // The same log, the same trace.
    assert_eq!(log.write_trace(None).unwrap(), hash);
    let events = trace::read(&text).unwrap();
    let TraceEvent::Config(config) = &events[0] else {
        panic!("the first line is the config: {:?}", events[0]);
    };
    assert_eq!(config.to_config(), log.config);
    let count = |kind: &str| events.iter().filter(|e| e.kind() == kind).count();
    let actions = |f: fn(&Action) -> bool| {
        log.entries
            .iter()
            .flat_map(|e| &e.actions)
            .filter(|(_, a)| f(a))
            .count()
    };
    assert_eq!(
        count("start"),
        actions(|a| matches!(a, Action::Start { .. }))
    );
    assert_eq!(count("run_begin"), count("start"));
    assert_eq!(
        count("finish"),
        actions(|a| matches!(a, Action::Notify(baton_kernel::Notice::Finished { .. })))
    );
    assert_eq!(count("connect"), 6);
    assert_eq!(count("submit"), 18 + 2);
    assert_eq!(count("shutdown"), 1);
    // Every attempt that started and reported has its run_end.
    assert_eq!(count("run_end"), count("start"));
    // Kernel instants, in the kernel's order: never backwards.
    let times: Vec<u64> = events.iter().filter_map(TraceEvent::t).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}
