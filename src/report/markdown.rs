//! `--format markdown`: a summary fit for `$GITHUB_STEP_SUMMARY` or a merge-request note: a
//! table with one row per host, then the failing, undecidable and waived rules.
//!
//! Only per-host summaries and findings are kept, so a large fleet costs little memory.

use std::fmt::Write;

use super::{RunInfo, SnapshotReport};
use crate::check::ir::Program;
use crate::eval::{Outcome, Summary};
use crate::source::SourceMap;

struct Finding {
    rule: String,
    severity: &'static str,
    outcome: Outcome,
    message: String,
    location: String,
    waived: Option<String>,
}

struct HostRow {
    host: String,
    source: String,
    summary: Summary,
    waived: usize,
    findings: Vec<Finding>,
}

/// Builds the summary one snapshot at a time.
pub struct MarkdownBuilder<'p> {
    program: &'p Program,
    hosts: Vec<HostRow>,
}

/// Escapes text for a table cell: pipes, newlines and what Markdown would interpret.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' | '_' | '`' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

impl<'p> MarkdownBuilder<'p> {
    pub fn new(program: &'p Program) -> MarkdownBuilder<'p> {
        MarkdownBuilder {
            program,
            hosts: Vec::new(),
        }
    }

    pub fn add(&mut self, sources: &SourceMap, report: &SnapshotReport) {
        let mut findings = Vec::new();
        for (i, result) in report.results.iter().enumerate() {
            if !matches!(result.outcome, Outcome::Fail | Outcome::Error) {
                continue;
            }
            let rule = &self.program.rules[result.rule as usize];
            let loc = sources.location(result.span);
            findings.push(Finding {
                rule: rule.id.clone(),
                severity: rule.severity.as_str(),
                outcome: result.outcome,
                message: result.message.clone().unwrap_or_default(),
                location: format!("{}:{}:{}", loc.file, loc.line, loc.column),
                waived: report.waiver(i).map(|w| {
                    let mut text = format!("until {}: {}", w.expires, w.reason);
                    if let Some(t) = &w.ticket {
                        text.push_str(&format!(" ({t})"));
                    }
                    text
                }),
            });
        }
        self.hosts.push(HostRow {
            host: report.host.clone(),
            source: report.source.clone(),
            summary: report.summary,
            waived: report.waived_count(),
            findings,
        });
    }

    pub fn finish(self, run: &RunInfo, problems: usize) -> String {
        let mut out = String::new();
        let failing = self
            .hosts
            .iter()
            .filter(|h| h.findings.iter().any(|f| f.waived.is_none()))
            .count();
        let _ = writeln!(
            out,
            "## expolicy: {} host(s), {failing} with findings\n",
            self.hosts.len()
        );
        if let Some(now) = &run.now {
            let _ = writeln!(out, "Waivers judged against {}.\n", now.describe());
        }
        if !run.inputs.is_empty() {
            let _ = writeln!(out, "| Input | Value | Set by |\n|---|---|---|");
            for (name, input) in &run.inputs {
                let from = match input.from {
                    crate::inputs::InputOrigin::Default => "default",
                    crate::inputs::InputOrigin::File => "inputs file",
                    crate::inputs::InputOrigin::Set => "--set",
                };
                let _ = writeln!(
                    out,
                    "| `{name}` | `{}` | {from} |",
                    input
                        .value
                        .to_string()
                        .replace('|', "\\|")
                        .replace('`', "'")
                );
            }
            out.push('\n');
        }
        if problems > 0 {
            let _ = writeln!(
                out,
                "> [!WARNING]\n> {problems} snapshot(s) could not be read; see the log.\n"
            );
        }
        let _ = writeln!(
            out,
            "| Host | Snapshot | Result | Pass | Fail | Undecided | N/A | Waived |\n|---|---|---|---:|---:|---:|---:|---:|"
        );
        for h in &self.hosts {
            let open = h.findings.iter().filter(|f| f.waived.is_none()).count();
            let result = if open > 0 {
                "❌ findings"
            } else {
                "✅ compliant"
            };
            let s = h.summary;
            let _ = writeln!(
                out,
                "| {} | {} | {result} | {} | {} | {} | {} | {} |",
                cell(&h.host),
                cell(&h.source),
                s.pass,
                s.fail,
                s.error,
                s.not_applicable,
                h.waived
            );
        }
        let with_findings: Vec<&HostRow> = self
            .hosts
            .iter()
            .filter(|h| !h.findings.is_empty())
            .collect();
        if !with_findings.is_empty() {
            out.push_str("\n### Findings\n");
            for h in with_findings {
                let _ = writeln!(out, "\n#### {}\n", cell(&h.host));
                let _ = writeln!(
                    out,
                    "| Rule | Severity | Outcome | Message | Policy |\n|---|---|---|---|---|"
                );
                for f in &h.findings {
                    let outcome = match (&f.waived, f.outcome) {
                        (Some(w), o) => format!("{} (waived {})", o.as_str(), cell(w)),
                        (None, Outcome::Error) => "undecided".to_string(),
                        (None, o) => o.as_str().to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {outcome} | {} | `{}` |",
                        f.rule.replace('`', "'"),
                        f.severity,
                        cell(&f.message),
                        f.location.replace('`', "'")
                    );
                }
            }
        }
        out
    }
}

/// Renders reports at once.
pub fn render(
    program: &Program,
    sources: &SourceMap,
    reports: &[SnapshotReport],
    run: &RunInfo,
) -> String {
    let mut builder = MarkdownBuilder::new(program);
    for report in reports {
        builder.add(sources, report);
    }
    builder.finish(run, 0)
}
