//! The body shared by `session_manager_tokio.rs` and `session_manager_smol.rs`: the source's
//! messaging-account manager on baton. Eight accounts run monitoring, scraping (at most 5 at
//! once across all accounts) and bulk sends that spawn one child per message; one account is
//! disconnected mid-way while its monitoring is stuck in a blocking call.

use baton_kernel::{ClassConfig, Config, Duration, ListFilter, Metrics, TaskState, preset};
use baton_runtime::{Scheduler, TaskContext, TaskFailure};
use std::time::Duration as StdDuration;

/// The preset with its grace scaled down for a demo (200 ms per class, 400 ms at disconnect),
/// plus `send_one`, the background class of a bulk send's children.
pub(crate) fn config() -> Config {
    let mut config = preset::session_manager();
    for class in &mut config.classes {
        class.grace = Duration::from_millis(200);
    }
    config.classes.push(
        ClassConfig::background("send_one", 1)
            .with_run_timeout(Duration::from_secs(10))
            .with_grace(Duration::from_millis(200)),
    );
    config.disconnect_grace = Duration::from_millis(400);
    config
}

async fn monitor(ctx: TaskContext, checks: u64) -> Result<u64, TaskFailure> {
    for i in 1..=checks {
        ctx.progress(i, checks, "checking dialogs")?;
        ctx.sleep(StdDuration::from_millis(20)).await;
        if ctx.is_cancelled() {
            return Ok(i);
        }
    }
    Ok(checks)
}

async fn scrape(ctx: TaskContext, group: u32) -> Result<usize, TaskFailure> {
    for page in 1..=3 {
        ctx.progress(page, 3, format!("group {group}: page {page}"))?;
        futures::select_biased! {
            _ = ctx.cancelled() => return Err(TaskFailure::new("cancelled mid-scrape")),
            _ = futures::FutureExt::fuse(ctx.sleep(StdDuration::from_millis(30))) => {}
        }
    }
    Ok(3 * 50)
}

async fn bulk_send(ctx: TaskContext, messages: u32) -> Result<u32, TaskFailure> {
    // One child per message, on this account, cancelled with the bulk send.
    let children: Vec<_> = (0..messages)
        .map(|m| {
            ctx.spawn_child("send_one", move |c| async move {
                c.sleep(StdDuration::from_millis(5 * u64::from(m % 4)))
                    .await;
                Ok::<_, TaskFailure>(m)
            })
        })
        .collect();
    let mut sent = 0;
    for (i, child) in children.into_iter().enumerate() {
        child.await.map_err(TaskFailure::new)?;
        sent += 1;
        ctx.progress(i as u64 + 1, u64::from(messages), "sent")?;
    }
    Ok(sent)
}

fn print_registry(s: &Scheduler, title: &str) {
    println!("\n== registry: {title} ==");
    let filter = ListFilter::default();
    let mut after = None;
    loop {
        let page = s.list(&filter, after, 50);
        for v in &page.items {
            if v.state.is_terminal() && v.state == TaskState::Completed {
                continue; // keep the listing short: completed records are counted below
            }
            println!(
                "  {:>8} {:<10} session={:<4} parent={:<5} {:<10} age={:<8} {}",
                v.id.to_string(),
                v.class_name,
                v.session.map_or("-".into(), |s| s.0.to_string()),
                v.parent.map_or("-".into(), |p| p.0.to_string()),
                v.state.name(),
                v.age.to_string(),
                if v.progress.message.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{}/{} {}",
                        v.progress.current,
                        v.progress.total.unwrap_or(0),
                        v.progress.message
                    )
                }
            );
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let c = s.counts();
    println!(
        "  counts: queued={} running={} cancelling={} completed={} failed={} cancelled={} rejected={} abandoned={}",
        c.get(TaskState::Queued),
        c.get(TaskState::Running),
        c.get(TaskState::Cancelling),
        c.get(TaskState::Completed),
        c.get(TaskState::Failed),
        c.get(TaskState::Cancelled),
        c.get(TaskState::Rejected),
        c.get(TaskState::Abandoned),
    );
}

fn print_metrics(m: &Metrics) {
    println!("\n== metrics ==");
    println!(
        "  {:<10} {:>7} {:>7} {:>5} {:>9} {:>9} {:>6} {:>9} {:>12}",
        "class",
        "running",
        "queued",
        "stuck",
        "submitted",
        "completed",
        "failed",
        "cancelled",
        "p50 wait"
    );
    for c in &m.classes {
        let t = &c.totals;
        println!(
            "  {:<10} {:>7} {:>7} {:>5} {:>9} {:>9} {:>6} {:>9} {:>12}",
            c.name,
            c.running,
            c.queued,
            c.stuck,
            t.submitted,
            t.outcomes[0],
            t.outcomes[1],
            t.outcomes[2] + t.outcomes[3],
            t.queue_wait.quantile_upper_bound(500).to_string(),
        );
    }
    println!("  registry={} sessions={}", m.registry_len, m.sessions);
}

/// Runs the scenario on `s`.
pub(crate) async fn run(s: Scheduler) -> Result<(), Box<dyn std::error::Error>> {
    let accounts: Vec<_> = (1..=8)
        .map(|i| s.connect(&format!("acct-{i}")))
        .collect::<Result<_, _>>()?;
    let mut scrapes = Vec::new();
    let mut sends = Vec::new();
    let mut monitors = Vec::new();
    for (i, &acct) in accounts.iter().enumerate() {
        if i == 2 {
            // acct-3's monitoring hangs in a blocking call that cannot be aborted.
            monitors.push(s.submit(acct, "monitoring", |ctx| async move {
                ctx.progress(0, 1, "waiting on a hung socket")?;
                ctx.spawn_blocking(|| std::thread::sleep(StdDuration::from_millis(1500)))
                    .await;
                Ok::<_, TaskFailure>(0)
            }));
        } else {
            monitors.push(s.submit(acct, "monitoring", |ctx| monitor(ctx, 3)));
        }
        for group in 0..2 {
            scrapes.push(s.submit(acct, "scraping", move |ctx| scrape(ctx, group)));
        }
        sends.push(s.submit(acct, "sending", |ctx| bulk_send(ctx, 6)));
    }
    s.runtime()
        .sleep_until(s.runtime().now() + StdDuration::from_millis(100))
        .await;
    print_registry(
        &s,
        "100 ms in: 5 scrapes at most, acct-3 held by its hung monitoring",
    );
    for handle in [&scrapes[5], &scrapes[14]] {
        let id = handle.id().unwrap();
        if let Some(why) = s.explain(id) {
            println!("  why is {id} where it is? {why}");
        }
    }

    println!("\n== disconnect acct-3 mid-way ==");
    let report = s.disconnect("acct-3").await?;
    println!("  cleanup done at {}; stuck tasks:", report.at);
    for stuck in &report.stuck {
        println!(
            "    {} class={} parent={:?} age={} reason={}",
            stuck.task,
            s.class_name(stuck.class).unwrap_or_default(),
            stuck.parent,
            stuck.age,
            stuck.reason.map_or("-", |r| r.name())
        );
    }

    let (mut done, mut ended) = (0, 0);
    for h in scrapes {
        match h.await {
            Ok(_) => done += 1,
            Err(e) => {
                ended += 1;
                println!("  scrape {e}");
            }
        }
    }
    println!("  scrapes: {done} done, {ended} ended by the disconnect");
    for h in monitors {
        match h.await {
            Ok(checks) => println!("  monitoring: {checks} checks"),
            Err(e) => println!("  monitoring: {e}"),
        }
    }
    for h in sends {
        match h.await {
            Ok(n) => println!("  bulk send: {n} messages"),
            Err(e) => println!("  bulk send: {e}"),
        }
    }
    print_registry(&s, "after the work");
    print_metrics(&s.metrics());
    let stuck = s.stuck();
    println!("\n== stuck now: {} ==", stuck.len());
    let report = s.shutdown(StdDuration::from_millis(500)).await?;
    println!("shutdown: {} stuck at the end", report.stuck.len());
    Ok(())
}
