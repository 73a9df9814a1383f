//! Record → replay → what if, on the source's messaging-account manager.
//!
//! Runs the session-manager example on tokio with the scheduler recording every kernel input,
//! replays the log (every answer and action must come out identical, and the oracle checks every
//! property on it), then asks: **what if the scrape limit were 2 instead of 5?**
//!
//! ```text
//! cargo run --release -p baton-sim --example whatif_session_manager
//! ```
//!
//! Writes `target/whatif/session_manager.jsonl` and `target/whatif/scrape_limit_2.png`. The same
//! from the command line, on any recorded log:
//!
//! ```text
//! baton-sim replay-log target/whatif/session_manager.jsonl
//! baton-sim whatif target/whatif/session_manager.jsonl --config scrape_limit_2.toml --png out.png
//! ```

#[path = "../../runtime-adapters/examples/common/session_manager.rs"]
#[allow(dead_code)]
mod session_manager;

use baton_runtime::Scheduler;
use baton_sim::OracleConfig;
use baton_sim::input_log::InputLog;
use baton_sim::whatif::{self, Overrides};
use std::error::Error;
use std::path::PathBuf;

/// The question, in the what-if file syntax (the scenario files' `[[class]]` overrides).
const SCRAPE_LIMIT_2: &str = "[[class]]\nname = \"scraping\"\nlimit = 2\n";

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/whatif");
    std::fs::create_dir_all(&dir)?;
    let log_path = dir.join("session_manager.jsonl");

    println!(
        "== 1. the session manager on tokio, recording to {} ==",
        log_path.display()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let log = std::fs::File::create(&log_path)?;
        let scheduler = Scheduler::recording(session_manager::config(), None, log)?;
        // Dropping the last clone at the end of `run` flushes the log.
        session_manager::run(scheduler).await
    })?;
    drop(rt);

    println!("\n== 2. replay ==");
    let log = InputLog::parse(&std::fs::read_to_string(&log_path)?)?;
    let r = log.reproduce()?;
    println!(
        "reproduced exactly: {} inputs, {} actions, every answer and action identical",
        r.inputs, r.actions
    );
    let checked = log
        .recording("session_manager")
        .replay(None, OracleConfig::full())?;
    if !checked.violations.is_empty() {
        for v in &checked.violations {
            println!("VIOLATION {v}");
        }
        return Err("the oracle found a violation in the recorded run".into());
    }
    println!(
        "oracle (full): {} inputs, every property holds",
        checked.inputs
    );

    println!("\n== 3. what if the scrape limit were 2? ==");
    let overrides: Overrides = toml::from_str(SCRAPE_LIMIT_2)?;
    let other = overrides.apply(&log.config)?;
    let recorded = whatif::replay(&log, &log.config)?;
    let limit_2 = whatif::replay(&log, &other)?;
    let columns: [(&str, &[whatif::ClassStats]); 2] =
        [("limit 5 (recorded)", &recorded), ("limit 2", &limit_2)];
    print!("{}", whatif::table(&columns));
    let png = dir.join("scrape_limit_2.png");
    match whatif::plot(&columns, &png) {
        Ok(()) => println!("\nplot: {}", png.display()),
        Err(e) => println!("\nplot skipped: {e}"),
    }
    Ok(())
}
