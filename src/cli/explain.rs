//! `expolicy explain RULE POLICY... --snapshot FILE`: why one rule came out as it did.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{Terminal, exit};
use crate::snapshot;
use crate::source::SourceMap;

#[derive(Debug, Args)]
#[command(after_help = "\
Example: expolicy explain msearch-for-fulltext policies/exchange2003 -s exch01.json

Prints the rule's outcome with the value of every sub-expression of its `when` and `require` \
clauses, then every fact and service field it read: its JSON pointer, its value, and its line \
and column in the snapshot, labelled both in the snapshot and in the policy.

Exit status: 0 the rule passed or does not apply; 1 it failed or could not be decided; 2 the \
policies, the snapshot or the rule name could not be used.")]
pub struct ExplainArgs {
    /// The rule: its id (`pack.rule`) or its name as declared.
    #[arg(value_name = "RULE")]
    pub rule: String,
    /// Policy files or pack directories.
    #[arg(required = true, value_name = "POLICY")]
    pub policies: Vec<PathBuf>,
    /// The host snapshot (JSON); `-` reads standard input.
    #[arg(short = 's', long = "snapshot", value_name = "FILE")]
    pub snapshot: String,
}

pub fn run(args: ExplainArgs, terminal: &Terminal) -> i32 {
    let mut sources = SourceMap::new();
    let loaded = crate::policy::load(&args.policies, &mut sources);
    terminal.report(&loaded.diags, &sources);
    let Some(program) = loaded.program else {
        return exit::BAD_INPUT;
    };
    let rule = match crate::explain::resolve_rule(&program, &args.rule) {
        Ok(r) => r,
        Err(d) => {
            terminal.report(&[d], &sources);
            return exit::BAD_INPUT;
        }
    };
    let (name, bytes) = match read(&args.snapshot) {
        Ok(v) => v,
        Err(d) => {
            terminal.report(&[*d], &sources);
            return exit::BAD_INPUT;
        }
    };
    let snap = match snapshot::load(&name, &bytes) {
        Ok(s) => s,
        Err((err, text)) => {
            let d = err.into_diag(&name, text, &mut sources);
            terminal.report(&[d], &sources);
            return exit::BAD_INPUT;
        }
    };
    let snapshot_file = sources.add(name, snap.text.clone());
    let (result, steps) = crate::explain::trace(&program, &snap, rule);
    let diags = crate::explain::diagnostics(
        &program,
        rule,
        &result,
        &steps,
        &snap,
        snapshot_file,
        &sources,
    );
    let text = crate::diag::render_all(&diags, &sources, terminal.stdout_options());
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    match result.outcome {
        crate::eval::Outcome::Fail | crate::eval::Outcome::Error => exit::FINDINGS,
        _ => exit::OK,
    }
}

fn read(name: &str) -> Result<(String, Vec<u8>), Box<crate::diag::Diag>> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| {
        Box::new(
            crate::diag::Diag::error(
                snapshot::codes::UNREADABLE,
                format!("cannot read snapshot {name}: {e}"),
            )
            .help("check the path; `-` reads the snapshot from standard input"),
        )
    };
    if name == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        return Ok(("<stdin>".to_string(), bytes));
    }
    let bytes = std::fs::read(name).map_err(unreadable)?;
    Ok((name.to_string(), bytes))
}
