//! `psmi`: Pointwise Sliced Mutual Information on `.npy` and `.safetensors`
//! files, from the shell. The contract (commands, outputs, exit status) is in
//! the README; `psmi --help` and `psmi COMMAND --help` give the details.

/// Prints a line to stdout, ignoring a closed pipe (as in `psmi demo | head`):
/// what the program prints is a report, and the results are in files.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod args;
mod commands;
mod demo;
mod failure;
mod interrupt;
mod memory;
mod output;
mod plot;
mod progress;
mod report;
mod results;
mod source;
mod sweep;

use clap::error::ErrorKind;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A bug must still end in one `error:` line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error (please report it): {info}");
        std::process::exit(1);
    }));
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match commands::run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.line());
            ExitCode::from(failure.status())
        }
    }
}

/// Help and version go to stdout with status 0; a usage error is one line and status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            // clap's message: a first line, sometimes an indented list (the
            // missing arguments), then usage; keep the first two on one line.
            let text = e.to_string();
            let mut lines = text.lines();
            let first = lines.next().unwrap_or("error: invalid usage");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let listed: Vec<&str> = lines
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let listed = if listed.is_empty() {
                String::new()
            } else {
                format!(" {}", listed.join(", "))
            };
            eprintln!("error: {first}{listed} (see `psmi --help`)");
            ExitCode::from(failure::USAGE)
        }
    }
}
