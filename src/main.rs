use std::process::ExitCode;

use clap::Parser;
use rtk_sessions::{Cli, run};

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
