//! Instruction counts per task through the tokio adapter, against a bare spawn + await, for
//! callgrind (counts do not depend on the machine's load):
//!
//! ```sh
//! cargo build --release -p baton-benches --example adapter_cycles
//! for mode in bare baton; do for n in 10000 20000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/adapter_cycles $mode $n 2>&1 | grep refs
//! done; done
//! ```
//!
//! Per task = (refs at 20,000 − refs at 10,000) / 10,000, so start-up cancels out. `baton`: submit
//! → trivial body → handle resolved, one task at a time on a current-thread runtime (the
//! `adapter_overhead_tokio` shape); `bare`: `tokio::spawn` of the same body + `.await`.

use baton_kernel::{ClassConfig, ClassId, Config, Duration, Target};
use baton_runtime::{Scheduler, TaskFailure};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("baton", String::as_str).to_owned();
    let n: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match mode.as_str() {
            "bare" => {
                for _ in 0..n {
                    black_box(tokio::spawn(async { black_box(1u64) }).await.expect("join"));
                }
            }
            _ => {
                let mut config = Config::new(vec![
                    ClassConfig::background("bench", 1)
                        .without_timeouts()
                        .with_retention(Duration::from_secs(1)),
                ]);
                config.cleanup_interval = Duration::from_secs(1);
                let s = Scheduler::new(config).expect("scheduler");
                for _ in 0..n {
                    let h = s.submit(Target::None, ClassId(0), |_| async {
                        Ok::<_, TaskFailure>(black_box(1u64))
                    });
                    black_box(h.await.expect("task"));
                }
            }
        }
    });
}
