//! `--format github`: GitHub Actions workflow commands. Each failing or undecidable rule on
//! each host becomes an annotation on the policy line (`::error file=…,line=…,col=…,title=…::`);
//! waived results become notices that say so; each host ends with a summary line.

use std::fmt::Write;

use super::{RunInfo, SnapshotReport};
use crate::check::ir::{Program, Severity};
use crate::eval::Outcome;
use crate::source::SourceMap;

/// Escapes the message of a workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value of a workflow command (`file=…`, `title=…`).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The lines for one snapshot.
pub fn snapshot(program: &Program, sources: &SourceMap, report: &SnapshotReport) -> String {
    let mut out = String::new();
    for (i, result) in report.results.iter().enumerate() {
        if !matches!(result.outcome, Outcome::Fail | Outcome::Error) {
            continue;
        }
        let rule = &program.rules[result.rule as usize];
        let loc = sources.location(result.span);
        let message = result.message.clone().unwrap_or_else(|| rule.title.clone());
        let (command, title, text) = match report.waiver(i) {
            Some(w) => (
                "notice",
                format!("{} on {} (waived)", rule.id, report.host),
                format!(
                    "waived until {}: {}{} — {}: {message}",
                    w.expires,
                    w.reason,
                    w.ticket
                        .as_ref()
                        .map(|t| format!(" (ticket {t})"))
                        .unwrap_or_default(),
                    result.outcome.as_str()
                ),
            ),
            None => {
                let command = match rule.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Info => "notice",
                };
                let text = match result.outcome {
                    Outcome::Error => format!("{}: could not be decided: {message}", report.host),
                    _ => format!("{}: {message}", report.host),
                };
                (command, format!("{} on {}", rule.id, report.host), text)
            }
        };
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            escape_property(&loc.file.replace('\\', "/")),
            loc.line,
            loc.column,
            escape_property(&title),
            escape_data(&text)
        );
    }
    let s = report.summary;
    let _ = writeln!(
        out,
        "{} ({}): {} passed, {} failed, {} not applicable, {} undecided, {} waived",
        report.host,
        report.source,
        s.pass,
        s.fail,
        s.not_applicable,
        s.error,
        report.waived_count()
    );
    out
}

/// A line saying what the run used, if anything worth saying.
pub fn preamble(run: &RunInfo) -> String {
    let mut out = String::new();
    if let Some(now) = &run.now {
        let _ = writeln!(out, "waivers judged against {}", now.describe());
    }
    for (name, input) in &run.inputs {
        let _ = writeln!(out, "input {name} = {}", input.value);
    }
    out
}

/// Renders reports at once.
pub fn render(
    program: &Program,
    sources: &SourceMap,
    reports: &[SnapshotReport],
    run: &RunInfo,
) -> String {
    let mut out = preamble(run);
    for report in reports {
        out.push_str(&snapshot(program, sources, report));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_follow_the_toolkit() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
