//! `expolicy check`: parse and statically check policies, reporting every problem at once.

use std::path::PathBuf;

use clap::Args;

use super::{Terminal, exit};
use crate::source::SourceMap;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Policy files or pack directories.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
    /// Treat warnings (unused definitions, conditions that never hold…) as errors.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(args: CheckArgs, terminal: &Terminal) -> i32 {
    let mut sources = SourceMap::new();
    let loaded = crate::policy::load(&args.policies, &mut sources);
    terminal.report(&loaded.diags, &sources);
    let errors = loaded.diags.iter().filter(|d| d.is_error()).count();
    let warnings = loaded.diags.len() - errors;
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        eprintln!("check failed: {errors} error(s), {warnings} warning(s)");
        return exit::BAD_INPUT;
    }
    if let Some(program) = &loaded.program {
        eprintln!(
            "checked {} pack(s), {} rule(s): {warnings} warning(s)",
            program.packs.len(),
            program.rules.len()
        );
    }
    exit::OK
}
