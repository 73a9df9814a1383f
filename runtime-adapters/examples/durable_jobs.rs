//! The source background-job manager, durable: jobs of a kind with JSON parameters, priority,
//! retries, a SQLite table anyone can query — and nothing acknowledged is lost if the process
//! dies. Run it twice: the second run recovers the first one's database.
//!
//! ```text
//! cargo run -p baton-runtime --features store,tokio --example durable_jobs [DB]
//! sqlite3 baton-jobs.db "select state, count(*) from tasks group by state"
//! ```

use baton_kernel::{Target, preset};
use baton_runtime::{DurableOptions, Kinds, Scheduler, TaskFailure};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Serialize, Deserialize)]
struct Report {
    customer: String,
    pages: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "baton-jobs.db".to_owned());
    let kinds = Kinds::new().register("render_report", |ctx, r: Report| async move {
        for page in 1..=r.pages {
            ctx.progress(u64::from(page), u64::from(r.pages), format!("page {page}"))?;
            ctx.sleep(Duration::from_millis(20)).await;
        }
        if r.customer == "flaky" && ctx.attempt() == 1 {
            // The job manager's retry policy (4 attempts, exponential backoff) takes over.
            return Err(TaskFailure::retryable("the printer is busy"));
        }
        Ok::<_, TaskFailure>(format!("{} pages for {}", r.pages, r.customer))
    });
    let (jobs, report) = Scheduler::open_durable(
        &db,
        preset::job_manager(),
        kinds,
        None,
        DurableOptions::default(),
    )?;
    println!("opened {db}: {report}");

    let mut handles = Vec::new();
    for (customer, pages) in [("acme", 3), ("flaky", 2), ("globex", 5)] {
        let params = Report {
            customer: customer.to_owned(),
            pages,
        };
        // Returns once the job is in the journal: acknowledged means durable.
        let handle = jobs
            .submit_durable(Target::None, "job", "render_report", params)
            .await?;
        println!("job {} acknowledged", handle.id().map_or(0, |id| id.0));
        handles.push(handle);
    }
    for handle in handles {
        println!("{:?}", handle.await);
    }
    jobs.flush().await?;
    println!(
        "now try: sqlite3 {db} \"select id, state, attempt, json_extract(result, '$') from tasks\""
    );
    // Close, not shut down: a later run reopens the same queue.
    jobs.close().await?;
    Ok(())
}
