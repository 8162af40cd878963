//! `--format json`: the `expolicy-report/1` document of `cli.md`.

use serde::Serialize;

use super::SnapshotReport;
use crate::check::ir::{Program, Severity};
use crate::eval::{Outcome, Summary};
use crate::source::{Location, SourceMap};

pub const FORMAT: &str = "expolicy-report/1";

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    snapshots: Vec<JsonSnapshot<'a>>,
}

#[derive(Serialize)]
struct JsonSnapshot<'a> {
    source: &'a str,
    host: &'a str,
    results: Vec<JsonResult<'a>>,
    summary: Summary,
}

#[derive(Serialize)]
struct JsonResult<'a> {
    rule: &'a str,
    title: &'a str,
    outcome: Outcome,
    severity: Severity,
    controls: &'a [String],
    tags: &'a [String],
    message: Option<&'a str>,
    location: Location,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<Missing>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

/// What an `error` outcome could not find.
#[derive(Serialize)]
struct Missing {
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    reason: String,
}

pub fn render(program: &Program, sources: &SourceMap, reports: &[SnapshotReport]) -> String {
    let snapshots = reports
        .iter()
        .map(|report| JsonSnapshot {
            source: &report.source,
            host: &report.host,
            results: report
                .results
                .iter()
                .map(|r| {
                    let rule = &program.rules[r.rule as usize];
                    JsonResult {
                        rule: &rule.id,
                        title: &rule.title,
                        outcome: r.outcome,
                        severity: rule.severity,
                        controls: &rule.controls,
                        tags: &rule.tags,
                        message: r.message.as_deref(),
                        location: sources.location(r.span),
                        missing: r.undecided.as_ref().map(|u| Missing {
                            path: u.path(),
                            pointer: u.pointer().map(str::to_string),
                            reason: u.describe(),
                        }),
                        notes: &r.notes,
                    }
                })
                .collect(),
            summary: report.summary,
        })
        .collect();
    let doc = Document {
        format: FORMAT,
        snapshots,
    };
    let mut out =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}
