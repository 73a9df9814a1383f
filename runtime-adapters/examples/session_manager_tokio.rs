//! The source's messaging-account manager on tokio.
//!
//! ```text
//! cargo run -p baton-runtime --features tokio --example session_manager_tokio
//! ```

#[path = "common/session_manager.rs"]
mod session_manager;

use baton_runtime::Scheduler;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scheduler = Scheduler::new(session_manager::config())?;
    println!("runtime: {:?}", scheduler.runtime());
    session_manager::run(scheduler).await
}
