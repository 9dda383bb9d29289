//! The `mobilenet` command-line tool: parse arguments, call the library, print. This is the
//! only place in the workspace that prints errors or chooses exit codes.

mod args;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    match cmd::run(args) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`mobilenet predict … | head`) is not a failure.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mobilenet: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
