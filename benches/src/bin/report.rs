//! Turns one benchmark run into the tables of `BENCHMARKS.md` and the complexity-curve PNG.
//!
//! ```text
//! cargo run --release -p baton-benches --features report --bin report -- \
//!     [--criterion target/criterion] [--extra target/baton-bench] [--png docs/op_cycle_curve.png]
//! ```
//!
//! Reads criterion's `new/estimates.json` (median per benchmark) and, from the `--extra`
//! directory, `python.json` (JSON lines of `benches/python/asyncio_baseline.py`),
//! `memory.json`, `snapshot.json`, `sim_inputs.json` and `sim_swf.json`; prints Markdown to
//! stdout. The adapter tables give baton ÷ bare spawn per runtime; the simulator tables give
//! inputs per second with the oracle off and full.

use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

/// Median in nanoseconds, keyed by (group, function, parameter).
type Medians = BTreeMap<(String, String, String), f64>;

/// Elements per iteration (criterion's `Throughput::Elements`), same keys as [`Medians`].
type Elements = BTreeMap<(String, String, String), u64>;

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn collect(dir: &Path, out: &mut Medians, elements: &mut Elements) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        if p.file_name().is_some_and(|n| n == "new") {
            let (Some(b), Some(est)) = (
                read_json(&p.join("benchmark.json")),
                read_json(&p.join("estimates.json")),
            ) else {
                continue;
            };
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            let median = est["median"]["point_estimate"].as_f64().unwrap_or(f64::NAN);
            let key = (s(&b["group_id"]), s(&b["function_id"]), s(&b["value_str"]));
            if let Some(n) = b["throughput"]["Elements"].as_u64() {
                elements.insert(key.clone(), n);
            }
            out.insert(key, median);
        } else {
            collect(&p, out, elements);
        }
    }
}

fn fmt_ns(ns: f64) -> String {
    if !ns.is_finite() {
        "—".to_owned()
    } else if ns < 10.0 {
        format!("{ns:.2} ns")
    } else if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "—".to_owned()
    } else if r >= 100.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.2}×")
    }
}

fn fmt_count(n: &str) -> String {
    match n.parse::<u64>() {
        Ok(v) if v >= 1_000_000 && v % 1_000_000 == 0 => format!("{}M", v / 1_000_000),
        Ok(v) if v >= 1_000 && v % 1_000 == 0 => format!("{}k", v / 1_000),
        _ => n.to_owned(),
    }
}

const BASELINES: [(&str, &str); 3] = [
    ("a_hand", "(a) hand-written"),
    ("b_tokio", "(b) tokio"),
    ("c_lean", "(c) lean floor"),
];

/// The Python numbers: (sessions, queued) → ns per cycle.
fn python(extra: &Path) -> BTreeMap<(u64, u64), f64> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(extra.join("python.json")) else {
        return out;
    };
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && let (Some(s), Some(q), Some(ns)) = (
                v["sessions"].as_u64(),
                v["queued"].as_u64(),
                v["ns_per_cycle"].as_f64(),
            )
        {
            out.insert((s, q), ns);
        }
    }
    out
}

fn get(m: &Medians, g: &str, f: &str, p: &str) -> f64 {
    m.get(&(g.to_owned(), f.to_owned(), p.to_owned()))
        .copied()
        .unwrap_or(f64::NAN)
}

fn params(m: &Medians, group: &str) -> Vec<String> {
    let mut ps: Vec<String> = m
        .keys()
        .filter(|(g, _, _)| g == group)
        .map(|(_, _, p)| p.clone())
        .collect();
    ps.sort_by_key(|p| p.parse::<u64>().unwrap_or(0));
    ps.dedup();
    ps
}

fn op_cycle_table(m: &Medians, py: &BTreeMap<(u64, u64), f64>, label: &str, sessions: u64) {
    let group = format!("op_cycle_sessions_{label}");
    let ps = params(m, &group);
    if ps.is_empty() {
        return;
    }
    println!("\n### Op-cycle, {label} session(s)  (`{group}`)\n");
    println!(
        "| queued | kernel | (a) hand | (b) tokio | (c) lean | (d) asyncio | a ÷ kernel | b ÷ kernel | kernel ÷ c | d ÷ kernel |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in &ps {
        let k = get(m, &group, "kernel", p);
        let a = get(m, &group, "a_hand", p);
        let b = get(m, &group, "b_tokio", p);
        let c = get(m, &group, "c_lean", p);
        let d = p
            .parse::<u64>()
            .ok()
            .and_then(|q| py.get(&(sessions, q)).copied())
            .unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fmt_count(p),
            fmt_ns(k),
            fmt_ns(a),
            fmt_ns(b),
            fmt_ns(c),
            fmt_ns(d),
            fmt_ratio(a / k),
            fmt_ratio(b / k),
            fmt_ratio(k / c),
            fmt_ratio(d / k),
        );
    }
    if let (Some(first), Some(last)) = (ps.first(), ps.last()) {
        let growth = |f: &str| get(m, &group, f, last) / get(m, &group, f, first);
        println!(
            "\nGrowth {} → {} queued: kernel {}, (a) {}, (b) {}, (c) {}.",
            fmt_count(first),
            fmt_count(last),
            fmt_ratio(growth("kernel")),
            fmt_ratio(growth("a_hand")),
            fmt_ratio(growth("b_tokio")),
            fmt_ratio(growth("c_lean")),
        );
    }
}

fn scenario_table(m: &Medians, group: &str, title: &str, per: f64) {
    let fns: Vec<&str> = ["kernel", "a_hand", "b_tokio", "c_lean"]
        .into_iter()
        .filter(|f| m.keys().any(|(g, ff, _)| g == group && ff == f))
        .collect();
    if fns.is_empty() {
        return;
    }
    println!("\n### {title}  (`{group}`)\n");
    println!("| implementation | median | per task | kernel vs it |");
    println!("|---|---:|---:|---:|");
    let p = params(m, group).into_iter().next().unwrap_or_default();
    let k = get(m, group, "kernel", &p);
    for f in fns {
        let v = get(m, group, f, &p);
        let name = BASELINES
            .iter()
            .find(|(id, _)| *id == f)
            .map_or("kernel", |(_, n)| n);
        let vs = if f == "kernel" {
            "—".to_owned()
        } else if f == "c_lean" {
            format!("kernel ÷ c = {}", fmt_ratio(k / v))
        } else {
            format!("{f} ÷ kernel = {}", fmt_ratio(v / k))
        };
        println!("| {name} | {} | {} | {vs} |", fmt_ns(v), fmt_ns(v / per));
    }
    for f in ["a_hand", "b_tokio", "c_lean"] {
        if !m.keys().any(|(g, ff, _)| g == group && ff == f) {
            let name = BASELINES
                .iter()
                .find(|(id, _)| *id == f)
                .map_or(f, |(_, n)| n);
            println!("| {name} | n/a | | |");
        }
    }
}

fn queries_table(m: &Medians) {
    let rows: Vec<_> = m.iter().filter(|((g, _, _), _)| g == "queries").collect();
    if rows.is_empty() {
        return;
    }
    println!("\n### Queries at 1k sessions / 100k queued  (`queries`)\n");
    println!("| query | kernel | (a) hand-written | a ÷ kernel |");
    println!("|---|---:|---:|---:|");
    let mut names: Vec<String> = rows
        .iter()
        .map(|((_, f, _), _)| f.split('/').next().unwrap_or("").to_owned())
        .collect();
    names.dedup();
    for q in names {
        let k = get(m, "queries", &format!("{q}/kernel"), "");
        let a = get(m, "queries", &format!("{q}/a_hand"), "");
        println!(
            "| {q} | {} | {} | {} |",
            fmt_ns(k),
            fmt_ns(a),
            fmt_ratio(a / k)
        );
    }
}

fn snapshot_table(m: &Medians, extra: &Path) {
    let s = get(m, "snapshot", "serialize/kernel", "");
    let d = get(m, "snapshot", "deserialize/kernel", "");
    if !s.is_finite() {
        return;
    }
    let info = read_json(&extra.join("snapshot.json")).unwrap_or(Value::Null);
    let bytes = info["json_bytes"].as_f64().unwrap_or(f64::NAN);
    println!("\n### Snapshot (serde_json)  (`snapshot`)\n");
    println!(
        "Kernel with {} sessions, {} queued, {} records in the registry: {:.1} MB of JSON.\n",
        info["sessions"],
        info["queued"],
        info["records"],
        bytes / 1e6
    );
    println!("| operation | median | throughput |");
    println!("|---|---:|---:|");
    for (name, v) in [("serialize", s), ("deserialize", d)] {
        println!(
            "| {name} | {} | {:.0} MB/s |",
            fmt_ns(v),
            bytes / 1e6 / (v / 1e9)
        );
    }
}

fn memory_table(extra: &Path) {
    let Some(mem) = read_json(&extra.join("memory.json")) else {
        return;
    };
    println!(
        "\n### Memory  (`memory`)\n\n{} idle connected sessions; {} queued tasks spread over {} busy sessions. Live bytes requested from the allocator (blocks in parentheses; malloc's own 8–16 bytes per block not included).\n",
        mem["sessions"], mem["queued"], mem["busy_sessions"]
    );
    println!("| implementation | bytes per session | bytes per queued task |");
    println!("|---|---:|---:|");
    for r in mem["rows"].as_array().into_iter().flatten() {
        let name = r["impl"].as_str().unwrap_or("");
        let name = BASELINES
            .iter()
            .find(|(id, _)| *id == name)
            .map_or(name, |(_, n)| n);
        println!(
            "| {name} | {:.0} ({:.1}) | {:.0} ({:.1}) |",
            r["bytes_per_session"].as_f64().unwrap_or(f64::NAN),
            r["blocks_per_session"].as_f64().unwrap_or(f64::NAN),
            r["bytes_per_queued_task"].as_f64().unwrap_or(f64::NAN),
            r["blocks_per_queued_task"].as_f64().unwrap_or(f64::NAN),
        );
    }
}

/// Per-second rate of `elements` done in `ns`, as "1.23 M/s" or "456 k/s".
fn fmt_rate(elements: f64, ns: f64) -> String {
    let r = elements / (ns / 1e9);
    if !r.is_finite() {
        "—".to_owned()
    } else if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0} k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

const RUNTIMES: [&str; 2] = ["tokio", "smol"];

/// Group 4: per-task overhead and many-session throughput, baton ÷ bare spawn per runtime.
fn adapter_tables(m: &Medians, elements: &Elements) {
    if RUNTIMES
        .iter()
        .any(|rt| !params(m, &format!("adapter_overhead_{rt}")).is_empty())
    {
        println!("\n### Adapters: per-task overhead  (`adapter_overhead_<runtime>`)\n");
        println!(
            "One task at a time: submit → trivial body → handle resolved, against a bare spawn of the same body + `.await` of its join handle, on the bench thread (tokio current-thread runtime; one smol executor).\n"
        );
        println!("| runtime | bare spawn + await | baton submit → resolved | baton ÷ bare |");
        println!("|---|---:|---:|---:|");
        for rt in RUNTIMES {
            let g = format!("adapter_overhead_{rt}");
            let bare = get(m, &g, "bare_spawn", "");
            let baton = get(m, &g, "baton", "");
            println!(
                "| {rt} | {} | {} | {} |",
                fmt_ns(bare),
                fmt_ns(baton),
                fmt_ratio(baton / bare)
            );
        }
    }
    let groups: Vec<(&str, String, String)> = RUNTIMES
        .iter()
        .filter_map(|rt| {
            let g = format!("adapter_throughput_{rt}");
            let p = params(m, &g).into_iter().next()?;
            Some((*rt, g, p))
        })
        .collect();
    let Some((_, g0, p0)) = groups.first() else {
        return;
    };
    let tasks = elements
        .get(&(g0.clone(), "baton".to_owned(), p0.clone()))
        .copied()
        .unwrap_or(0);
    println!(
        "\n### Adapters: throughput with many sessions on both cores  (`adapter_throughput_<runtime>`)\n"
    );
    println!(
        "One iteration: {tasks} tasks submitted round robin to {} connected sessions in an exclusive class (one running per session), all awaited; against {tasks} bare spawns of the same trivial body, all awaited. A tokio multi-thread runtime with 2 workers; a smol executor run by 2 threads.\n",
        fmt_count(p0)
    );
    println!(
        "| runtime | bare spawn: per batch | tasks/s | baton: per batch | tasks/s | baton ÷ bare (time) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (rt, g, p) in &groups {
        let bare = get(m, g, "bare_spawn", p);
        let baton = get(m, g, "baton", p);
        let n = elements
            .get(&(g.clone(), "baton".to_owned(), p.clone()))
            .copied()
            .unwrap_or(0) as f64;
        println!(
            "| {rt} | {} | {} | {} | {} | {} |",
            fmt_ns(bare),
            fmt_rate(n, bare),
            fmt_ns(baton),
            fmt_rate(n, baton),
            fmt_ratio(baton / bare)
        );
    }
}

/// Group 5: simulator inputs per second (oracle off vs full) and the KTH SP2 replay.
fn simulator_tables(m: &Medians, elements: &Elements, extra: &Path) {
    let rows = |group: &str| -> Vec<(&'static str, f64, f64)> {
        ["oracle_off", "oracle_full"]
            .into_iter()
            .filter_map(|f| {
                let ns = get(m, group, f, "");
                let n = elements
                    .get(&(group.to_owned(), f.to_owned(), String::new()))
                    .copied()?;
                ns.is_finite().then_some((f, ns, n as f64))
            })
            .collect()
    };
    let table = |rows: &[(&str, f64, f64)]| {
        println!("| oracle | wall time per run | inputs/s | |");
        println!("|---|---:|---:|---:|");
        let off = rows
            .iter()
            .find(|r| r.0 == "oracle_off")
            .map_or(f64::NAN, |r| r.1);
        for (f, ns, n) in rows {
            let note = if *f == "oracle_off" {
                "—".to_owned()
            } else {
                format!("inputs/s off ÷ full = {}", fmt_ratio(ns / off))
            };
            println!(
                "| {} | {} | {} | {note} |",
                f.trim_start_matches("oracle_"),
                fmt_ns(*ns),
                fmt_rate(*n, *ns)
            );
        }
    };
    let inputs = rows("sim_inputs");
    if !inputs.is_empty() {
        let info = read_json(&extra.join("sim_inputs.json")).unwrap_or(Value::Null);
        println!("\n### Simulator: inputs per second  (`sim_inputs`)\n");
        println!(
            "One run of the built-in scenario {} with seed {} ({} kernel inputs) per iteration. `full` is `OracleConfig::full()`: every property after every input, `check_invariants()` on the adaptive cadence.\n",
            info["scenario"], info["seed"], info["inputs"]
        );
        table(&inputs);
    }
    let swf = rows("sim_swf_replay");
    if !swf.is_empty() {
        let info = read_json(&extra.join("sim_swf.json")).unwrap_or(Value::Null);
        println!("\n### Simulator: replay of the KTH SP2 log  (`sim_swf_replay`)\n");
        println!(
            "`swf::parse` + `swf::run` of {} (read into memory first): {} jobs, {} users, {:.1} simulated days, {} kernel inputs.\n",
            info["file"],
            info["jobs"],
            info["users"],
            info["span_days"].as_f64().unwrap_or(f64::NAN),
            info["inputs"]
        );
        table(&swf);
    }
}

/// One line of the plot: criterion group, function, legend, colour, dashed (thin).
struct Series(&'static str, &'static str, &'static str, RGBColor, bool);

/// Draws ns per cycle against queued tasks (log-log), one line per implementation at 1k
/// sessions plus the kernel at 1 and 100k sessions.
fn plot(m: &Medians, path: &Path) -> Result<(), Box<dyn Error>> {
    baton_sim::plot::register_font()?;
    let (w, h) = (1000u32, 640u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let series = [
            Series(
                "op_cycle_sessions_1k",
                "kernel",
                "kernel, 1k sessions",
                RGBColor(200, 30, 30),
                false,
            ),
            Series(
                "op_cycle_sessions_1",
                "kernel",
                "kernel, 1 session",
                RGBColor(230, 120, 120),
                true,
            ),
            Series(
                "op_cycle_sessions_100k",
                "kernel",
                "kernel, 100k sessions",
                RGBColor(140, 0, 0),
                true,
            ),
            Series(
                "op_cycle_sessions_1k",
                "a_hand",
                "(a) hand-written, 1k sessions",
                RGBColor(30, 90, 200),
                false,
            ),
            Series(
                "op_cycle_sessions_1k",
                "b_tokio",
                "(b) tokio, 1k sessions",
                RGBColor(30, 150, 60),
                false,
            ),
            Series(
                "op_cycle_sessions_1k",
                "c_lean",
                "(c) lean floor, 1k sessions",
                RGBColor(90, 90, 90),
                false,
            ),
        ];
        let mut lines: Vec<(Vec<(f64, f64)>, &Series)> = Vec::new();
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for sr in &series {
            let Series(g, f, ..) = *sr;
            let pts: Vec<(f64, f64)> = params(m, g)
                .iter()
                .filter_map(|p| {
                    let q = p.parse::<f64>().ok()?;
                    let v = get(m, g, f, p);
                    v.is_finite().then_some((q, v))
                })
                .collect();
            for (_, v) in &pts {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
            if !pts.is_empty() {
                lines.push((pts, sr));
            }
        }
        if lines.is_empty() {
            return Err("no op_cycle results to plot".into());
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "baton op-cycle: ns per submit→start→finish→gc vs queued tasks",
                ("sans-serif", 22),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (50f64..2_000_000f64).log_scale(),
                ((lo / 2.0).max(1.0)..hi * 10.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_label_formatter(&|v| fmt_count(&format!("{}", v.round() as u64)))
            .y_label_formatter(&|v| fmt_ns(*v))
            .x_desc("queued tasks (log)")
            .y_desc("median ns per cycle (log)")
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()?;
        for (pts, &Series(_, _, name, color, dashed)) in lines {
            let style = ShapeStyle::from(color).stroke_width(if dashed { 1 } else { 3 });
            chart
                .draw_series(LineSeries::new(pts.clone(), style))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart.draw_series(
                pts.iter()
                    .map(|p| Circle::new(*p, 4, ShapeStyle::from(color).filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    baton_sim::plot::write_png(&buf, w, h, path)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut criterion = PathBuf::from("target/criterion");
    let mut extra = PathBuf::from("target/baton-bench");
    let mut png_path: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--criterion" => criterion = v.into(),
            "--extra" => extra = v.into(),
            "--png" => png_path = Some(v.into()),
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let mut m = Medians::new();
    let mut elements = Elements::new();
    collect(&criterion, &mut m, &mut elements);
    if m.is_empty() {
        return Err(format!("no criterion results under {}", criterion.display()).into());
    }
    let py = python(&extra);
    for (label, sessions) in [("1", 1), ("1k", 1_000), ("100k", 100_000)] {
        op_cycle_table(&m, &py, label, sessions);
    }
    scenario_table(
        &m,
        "limited_class",
        "One limited class (limit 5) across 1,000 sessions, 100k queued",
        1.0,
    );
    scenario_table(
        &m,
        "timer_heavy",
        "Timer-heavy: ~90% of tasks hit their queue timeout",
        1.0,
    );
    scenario_table(
        &m,
        "cancel_storm",
        "Cancellation storms: one storm = 101 cancels + 101 submits",
        101.0,
    );
    scenario_table(
        &m,
        "group_late_binding",
        "Group late binding: 100 members, 10k queued in the group",
        1.0,
    );
    queries_table(&m);
    snapshot_table(&m, &extra);
    memory_table(&extra);
    adapter_tables(&m, &elements);
    simulator_tables(&m, &elements, &extra);
    if let Some(p) = png_path {
        plot(&m, &p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
