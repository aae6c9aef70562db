use std::process::ExitCode;

use clap::Parser;
use rtk_sessions::{Cli, run};

/// A delivery allocates and frees many small blocks on every worker thread (the parsed JSON, the headers, the
/// middleware's futures, the batch's columns): mimalloc serves them for 6 to 9 us less CPU a delivery than glibc's
/// malloc, at the same memory (docs/PERFORMANCE.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("rtk-sessions: {error:#}");
            ExitCode::FAILURE
        }
    }
}
