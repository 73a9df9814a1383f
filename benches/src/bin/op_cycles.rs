//! Runs op-cycles outside criterion, for instruction counts under callgrind:
//!
//! ```sh
//! cargo build --release -p baton-benches --bin op_cycles
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     --toggle-collect='baton_benches::workload::KernelGrid::cycle' \
//!     target/release/op_cycles kernel 1000 100000 20000
//! python3 benches/tools/callgrind_ir.py cg.out 'baton_benches::workload::KernelGrid::cycle'
//! ```
//!
//! Arguments: `kernel|hand|lean SESSIONS QUEUED CYCLES`. Building the steady state is not
//! collected (only inside `cycle`), so the count is per op-cycle at that size.

use baton_benches::workload::{HandGrid, KernelGrid, LeanGrid};

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("kernel", String::as_str);
    let (sessions, queued, cycles) = (
        arg(&args, 2, 1000),
        arg(&args, 3, 100_000),
        arg(&args, 4, 20_000),
    );
    match which {
        "kernel" => {
            let mut g = KernelGrid::new(sessions, queued);
            for _ in 0..cycles {
                g.cycle();
            }
        }
        "hand" => {
            let mut g = HandGrid::new(sessions, queued);
            for _ in 0..cycles {
                g.cycle();
            }
        }
        "lean" => {
            let mut g = LeanGrid::new(sessions, queued);
            for _ in 0..cycles {
                g.cycle();
            }
        }
        other => {
            eprintln!("usage: op_cycles kernel|hand|lean SESSIONS QUEUED CYCLES (got {other:?})");
            std::process::exit(2);
        }
    }
    println!("{which}: {cycles} op-cycles at {sessions} sessions / {queued} queued");
}
