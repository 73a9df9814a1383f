//! The source's messaging-account manager on smol.
//!
//! ```text
//! cargo run -p baton-runtime --features smol --example session_manager_smol
//! ```

#[path = "common/session_manager.rs"]
mod session_manager;

use baton_runtime::Scheduler;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let scheduler = Scheduler::new(session_manager::config())?;
        println!("runtime: {:?}", scheduler.runtime());
        session_manager::run(scheduler).await
    })
}
