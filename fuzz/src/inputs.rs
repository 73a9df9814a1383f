//! Generators: arbitrary configurations and kernel inputs from fuzzer bytes.
//!
//! Ids are mostly aimed at things that exist (so the fuzzer reaches deep states quickly) and
//! sometimes at anything at all (so unknown-id handling is exercised).

use arbitrary::{Result, Unstructured};
use baton_kernel::{
    ClassConfig, ClassId, Config, Duration, Exit, GroupId, Input, Instant, Kernel, ListFilter,
    Progress, RetryPolicy, SessionId, Submit, Target, TaskId, TaskState,
};

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn millis(u: &mut Unstructured<'_>, max: u64) -> Result<Duration> {
    Ok(Duration::from_millis(u.int_in_range(0..=max)?))
}

fn opt_millis(u: &mut Unstructured<'_>, max: u64) -> Result<Option<Duration>> {
    Ok(if u.arbitrary()? {
        Some(millis(u, max)?)
    } else {
        None
    })
}

/// A small configuration with arbitrary classes and tight bounds (so bounds are reached).
/// It may be invalid: the caller checks `Kernel::new`'s error.
pub fn arbitrary_config(u: &mut Unstructured<'_>) -> Result<Config> {
    let n = u.int_in_range(1..=4)?;
    let mut classes = Vec::new();
    for i in 0..n {
        let name = format!("c{i}");
        let priority = u.arbitrary()?;
        let mut c = if u.arbitrary()? {
            ClassConfig::exclusive(&name, priority)
        } else {
            ClassConfig::background(&name, priority)
        };
        c.queue_timeout = opt_millis(u, 200)?;
        c.run_timeout = opt_millis(u, 300)?;
        c.heartbeat_timeout = opt_millis(u, 100)?;
        c.total_timeout = opt_millis(u, 500)?;
        c.grace = millis(u, 50)?;
        c.limit = if u.arbitrary()? {
            Some(u.int_in_range(0..=3)?)
        } else {
            None
        };
        c.retry = RetryPolicy {
            max_attempts: u.int_in_range(0..=4)?,
            base: millis(u, 20)?,
            cap: millis(u, 60)?,
            jitter_permille: u.int_in_range(0..=1100)?,
        };
        c.retention = millis(u, 100)?;
        classes.push(c);
    }
    let mut config = Config::new(classes);
    config.limits.queue_len_max = u.int_in_range(0..=5)?;
    config.limits.background_queue_len_max = u.int_in_range(1..=8)?;
    config.limits.tasks_max = u.int_in_range(1..=60)?;
    config.limits.sessions_max = u.int_in_range(1..=5)?;
    config.limits.children_max = u.int_in_range(0..=3)?;
    config.limits.groups_max = u.int_in_range(0..=3)?;
    config.limits.groups_per_session_max = u.int_in_range(0..=2)?;
    config.limits.message_len_max = u.int_in_range(0..=8)?;
    config.cleanup_interval = millis(u, 30)?;
    config.disconnect_grace = millis(u, 60)?;
    config.seed = u.arbitrary()?;
    Ok(config)
}

/// Picks a task in one of `states` (or, one time in eight, any id at all).
fn pick(u: &mut Unstructured<'_>, k: &Kernel, states: &[TaskState]) -> Result<TaskId> {
    let raw: u8 = u.arbitrary()?;
    if raw % 8 == 7 {
        return Ok(TaskId(u64::from(raw)));
    }
    let mut ids = Vec::new();
    for s in states {
        let filter = ListFilter {
            state: Some(*s),
            ..ListFilter::default()
        };
        ids.extend(k.list(&filter, None, 64).items.into_iter().map(|v| v.id));
    }
    Ok(ids
        .get(raw as usize % ids.len().max(1))
        .copied()
        .unwrap_or(TaskId(u64::from(raw))))
}

fn session(u: &mut Unstructured<'_>, k: &Kernel) -> Result<SessionId> {
    let i: u8 = u.arbitrary()?;
    let name = NAMES.get(i as usize % NAMES.len()).copied().unwrap_or("a");
    Ok(k.session_id(name).unwrap_or(SessionId(u64::from(i % 16))))
}

/// A session or group name: mostly one of a few, sometimes empty or one byte over the default
/// `name_len_max` (both refused with `BadName`).
fn name(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=15u8)? {
        0 => String::new(),
        1 => "n".repeat(129),
        i => NAMES[usize::from(i) % NAMES.len()].to_owned(),
    })
}

/// One input and the instant it is applied at; advances `now` (sometimes by huge jumps) and
/// sometimes steps backwards.
pub fn arbitrary_input(
    u: &mut Unstructured<'_>,
    k: &Kernel,
    now: &mut Instant,
) -> Result<(Instant, Input)> {
    const LIVE: &[TaskState] = &[
        TaskState::Queued,
        TaskState::Backoff,
        TaskState::Running,
        TaskState::Cancelling,
    ];
    const ACTIVE: &[TaskState] = &[TaskState::Running, TaskState::Cancelling];
    let input = match u.int_in_range(0..=19u8)? {
        0..=2 => {
            let step = match u.int_in_range(0..=9u8)? {
                0 => Duration::from_nanos(u.arbitrary()?),
                1 => Duration::from_nanos(1),
                _ => millis(u, 150)?,
            };
            *now = *now + step;
            Input::Timeout
        }
        3 => {
            let back =
                Instant::from_nanos(now.as_nanos().saturating_sub(u.int_in_range(1..=1000)?));
            return Ok((back, Input::Timeout));
        }
        4 | 5 => Input::Connect { name: name(u)? },
        6 => Input::Disconnect { name: name(u)? },
        7 => Input::JoinGroup {
            group: if u.ratio(1, 16)? {
                name(u)?
            } else {
                format!("g{}", u.int_in_range(0..=2u8)?)
            },
            session: session(u, k)?,
        },
        8 => Input::LeaveGroup {
            group: format!("g{}", u.int_in_range(0..=2u8)?),
            session: session(u, k)?,
        },
        9..=12 => {
            let target = match u.int_in_range(0..=5u8)? {
                0..=2 => Target::Session(session(u, k)?),
                3 => Target::Group(GroupId(u.int_in_range(0..=3)?)),
                4 => Target::Session(SessionId(u.arbitrary()?)),
                _ => Target::None,
            };
            let parent = if u.ratio(1, 4)? {
                Some(pick(u, k, LIVE)?)
            } else {
                None
            };
            Input::Submit(Submit {
                class: ClassId(u.int_in_range(0..=4)?),
                target,
                priority: u.arbitrary()?,
                parent,
            })
        }
        13 => Input::Cancel {
            task: pick(u, k, LIVE)?,
        },
        14 => {
            let len = u.int_in_range(0..=10usize)?;
            let task = pick(u, k, ACTIVE)?;
            let progress = Progress {
                current: u.int_in_range(0..=5)?,
                total: u.arbitrary::<Option<u8>>()?.map(u64::from),
                message: "m".repeat(len),
            };
            if u.ratio(1, 3)? {
                let current = k.task(task).map_or(0, |v| v.attempt);
                Input::ProgressAttempt {
                    task,
                    attempt: if u.arbitrary()? {
                        current
                    } else {
                        current.wrapping_sub(1)
                    },
                    progress,
                }
            } else {
                Input::Progress { task, progress }
            }
        }
        15..=18 => {
            let exit = match u.int_in_range(0..=4u8)? {
                0 | 1 => Exit::Completed,
                2 => Exit::Failed {
                    error: "e".into(),
                    retryable: true,
                },
                3 => Exit::Failed {
                    error: "ü".repeat(u.int_in_range(0..=700)?),
                    retryable: u.arbitrary()?,
                },
                _ => Exit::Dropped,
            };
            // Now and then the late report of a task that cleanup abandoned (it fences a name).
            let fenced: Vec<TaskId> = k.fenced().into_iter().flat_map(|(_, t)| t).collect();
            let task = match fenced.len() {
                0 => pick(u, k, ACTIVE)?,
                n if u.ratio(1, 4)? => fenced[u.choose_index(n)?],
                _ => pick(u, k, ACTIVE)?,
            };
            if u.ratio(1, 3)? {
                // The per-attempt form: mostly the running attempt, sometimes a stale or future one.
                let current = k.task(task).map_or(0, |v| v.attempt);
                let attempt = match u.int_in_range(0..=3u8)? {
                    0 => current.wrapping_sub(1),
                    1 => current.wrapping_add(1),
                    _ => current,
                };
                Input::FinishedAttempt {
                    task,
                    attempt,
                    exit,
                }
            } else {
                Input::Finished { task, exit }
            }
        }
        _ => {
            if u.ratio(1, 6)? {
                Input::Shutdown {
                    grace: millis(u, 80)?,
                }
            } else if u.ratio(1, 12)? {
                Input::Restart
            } else {
                Input::Timeout
            }
        }
    };
    Ok((*now, input))
}
