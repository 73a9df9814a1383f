//! What if: the arrivals and bodies of a recorded run (an [`InputLog`]) replayed under another
//! configuration, with per-class figures side by side.
//!
//! What is replayed, and what is assumed:
//!
//! - **Arrivals** — connects, disconnects, group changes, submits, user cancels and the shutdown
//!   — at their recorded instants, with ids mapped to the ones the replaying kernel hands out. A
//!   child task arrives relative to its parent instead: as long after the start of the parent's
//!   attempt as it did in the recording (and not at all if that attempt never starts).
//! - **Bodies**: attempt *k* of a task runs for the time its recorded attempt *k* ran (from its
//!   `Start` to its report), reports its recorded progress at the same offsets, and ends with
//!   the recorded exit. An attempt the recording does not have (more retries than were made)
//!   repeats the task's last one; a task that never started in the recording (rejected or
//!   cancelled while it waited) runs for its class's median recorded run time and completes.
//! - **Cancellation**: a body that is asked to stop stops at once (it cooperates); an aborted
//!   one reports its future dropped. The recording cannot say how long a body would have ignored
//!   a cancellation that never happened, so cut-short attempts are taken at face value.
//! - The driver is punctual (`handle_timeout` at every deadline).
//!
//! Both columns of the comparison come from this same replay — the recorded configuration and
//! the other one — so they differ only by the configuration.

use crate::input_log::InputLog;
use crate::record::IdMap;
use baton_kernel::{
    Action, Applied, ClassId, Config, Exit, Input, Instant, Kernel, Notice, Outcome, Progress,
    TaskId,
};
use std::collections::BTreeMap;

/// Per-class figures of one replay.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassStats {
    /// The class name.
    pub class: String,
    /// Submits accepted.
    pub submitted: u64,
    /// Submits refused (queue full, session closed, …).
    pub refused: u64,
    /// Tasks that completed.
    pub completed: u64,
    /// Tasks that failed (retries exhausted).
    pub failed: u64,
    /// Tasks that ended by a deadline (queue, run, heartbeat, total).
    pub timed_out: u64,
    /// Tasks rejected while waiting (queue deadline, disconnect, shutdown).
    pub rejected: u64,
    /// Tasks cancelled (user, parent, disconnect, shutdown).
    pub cancelled: u64,
    /// Tasks abandoned by cleanup.
    pub abandoned: u64,
    /// Queue wait of every first start, nanoseconds.
    pub queue_wait: Vec<u64>,
    /// Run time of every reported attempt, nanoseconds.
    pub run_time: Vec<u64>,
    /// First submit and last terminal instant, nanoseconds (the span for throughput).
    pub span: Option<(u64, u64)>,
}

impl ClassStats {
    /// The `q`-quantile (0..=1) of `values`, nearest rank; `None` when empty.
    pub fn quantile(values: &[u64], q: f64) -> Option<u64> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v.get(rank - 1).copied()
    }

    /// Completed tasks per second over the class's span.
    pub fn throughput(&self) -> f64 {
        match self.span {
            Some((a, b)) if b > a => self.completed as f64 / ((b - a) as f64 / 1e9),
            _ => 0.0,
        }
    }

    fn saw(&mut self, t: u64) {
        self.span = Some(match self.span {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
    }
}

/// One recorded attempt's behaviour.
#[derive(Clone, Debug)]
struct Body {
    run: u64,
    exit: Exit,
    progress: Vec<(u64, Progress)>,
}

/// The recorded attempts of every task (original ids), and each class's median run time.
struct Bodies {
    attempts: BTreeMap<TaskId, Vec<Body>>,
    median: BTreeMap<String, u64>,
}

fn bodies(log: &InputLog) -> Bodies {
    let mut attempts: BTreeMap<TaskId, Vec<Body>> = BTreeMap::new();
    // Running attempts: start instant, class name, progress so far (offset, report).
    type Running = (u64, String, Vec<(u64, Progress)>);
    let mut running: BTreeMap<TaskId, Running> = BTreeMap::new();
    let mut runs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let class_name = |c: ClassId| {
        log.config
            .classes
            .get(c.index())
            .map(|c| c.name.clone())
            .unwrap_or_default()
    };
    for e in &log.entries {
        let t = e.t.as_nanos();
        if e.result.is_some() {
            match &e.input {
                Input::Progress { task, progress }
                | Input::ProgressAttempt { task, progress, .. } => {
                    if let Some((start, _, p)) = running.get_mut(task) {
                        p.push((t.saturating_sub(*start), progress.clone()));
                    }
                }
                Input::Finished { task, exit } | Input::FinishedAttempt { task, exit, .. } => {
                    if let Some((start, class, progress)) = running.remove(task) {
                        let run = t.saturating_sub(start);
                        runs.entry(class).or_default().push(run);
                        attempts.entry(*task).or_default().push(Body {
                            run,
                            exit: exit.clone(),
                            progress,
                        });
                    }
                }
                _ => {}
            }
        }
        for (at, a) in &e.actions {
            if let Action::Start { task, class, .. } = a {
                running.insert(*task, (at.as_nanos(), class_name(*class), Vec::new()));
            }
        }
    }
    let median = runs
        .into_iter()
        .filter_map(|(c, v)| ClassStats::quantile(&v, 0.5).map(|m| (c, m)))
        .collect();
    Bodies { attempts, median }
}

/// Events of the replay other than arrivals and deadlines.
#[derive(Clone, Debug)]
enum Event {
    Report {
        task: TaskId,
        attempt: u32,
        exit: Exit,
    },
    Progress {
        task: TaskId,
        attempt: u32,
        progress: Progress,
    },
    /// A child's submit (index into the log's entries).
    Child(usize),
}

/// The replay stops after this many kernel inputs, whatever is left (a guard, not a limit any
/// real log reaches: it is 100 times a million-input log).
const STEP_LIMIT: u64 = 100_000_000;

/// Replays `log`'s arrivals and bodies under `config`; one [`ClassStats`] per class of `config`,
/// in its order. Every class the log uses must exist in `config` (by name).
pub fn replay(log: &InputLog, config: &Config) -> Result<Vec<ClassStats>, String> {
    let bodies = bodies(log);
    let mut kernel = Kernel::new(config.clone()).map_err(|e| format!("configuration: {e}"))?;
    // Class ids of the log's config → the other config's, by name.
    let mut class_map = BTreeMap::new();
    for (i, c) in log.config.classes.iter().enumerate() {
        if let Some(j) = config.classes.iter().position(|d| d.name == c.name) {
            class_map.insert(i, ClassId(j as u16));
        }
    }
    let mut stats: Vec<ClassStats> = config
        .classes
        .iter()
        .map(|c| ClassStats {
            class: c.name.clone(),
            ..ClassStats::default()
        })
        .collect();
    // Children arrive relative to their parent's attempt: (original parent, attempt) → (offset,
    // entry index).
    let mut children: BTreeMap<(TaskId, u32), Vec<(u64, usize)>> = BTreeMap::new();
    let mut attempt_started: BTreeMap<TaskId, (u32, u64)> = BTreeMap::new();
    for (i, e) in log.entries.iter().enumerate() {
        if let Input::Submit(s) = &e.input
            && let Some(parent) = s.parent
            && let Some(&(attempt, start)) = attempt_started.get(&parent)
        {
            let offset = e.t.as_nanos().saturating_sub(start);
            children
                .entry((parent, attempt))
                .or_default()
                .push((offset, i));
        }
        for (at, a) in &e.actions {
            if let Action::Start { task, attempt, .. } = a {
                attempt_started.insert(*task, (*attempt, at.as_nanos()));
            }
        }
    }
    let is_child =
        |e: &baton_kernel::LogEntry| matches!(&e.input, Input::Submit(s) if s.parent.is_some());
    let arrivals: Vec<&baton_kernel::LogEntry> = log
        .entries
        .iter()
        .filter(|e| !is_child(e))
        .filter(|e| {
            matches!(
                e.input,
                Input::Connect { .. }
                    | Input::Disconnect { .. }
                    | Input::JoinGroup { .. }
                    | Input::LeaveGroup { .. }
                    | Input::Submit(_)
                    | Input::Cancel { .. }
                    | Input::Shutdown { .. }
            )
        })
        .collect();
    let mut ids = IdMap::default();
    let mut original: BTreeMap<TaskId, TaskId> = BTreeMap::new();
    let mut submitted_at: BTreeMap<TaskId, u64> = BTreeMap::new();
    let mut started: BTreeMap<TaskId, u64> = BTreeMap::new();
    // Per task of the replay: its class, and its current attempt (from `Start`).
    let mut class_of: BTreeMap<TaskId, ClassId> = BTreeMap::new();
    let mut attempt_of: BTreeMap<TaskId, u32> = BTreeMap::new();
    let mut events: BTreeMap<(u64, u64), Event> = BTreeMap::new();
    let mut seq = 0u64;
    let mut next_arrival = 0usize;
    let mut steps = 0u64;
    loop {
        steps += 1;
        if steps > STEP_LIMIT {
            return Err(format!("stopped after {STEP_LIMIT} kernel inputs"));
        }
        let arrival_t = arrivals.get(next_arrival).map(|e| e.t.as_nanos());
        let event_t = events.keys().next().map(|(t, _)| *t);
        let deadline = kernel.poll_timeout().map(Instant::as_nanos);
        let idle = kernel.counts().active() + kernel.counts().waiting() == 0;
        if arrival_t.is_none() && event_t.is_none() && (idle || deadline.is_none()) {
            break;
        }
        let candidates = [arrival_t, event_t, deadline];
        let Some(t) = candidates.iter().flatten().min().copied() else {
            break;
        };
        let now = Instant::from_nanos(t.max(kernel.now().as_nanos()));
        if deadline == Some(t) && arrival_t != Some(t) && event_t != Some(t) {
            let _ = kernel.handle_timeout(now);
        } else if arrival_t == Some(t)
            || matches!(events.values().next(), Some(Event::Child(_))) && event_t == Some(t)
        {
            let entry = if arrival_t == Some(t) {
                let Some(entry) = arrivals.get(next_arrival).copied() else {
                    break;
                };
                next_arrival += 1;
                entry
            } else {
                let Some((&key, _)) = events.iter().next() else {
                    break;
                };
                match events.remove(&key) {
                    Some(Event::Child(i)) => match log.entries.get(i) {
                        Some(entry) => entry,
                        None => continue,
                    },
                    _ => continue,
                }
            };
            let mut input = ids.input(&entry.input);
            if let Input::Submit(s) = &mut input {
                let Some(class) = class_map.get(&s.class.index()) else {
                    return Err(format!(
                        "the log submits class {:?}, which the configuration does not have",
                        log.config
                            .classes
                            .get(s.class.index())
                            .map(|c| c.name.as_str())
                            .unwrap_or("?")
                    ));
                };
                s.class = *class;
            }
            let result = kernel.apply(now, input.clone());
            ids.learn(entry.result, &result);
            if let Input::Submit(s) = &input {
                let st = stats.get_mut(s.class.index());
                match (&result, st, entry.result) {
                    (Ok(Applied::Task(new)), Some(st), Some(Applied::Task(old))) => {
                        st.submitted += 1;
                        st.saw(t);
                        original.insert(*new, old);
                        submitted_at.insert(*new, t);
                        class_of.insert(*new, s.class);
                    }
                    (Err(_), Some(st), _) => st.refused += 1,
                    _ => {}
                }
            }
        } else if let Some((&key, _)) = events.iter().next() {
            let Some(event) = events.remove(&key) else {
                break;
            };
            let input = match event {
                Event::Report {
                    task,
                    attempt,
                    exit,
                } => Input::FinishedAttempt {
                    task,
                    attempt,
                    exit,
                },
                Event::Progress {
                    task,
                    attempt,
                    progress,
                } => Input::ProgressAttempt {
                    task,
                    attempt,
                    progress,
                },
                // Handled with the arrivals above.
                Event::Child(_) => continue,
            };
            if let (Input::FinishedAttempt { task, .. }, Ok(_)) =
                (&input, kernel.apply(now, input.clone()))
                && let Some(start) = started.remove(task)
                && let Some(class) = class_of.get(task)
                && let Some(st) = stats.get_mut(class.index())
            {
                st.run_time.push(t.saturating_sub(start));
            }
        }
        while let Some((at, action)) = kernel.poll_action_at() {
            let at = at.as_nanos();
            match action {
                Action::Start {
                    task,
                    class,
                    attempt,
                    ..
                } => {
                    started.insert(task, at);
                    attempt_of.insert(task, attempt);
                    if attempt == 1
                        && let (Some(st), Some(sub)) =
                            (stats.get_mut(class.index()), submitted_at.get(&task))
                    {
                        st.queue_wait.push(at.saturating_sub(*sub));
                    }
                    let name = config
                        .classes
                        .get(class.index())
                        .map(|c| c.name.as_str())
                        .unwrap_or("");
                    if let Some(kids) = original
                        .get(&task)
                        .and_then(|o| children.get(&(*o, attempt)))
                    {
                        for &(offset, i) in kids {
                            seq += 1;
                            events.insert((at.saturating_add(offset), seq), Event::Child(i));
                        }
                    }
                    let recorded = original
                        .get(&task)
                        .and_then(|o| bodies.attempts.get(o))
                        .and_then(|a| a.get(attempt.saturating_sub(1) as usize).or(a.last()));
                    let body = match recorded {
                        Some(b) => b.clone(),
                        None => Body {
                            run: bodies.median.get(name).copied().unwrap_or(0),
                            exit: Exit::Completed,
                            progress: Vec::new(),
                        },
                    };
                    for (offset, progress) in body.progress {
                        seq += 1;
                        events.insert(
                            (at.saturating_add(offset), seq),
                            Event::Progress {
                                task,
                                attempt,
                                progress,
                            },
                        );
                    }
                    seq += 1;
                    events.insert(
                        (at.saturating_add(body.run), seq),
                        Event::Report {
                            task,
                            attempt,
                            exit: body.exit,
                        },
                    );
                }
                // A body asked to stop stops at once; an aborted one is dropped.
                Action::Cancel { task, .. } | Action::Abort { task } => {
                    let attempt = attempt_of.get(&task).copied().unwrap_or(1);
                    let exit = match action {
                        Action::Abort { .. } => Exit::Dropped,
                        _ => Exit::Failed {
                            error: "cancelled".to_owned(),
                            retryable: false,
                        },
                    };
                    seq += 1;
                    events.insert(
                        (at, seq),
                        Event::Report {
                            task,
                            attempt,
                            exit,
                        },
                    );
                }
                Action::Notify(Notice::Finished { task, outcome }) => {
                    let Some(class) = class_of.get(&task) else {
                        continue;
                    };
                    let Some(st) = stats.get_mut(class.index()) else {
                        continue;
                    };
                    st.saw(at);
                    match outcome {
                        Outcome::Completed => st.completed += 1,
                        Outcome::Failed => st.failed += 1,
                        Outcome::TimedOut(_) => st.timed_out += 1,
                        Outcome::Rejected(_) => st.rejected += 1,
                        Outcome::Cancelled(_) => st.cancelled += 1,
                        Outcome::Abandoned => st.abandoned += 1,
                    }
                }
                _ => {}
            }
        }
    }
    Ok(stats)
}

/// Milliseconds, one decimal, or `-` for no value.
fn ms(ns: Option<u64>) -> String {
    ns.map_or("-".to_owned(), |v| format!("{:.1}", v as f64 / 1e6))
}

/// The side-by-side table: one row per class and configuration.
pub fn table(columns: &[(&str, &[ClassStats])]) -> String {
    let mut out = String::new();
    out.push_str(
        "| class | config | submitted | refused | completed | failed | timed out | rejected | cancelled | wait p50 ms | wait p99 ms | run p50 ms | run p99 ms | completed/s |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let classes: Vec<&str> = columns
        .first()
        .map(|(_, s)| s.iter().map(|c| c.class.as_str()).collect())
        .unwrap_or_default();
    for class in classes {
        for (label, stats) in columns {
            let Some(c) = stats.iter().find(|c| c.class == class) else {
                continue;
            };
            out.push_str(&format!(
                "| {class} | {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |\n",
                c.submitted,
                c.refused,
                c.completed,
                c.failed,
                c.timed_out,
                c.rejected,
                c.cancelled + c.abandoned,
                ms(ClassStats::quantile(&c.queue_wait, 0.5)),
                ms(ClassStats::quantile(&c.queue_wait, 0.99)),
                ms(ClassStats::quantile(&c.run_time, 0.5)),
                ms(ClassStats::quantile(&c.run_time, 0.99)),
                c.throughput(),
            ));
        }
    }
    out
}

/// Draws queue wait p50 and p99 per class, one bar per configuration, to a PNG at `path`.
pub fn plot(
    columns: &[(&str, &[ClassStats])],
    path: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    crate::plot::register_font()?;
    let classes: Vec<String> = columns
        .first()
        .map(|(_, s)| s.iter().map(|c| c.class.clone()).collect())
        .unwrap_or_default();
    let wait = |stats: &[ClassStats], class: &str, q: f64| -> f64 {
        stats
            .iter()
            .find(|c| c.class == class)
            .and_then(|c| ClassStats::quantile(&c.queue_wait, q))
            .map_or(0.0, |v| v as f64 / 1e6)
    };
    let top = columns
        .iter()
        .flat_map(|(_, s)| classes.iter().map(move |c| wait(s, c, 0.99)))
        .fold(1.0_f64, f64::max)
        * 1.15;
    let (w, h) = (1000u32, 560u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = classes.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Queue wait per class: p99 (bar) and p50 (dark mark)",
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..n, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("queue wait (ms)")
            .label_style(("sans-serif", 14))
            .draw()?;
        let palette = [
            RGBColor(70, 110, 200),
            RGBColor(230, 140, 40),
            RGBColor(90, 170, 90),
        ];
        let k = columns.len().max(1) as f64;
        for (ci, class) in classes.iter().enumerate() {
            let x0 = ci as f64;
            chart.draw_series(std::iter::once(Text::new(
                class.clone(),
                (x0 + 0.4, -top * 0.04),
                ("sans-serif", 15).into_font(),
            )))?;
            for (j, (_, stats)) in columns.iter().enumerate() {
                let color = palette[j % palette.len()];
                let left = x0 + 0.1 + 0.8 * j as f64 / k;
                let right = left + 0.8 / k - 0.02;
                let p99 = wait(stats, class, 0.99);
                let p50 = wait(stats, class, 0.5);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(left, 0.0), (right, p99)],
                    color.filled(),
                )))?;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(left, p50), (right, p50 + top * 0.006)],
                    BLACK.filled(),
                )))?;
            }
        }
        for (j, (label, _)) in columns.iter().enumerate() {
            let color = palette[j % palette.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, 0.0), (0.0, 0.0)],
                    color.filled(),
                )))?
                .label(*label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    crate::plot::write_png(&buf, w, h, path)
}

/// A what-if file: `[[class]]` and `[kernel]` overrides in the scenario files' syntax, applied
/// to the recorded configuration.
///
/// ```
/// use baton_sim::whatif::Overrides;
/// let o: Overrides = toml::from_str("[[class]]\nname = \"scraping\"\nlimit = 2\n").unwrap();
/// assert_eq!(o.class[0].limit, Some(2));
/// ```
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Class overrides (by name; a new name adds a class).
    #[serde(default)]
    pub class: Vec<crate::scenario::ClassSpec>,
    /// Kernel overrides.
    #[serde(default)]
    pub kernel: crate::scenario::KernelSpec,
}

impl Overrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: &Config) -> Result<Config, String> {
        crate::scenario::apply_overrides(base.clone(), &self.class, &self.kernel)
            .map_err(|(field, e)| format!("{field}: {e}"))
    }
}
