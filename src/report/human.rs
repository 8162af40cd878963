//! The report for people: each failing or undecidable rule as a miette diagnostic pointing at
//! the policy, then a summary per snapshot.

use std::fmt::Write;

use super::SnapshotReport;
use crate::check::ir::{Program, Severity};
use crate::diag::{self, Diag, RenderOptions};
use crate::eval::{Outcome, RuleResult, UndecidedKind};
use crate::source::SourceMap;

pub fn render(
    program: &Program,
    sources: &SourceMap,
    reports: &[SnapshotReport],
    options: RenderOptions,
) -> String {
    let mut out = String::new();
    for report in reports {
        let _ = writeln!(out, "── {} ({}) ──", report.host, report.source);
        let mut shown = 0;
        for (i, result) in report.results.iter().enumerate() {
            if matches!(result.outcome, Outcome::Fail | Outcome::Error)
                && report.waiver(i).is_none()
            {
                out.push('\n');
                out.push_str(&diag::render(&finding(program, result), sources, options));
                shown += 1;
            }
        }
        if shown > 0 {
            out.push('\n');
        }
        for result in &report.results {
            for note in &result.notes {
                let _ = writeln!(
                    out,
                    "note: {}: {note}",
                    program.rules[result.rule as usize].id
                );
            }
        }
        for (i, result) in report.results.iter().enumerate() {
            if let Some(w) = report.waiver(i) {
                let _ = writeln!(
                    out,
                    "waived: {} ({}) until {}: {}{}{}",
                    program.rules[result.rule as usize].id,
                    result.outcome.as_str(),
                    w.expires,
                    w.reason,
                    w.ticket
                        .as_ref()
                        .map(|t| format!(" [ticket {t}]"))
                        .unwrap_or_default(),
                    w.approver
                        .as_ref()
                        .map(|a| format!(" [approved by {a}]"))
                        .unwrap_or_default(),
                );
            }
        }
        let s = report.summary;
        let waived = match report.waived_count() {
            0 => String::new(),
            n => format!(", {n} waived"),
        };
        let _ = writeln!(
            out,
            "{}: {} passed, {} failed, {} not applicable, {} undecided{waived}",
            report.host, s.pass, s.fail, s.not_applicable, s.error
        );
        out.push('\n');
    }
    if reports.len() > 1 {
        let total = |f: fn(&SnapshotReport) -> usize| reports.iter().map(f).sum::<usize>();
        let _ = writeln!(
            out,
            "{} snapshots: {} passed, {} failed, {} not applicable, {} undecided",
            reports.len(),
            total(|r| r.summary.pass),
            total(|r| r.summary.fail),
            total(|r| r.summary.not_applicable),
            total(|r| r.summary.error),
        );
    }
    out
}

/// One failing or undecidable rule as a diagnostic.
pub fn finding(program: &Program, result: &RuleResult) -> Diag {
    let rule = &program.rules[result.rule as usize];
    let headline = match result.outcome {
        Outcome::Error => format!("{} (could not be decided)", rule.title),
        _ => rule.title.clone(),
    };
    let mut d = match rule.severity {
        Severity::Error => Diag::error(rule.id.clone(), headline),
        Severity::Warning => Diag::warning(rule.id.clone(), headline),
        Severity::Info => Diag::advice(rule.id.clone(), headline),
    };
    let message = result.message.clone().unwrap_or_default();
    match result.outcome {
        Outcome::Fail => {
            for req in result
                .requirements
                .iter()
                .filter(|r| r.outcome == Outcome::Fail)
            {
                d = d.label(req.span, req.message.clone().unwrap_or_default());
            }
        }
        _ => d = d.label(result.span, message),
    }
    let mut help = Vec::new();
    if let Some(u) = &result.undecided {
        if let (UndecidedKind::WrongType { expected, .. }, Some(pointer)) = (&u.kind, u.pointer()) {
            help.push(format!(
                "the value at {pointer} must be {expected}; fix the collector or the fact's declared type"
            ));
        } else if let Some(pointer) = u.pointer() {
            help.push(format!(
                "the snapshot needs a value at {pointer}; missing data is never a pass"
            ));
        } else if u.path().is_some() {
            help.push(
                "collect this data in the snapshot; missing data is never a pass".to_string(),
            );
        }
    }
    if let Some(h) = &rule.help {
        help.push(h.clone());
    }
    if !rule.controls.is_empty() {
        help.push(format!("controls: {}", rule.controls.join(", ")));
    }
    if let Some(docs) = &rule.docs {
        help.push(format!("see {docs}"));
    }
    if !help.is_empty() {
        d = d.help(help.join("\n"));
    }
    if !result.evidence.is_empty() {
        d = d.with_related(crate::explain::evidence_summary(&result.evidence));
    }
    d
}
