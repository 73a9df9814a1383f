//! Turns one benchmark run into the tables of `BENCHMARKS.md` and the complexity-curve PNG.
//!
//! ```text
//! cargo run --release -p baton-benches --features report --bin report -- \
//!     [--criterion target/criterion] [--extra target/baton-bench] [--png docs/op_cycle_curve.png]
//! ```
//!
//! Reads criterion's `new/estimates.json` (median per benchmark) and, from the `--extra`
//! directory, `python.json` (JSON lines of `benches/python/asyncio_baseline.py`),
//! `memory.json` and `snapshot.json`; prints Markdown to stdout.

use plotters::prelude::*;
use plotters::style::FontStyle;
use serde_json::Value;
use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

/// Median in nanoseconds, keyed by (group, function, parameter).
type Medians = BTreeMap<(String, String, String), f64>;

fn read_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn collect(dir: &Path, out: &mut Medians) {
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
            out.insert(
                (s(&b["group_id"]), s(&b["function_id"]), s(&b["value_str"])),
                median,
            );
        } else {
            collect(&p, out);
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
    } else {
        format!("{:.2} ms", ns / 1e6)
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

/// One line of the plot: criterion group, function, legend, colour, dashed (thin).
struct Series(&'static str, &'static str, &'static str, RGBColor, bool);

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Draws ns per cycle against queued tasks (log-log), one line per implementation at 1k
/// sessions plus the kernel at 1 and 100k sessions.
fn plot(m: &Medians, path: &Path) -> Result<(), Box<dyn Error>> {
    let font = FONT_PATHS
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("no DejaVuSans.ttf found for the plot's text")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into()))
        .map_err(|_| "bad font")?;
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
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(&buf)?;
    Ok(())
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
    collect(&criterion, &mut m);
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
    if let Some(p) = png_path {
        plot(&m, &p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
