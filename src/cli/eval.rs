//! `expolicy eval`: evaluate policies against snapshots and report.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Terminal, exit};
use crate::check::ir::Severity;
use crate::eval::Evaluator;
use crate::fleet;
use crate::report::{self, FailOn, SnapshotReport};
use crate::select::Selection;
use crate::snapshot::LoadedSnapshot;
use crate::source::SourceMap;
use crate::waivers::{Now, Waivers};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Policy files or pack directories.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
    /// A host snapshot (JSON), a glob such as 'hosts/*.json', or an NDJSON stream (`.ndjson`,
    /// one snapshot per line); repeat for several; `-` reads standard input.
    #[arg(short = 's', long = "snapshot", value_name = "FILE", required = true)]
    pub snapshots: Vec<String>,
    /// Read every snapshot source as NDJSON, one snapshot per line (`-s -` then streams stdin).
    #[arg(long)]
    pub ndjson: bool,
    /// Snapshots evaluated at once (default: one per available core).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Set an input a pack declares: `name=value` (every pack declaring it) or
    /// `pack.name=value` (repeatable; wins over `--inputs`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Read inputs from a JSON, YAML or TOML file.
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// Waivers file (YAML or TOML): accepted exceptions with a reason and an expiry date.
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// The date waivers are judged against, YYYY-MM-DD (default: today by the system clock, UTC).
    #[arg(long, value_name = "DATE")]
    pub now: Option<String>,
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
    /// Attach the evidence to each result: every fact and service field the rule read, with
    /// its JSON pointer and line and column in the snapshot (slower: rules share no work).
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning.
    Sarif,
    /// JUnit XML, for Jenkins and GitLab.
    Junit,
    /// GitHub Actions workflow commands (annotations).
    Github,
    /// A Markdown summary, for `$GITHUB_STEP_SUMMARY`.
    Markdown,
}

impl From<Format> for fleet::Format {
    fn from(f: Format) -> fleet::Format {
        match f {
            Format::Human => fleet::Format::Human,
            Format::Json => fleet::Format::Json,
            Format::Sarif => fleet::Format::Sarif,
            Format::Junit => fleet::Format::Junit,
            Format::Github => fleet::Format::Github,
            Format::Markdown => fleet::Format::Markdown,
        }
    }
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
    let Some(mut program) = loaded.program else {
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

    let mut run_info = report::RunInfo::default();
    match crate::inputs::apply(
        &mut program,
        &args.sets,
        args.inputs.as_deref(),
        &mut sources,
    ) {
        Ok(inputs) => run_info.inputs = inputs,
        Err(diags) => {
            terminal.report(&diags, &sources);
            return exit::BAD_INPUT;
        }
    }
    let now = match Now::resolve(args.now.as_deref()) {
        Ok(now) => now,
        Err(d) => {
            terminal.report(&[d], &sources);
            return exit::BAD_INPUT;
        }
    };
    let waivers = match &args.waivers {
        None => None,
        Some(path) => match Waivers::load(path, now, &mut sources) {
            Ok((waivers, warnings)) => {
                terminal.report(&warnings, &sources);
                run_info.now = Some(now);
                Some(waivers)
            }
            Err(diags) => {
                terminal.report(&diags, &sources);
                return exit::BAD_INPUT;
            }
        },
    };

    let (snapshot_sources, expand_errors) = fleet::expand(&args.snapshots, args.ndjson);
    terminal.report(&expand_errors, &sources);
    let mut problems = expand_errors.len();
    let mut writer = match fleet::ReportWriter::open(
        &program,
        &selected,
        args.format.into(),
        terminal.stdout_options(),
        args.output.as_deref(),
        run_info,
        args.fail_on.into(),
    ) {
        Ok(w) => w,
        Err(d) => {
            terminal.report(&[d], &sources);
            return exit::BAD_INPUT;
        }
    };
    let program = &program;
    let evaluate = |loaded: &LoadedSnapshot| -> SnapshotReport {
        let results = if args.explain {
            // A fresh evaluator per rule, so that definitions another rule computed
            // first still show their reads.
            selected
                .iter()
                .map(|&r| {
                    let mut evaluator = Evaluator::new(program, loaded);
                    evaluator.trace = Some(Vec::new());
                    evaluator.evaluate_rule(r)
                })
                .collect()
        } else {
            Evaluator::new(program, loaded).evaluate(&selected)
        };
        let mut report = SnapshotReport::new(
            loaded.source.clone(),
            loaded.snapshot.host.name.clone(),
            results,
        );
        if let Some(w) = &waivers {
            report.waived = w.apply(program, &report.host, &report.results);
        }
        report
    };
    let options = fleet::Options::new(args.jobs.map(usize::from));
    fleet::write_reports(
        &snapshot_sources,
        options,
        &evaluate,
        &mut writer,
        &mut sources,
        |d, sources| {
            problems += 1;
            terminal.report(&[d], sources);
        },
    );
    let failed = writer.failed();
    if let Err(d) = writer.finish(problems, waivers.as_ref(), &sources) {
        terminal.report(&[d], &sources);
        problems += 1;
    }
    if let Some(w) = &waivers {
        terminal.report(&w.unused(), &sources);
    }
    if problems > 0 {
        exit::BAD_INPUT
    } else if failed {
        exit::FINDINGS
    } else {
        exit::OK
    }
}
