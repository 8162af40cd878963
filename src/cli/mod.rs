//! The `expolicy` command line (`cli.md`): clap definitions and one module per verb.

mod check;
mod eval;
mod explain;
mod fmt;
mod graph;
mod import;
mod schema;
mod test;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::diag::{Diag, RenderOptions};
use crate::source::SourceMap;

/// Exit statuses of `cli.md`.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FINDINGS: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    /// A bug in expolicy (the same status as a Rust panic), never a verdict on the inputs.
    pub const INTERNAL: i32 = 101;
}

#[derive(Debug, Parser)]
#[command(
    name = "expolicy",
    version,
    about = "Check Windows and Exchange hosts against declarative policies"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate policies against host snapshots.
    Eval(eval::EvalArgs),
    /// Parse and statically check policies without a snapshot.
    Check(check::CheckArgs),
    /// Turn Windows output (sc, wmic, PowerShell JSON/CSV, .reg exports) into a snapshot.
    Import(import::ImportArgs),
    /// Print the JSON Schema of snapshot v1.
    Schema(schema::SchemaArgs),
    /// Draw the service dependency graph of a snapshot (DOT or Mermaid).
    Graph(graph::GraphArgs),
    /// Rewrite policy files in the canonical style (`--check` for CI).
    Fmt(fmt::FmtArgs),
    /// Run a pack's own test cases and report rule coverage.
    Test(test::TestArgs),
    /// Explain why one rule came out as it did on one snapshot.
    Explain(explain::ExplainArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where diagnostics and reports go, and how they are drawn.
pub struct Terminal {
    pub color: ColorChoice,
}

impl Terminal {
    fn options(&self, is_tty: bool) -> RenderOptions {
        let color = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && std::env::var_os("NO_COLOR").is_none(),
        };
        RenderOptions {
            color,
            width: if is_tty {
                terminal_width()
            } else {
                RenderOptions::PLAIN.width
            },
        }
    }

    pub fn stderr_options(&self) -> RenderOptions {
        self.options(std::io::stderr().is_terminal())
    }

    pub fn stdout_options(&self) -> RenderOptions {
        self.options(std::io::stdout().is_terminal())
    }

    /// Prints diagnostics to stderr.
    pub fn report(&self, diags: &[Diag], sources: &SourceMap) {
        if diags.is_empty() {
            return;
        }
        let text = crate::diag::render_all(diags, sources, self.stderr_options());
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// Stack for the thread that does the work: generous, so that the depth limits of parsing,
/// checking and evaluation, not the platform's default stack, decide what is too deep.
const WORKER_STACK: usize = 64 * 1024 * 1024;

/// Runs the command line and returns the exit status.
pub fn main() -> i32 {
    let worker = std::thread::Builder::new()
        .name("expolicy".to_string())
        .stack_size(WORKER_STACK)
        .spawn(run);
    match worker.map(|handle| handle.join()) {
        Ok(Ok(status)) => status,
        _ => {
            eprintln!("expolicy: internal error; please report it with the inputs that caused it");
            exit::INTERNAL
        }
    }
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
        }
    };
    let terminal = Terminal { color: cli.color };
    match cli.command {
        Command::Eval(args) => eval::run(args, &terminal),
        Command::Check(args) => check::run(args, &terminal),
        Command::Import(args) => import::run(args, &terminal),
        Command::Schema(args) => schema::run(args, &terminal),
        Command::Graph(args) => graph::run(args, &terminal),
        Command::Fmt(args) => fmt::run(args, &terminal),
        Command::Test(args) => test::run(args, &terminal),
        Command::Explain(args) => explain::run(args, &terminal),
    }
}

/// Writes `text` to the file or to stdout.
fn write_output(output: Option<&PathBuf>, text: &str) -> Result<(), Diag> {
    match output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            Diag::error(
                "expolicy::io::unwritable",
                format!("cannot write {}: {e}", path.display()),
            )
            .help("check that the directory exists and is writable")
        }),
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        }
    }
}
