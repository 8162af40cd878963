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
    /// The waiver that applies; the outcome keeps its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    waived: Option<&'a crate::waivers::Waived>,
    /// With `--explain`: every fact and service field the rule read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evidence: Vec<Evidence<'a>>,
}

/// One value a rule read, and where it is in the snapshot.
#[derive(Serialize)]
struct Evidence<'a> {
    path: &'a str,
    pointer: &'a str,
    value: &'a str,
    line: Option<usize>,
    column: Option<usize>,
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

fn json_snapshot<'a>(
    program: &'a Program,
    sources: &SourceMap,
    report: &'a SnapshotReport,
) -> JsonSnapshot<'a> {
    JsonSnapshot {
        source: &report.source,
        host: &report.host,
        results: report
            .results
            .iter()
            .enumerate()
            .map(|(i, r)| {
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
                    waived: report.waiver(i),
                    evidence: r
                        .evidence
                        .iter()
                        .map(|e| Evidence {
                            path: &e.path,
                            pointer: &e.pointer,
                            value: &e.value,
                            line: e.line,
                            column: e.column,
                        })
                        .collect(),
                }
            })
            .collect(),
        summary: report.summary,
    }
}

/// The opening of the document up to the `snapshots` array: the format and what the run used.
pub fn head(run: &super::RunInfo) -> String {
    let mut out = format!("{{\n  \"format\": \"{FORMAT}\",\n");
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(run) {
        for (key, value) in map {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            out.push_str(&format!(
                "  {}: {},\n",
                serde_json::Value::String(key),
                indent(&text, 2)
            ));
        }
    }
    out.push_str("  \"snapshots\": [");
    out
}

/// One element of the `snapshots` array, indented to its place in the document; `first` says
/// whether a separator is needed before it.
pub fn snapshot(
    program: &Program,
    sources: &SourceMap,
    report: &SnapshotReport,
    first: bool,
) -> String {
    let value = json_snapshot(program, sources, report);
    let text =
        serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    let sep = if first { "\n" } else { ",\n" };
    format!("{sep}    {}", indent(&text, 4))
}

/// The end of the document, after `count` snapshots, with trailing top-level fields.
pub fn tail(count: usize, trailing: &[(&str, serde_json::Value)]) -> String {
    let mut out = String::from(if count == 0 { "]" } else { "\n  ]" });
    for (key, value) in trailing {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        out.push_str(&format!(",\n  \"{key}\": {}", indent(&text, 2)));
    }
    out.push_str("\n}\n");
    out
}

/// Indents every line but the first by `n` spaces (JSON strings hold no raw newlines).
fn indent(text: &str, n: usize) -> String {
    text.replace('\n', &format!("\n{}", " ".repeat(n)))
}

/// The whole document, with what the run used (see [`super::RunInfo`]).
pub fn render_run(
    program: &Program,
    sources: &SourceMap,
    reports: &[SnapshotReport],
    run: &super::RunInfo,
) -> String {
    let mut out = head(run);
    for (i, report) in reports.iter().enumerate() {
        out.push_str(&snapshot(program, sources, report, i == 0));
    }
    out.push_str(&tail(reports.len(), &[]));
    out
}

pub fn render(program: &Program, sources: &SourceMap, reports: &[SnapshotReport]) -> String {
    let snapshots = reports
        .iter()
        .map(|report| json_snapshot(program, sources, report))
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
