//! `expolicy eval`: evaluate policies against snapshots and report.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Terminal, exit, write_output};
use crate::check::ir::Severity;
use crate::diag::Diag;
use crate::eval::Evaluator;
use crate::report::{self, FailOn, SnapshotReport};
use crate::select::Selection;
use crate::snapshot;
use crate::source::SourceMap;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Policy files or pack directories.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
    /// A host snapshot (JSON); repeat for several; `-` reads standard input.
    #[arg(short = 's', long = "snapshot", value_name = "FILE", required = true)]
    pub snapshots: Vec<String>,
    /// Report format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The lowest severity whose failing or undecidable rules make the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOnArg::Error)]
    pub fail_on: FailOnArg,
    /// Only rules whose id matches this glob (repeatable).
    #[arg(long = "rule", value_name = "GLOB")]
    pub rules: Vec<String>,
    /// Only rules with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Only rules that name this control (repeatable).
    #[arg(long = "control", value_name = "ID")]
    pub controls: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOnArg {
    Error,
    Warning,
    Info,
    Never,
}

impl From<FailOnArg> for FailOn {
    fn from(arg: FailOnArg) -> FailOn {
        match arg {
            FailOnArg::Error => FailOn::Severity(Severity::Error),
            FailOnArg::Warning => FailOn::Severity(Severity::Warning),
            FailOnArg::Info => FailOn::Severity(Severity::Info),
            FailOnArg::Never => FailOn::Never,
        }
    }
}

pub fn run(args: EvalArgs, terminal: &Terminal) -> i32 {
    let mut sources = SourceMap::new();
    let loaded = crate::policy::load(&args.policies, &mut sources);
    terminal.report(&loaded.diags, &sources);
    let Some(program) = loaded.program else {
        return exit::BAD_INPUT;
    };
    let selection = Selection {
        rules: args.rules.clone(),
        tags: args.tags.clone(),
        controls: args.controls.clone(),
    };
    let selected = match selection.apply(&program) {
        Ok(s) => s,
        Err(d) => {
            terminal.report(&[d], &sources);
            return exit::BAD_INPUT;
        }
    };

    let mut reports = Vec::new();
    let mut snapshot_errors = Vec::new();
    let mut stdin_used = false;
    for name in &args.snapshots {
        let (source, bytes) = match read_snapshot(name, &mut stdin_used) {
            Ok(v) => v,
            Err(d) => {
                snapshot_errors.push(d);
                continue;
            }
        };
        match snapshot::load(&source, &bytes) {
            Ok(loaded) => {
                let results = Evaluator::new(&program, &loaded).evaluate(&selected);
                reports.push(SnapshotReport::new(
                    source,
                    loaded.snapshot.host.name.clone(),
                    results,
                ));
            }
            Err((err, text)) => snapshot_errors.push(err.into_diag(&source, text, &mut sources)),
        }
    }

    let text = match args.format {
        Format::Human => {
            report::human::render(&program, &sources, &reports, terminal.stdout_options())
        }
        Format::Json => report::json::render(&program, &sources, &reports),
    };
    if let Err(d) = write_output(args.output.as_ref(), &text) {
        snapshot_errors.push(d);
    }
    terminal.report(&snapshot_errors, &sources);
    if !snapshot_errors.is_empty() {
        return exit::BAD_INPUT;
    }
    if report::any_failure(&program, &reports, args.fail_on.into()) {
        exit::FINDINGS
    } else {
        exit::OK
    }
}

/// The bytes of a snapshot argument and the name to report it under.
fn read_snapshot(name: &str, stdin_used: &mut bool) -> Result<(String, Vec<u8>), Diag> {
    if name == "-" {
        if *stdin_used {
            return Err(Diag::error(
                "expolicy::usage::stdin_twice",
                "standard input (`-`) is given twice",
            )
            .help("standard input can be read once; save one of the snapshots to a file"));
        }
        *stdin_used = true;
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
            Diag::error(
                snapshot::codes::UNREADABLE,
                format!("cannot read standard input: {e}"),
            )
        })?;
        return Ok(("<stdin>".to_string(), bytes));
    }
    let meta = std::fs::metadata(name).map_err(|e| {
        Diag::error(
            snapshot::codes::UNREADABLE,
            format!("cannot read snapshot {name}: {e}"),
        )
        .help("check the path; `-` reads a snapshot from standard input")
    })?;
    if meta.len() > snapshot::MAX_SNAPSHOT_BYTES as u64 {
        return Err(Diag::error(
            snapshot::codes::TOO_LARGE,
            format!(
                "snapshot {name} is {} bytes; the limit is {}",
                meta.len(),
                snapshot::MAX_SNAPSHOT_BYTES
            ),
        )
        .help("one snapshot describes one host; stream many hosts as NDJSON instead"));
    }
    let bytes = std::fs::read(name).map_err(|e| {
        Diag::error(
            snapshot::codes::UNREADABLE,
            format!("cannot read snapshot {name}: {e}"),
        )
    })?;
    Ok((name.to_string(), bytes))
}
