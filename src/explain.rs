//! Why a rule came out as it did on one snapshot: the value of every sub-expression of its
//! `when` and `require` clauses, and every fact and service field it read, with the place in
//! the snapshot each came from.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::check::ir::Program;
use crate::diag::{Diag, did_you_mean};
use crate::eval::{Evaluator, Outcome, Read, RuleResult, Step};
use crate::snapshot::{LoadedSnapshot, locate};
use crate::source::{FileId, SourceMap, Span};

pub mod codes {
    pub const UNKNOWN_RULE: &str = "expolicy::explain::unknown_rule";
    pub const AMBIGUOUS_RULE: &str = "expolicy::explain::ambiguous_rule";
    pub const EVIDENCE: &str = "expolicy::explain::evidence";
    pub const OUTCOME: &str = "expolicy::explain::outcome";
}

/// Spans ordered by start, then outermost first.
type SpanKey = (u32, std::cmp::Reverse<u32>);

/// Values longer than this are shortened in labels.
const MAX_SHOWN: usize = 120;

/// Finds a rule by its qualified id (`pack.rule`) or its name in the declaration.
pub fn resolve_rule(program: &Program, name: &str) -> Result<u32, Diag> {
    let bare = |id: &str| id.split_once('.').map_or(id, |(_, r)| r).to_string();
    let exact: Vec<usize> = program
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.id == name)
        .map(|(i, _)| i)
        .collect();
    let matches = if exact.is_empty() {
        program
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| bare(&r.id) == name)
            .map(|(i, _)| i)
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [one] => Ok(u32::try_from(*one).unwrap_or(u32::MAX)),
        [] => {
            let ids: Vec<String> = program.rules.iter().map(|r| r.id.clone()).collect();
            let bares: Vec<String> = ids.iter().map(|i| bare(i)).collect();
            let help = did_you_mean(name, ids.iter().map(String::as_str))
                .or_else(|| did_you_mean(name, bares.iter().map(String::as_str)))
                .unwrap_or_else(|| {
                    "name a rule by its id (`pack.rule`) or as it is declared; `expolicy check` \
                     lists the rules it loaded"
                        .to_string()
                });
            Err(Diag::error(
                codes::UNKNOWN_RULE,
                format!("no rule `{name}` in the policies given"),
            )
            .help(help))
        }
        many => {
            let ids: Vec<&str> = many.iter().map(|&i| program.rules[i].id.as_str()).collect();
            Err(Diag::error(
                codes::AMBIGUOUS_RULE,
                format!("`{name}` names more than one rule"),
            )
            .help(format!("give the qualified id: {}", ids.join(", "))))
        }
    }
}

/// Evaluates one rule with tracing on: its result (with evidence) and every step.
pub fn trace(program: &Program, snapshot: &LoadedSnapshot, rule: u32) -> (RuleResult, Vec<Step>) {
    let mut evaluator = Evaluator::new(program, snapshot);
    evaluator.trace = Some(Vec::new());
    evaluator.explain = Some(Vec::new());
    let result = evaluator.evaluate_rule(rule);
    let steps = evaluator.explain.take().unwrap_or_default();
    (result, steps)
}

fn shorten(value: &str) -> String {
    if value.chars().count() <= MAX_SHOWN {
        return value.to_string();
    }
    let cut: String = value.chars().take(MAX_SHOWN).collect();
    format!("{cut}…")
}

fn inside(span: Span, outer: Span) -> bool {
    span.file == outer.file && span.start >= outer.start && span.end <= outer.end
}

/// Whether a span's text is a literal, whose value is plain to see.
fn is_literal(text: &str) -> bool {
    text.starts_with('"')
        || text.starts_with(|c: char| c.is_ascii_digit())
        || text == "true"
        || text == "false"
}

/// Every read, once per JSON pointer, in the order first read.
fn distinct_reads(reads: &[Read]) -> Vec<&Read> {
    let mut seen = std::collections::BTreeSet::new();
    reads
        .iter()
        .filter(|r| seen.insert(r.pointer.as_str()))
        .collect()
}

/// The diagnostics that explain a rule: one for the rule, its clauses labelled with their
/// values, then one per value read from the snapshot, labelled in the snapshot (`snapshot`
/// is the snapshot's file in `sources`) and in the policy.
pub fn diagnostics(
    program: &Program,
    rule: u32,
    result: &RuleResult,
    steps: &[Step],
    snapshot: &LoadedSnapshot,
    snapshot_file: FileId,
    sources: &SourceMap,
) -> Vec<Diag> {
    let r = &program.rules[rule as usize];
    let mut clauses: Vec<Span> = Vec::new();
    if let Some(w) = &r.when {
        clauses.push(w.span);
    }
    clauses.extend(r.requires.iter().map(|q| q.span));
    // The last value computed for each span of the rule's own clauses, and how often.
    let mut by_span: BTreeMap<SpanKey, (Span, &Result<String, String>, usize)> = BTreeMap::new();
    for step in steps {
        if !clauses.iter().any(|c| inside(step.span, *c)) || is_literal(sources.text(step.span)) {
            continue;
        }
        let key = (step.span.start, std::cmp::Reverse(step.span.end));
        let entry = by_span.entry(key).or_insert((step.span, &step.value, 0));
        entry.1 = &step.value;
        entry.2 += 1;
    }
    let outcome = result.outcome;
    let headline = match &result.message {
        Some(m) => format!("`{}` came out {}: {m}", r.id, outcome.as_str()),
        None => format!("`{}` came out {}", r.id, outcome.as_str()),
    };
    let mut main = match outcome {
        Outcome::Fail | Outcome::Error => Diag::error(codes::OUTCOME, headline),
        Outcome::Pass | Outcome::NotApplicable => Diag::advice(codes::OUTCOME, headline),
    };
    main = main.label(
        r.span,
        format!("{} on {}", outcome.as_str(), snapshot.snapshot.host.name),
    );
    for (span, value, count) in by_span.values() {
        let shown = match value {
            Ok(v) => format!("= {}", shorten(v)),
            Err(why) => format!("undecided: {why}"),
        };
        let text = if *count > 1 {
            format!("{shown} (last of {count} evaluations)")
        } else {
            shown
        };
        main = main.label(*span, text);
    }
    let mut help = Vec::new();
    match outcome {
        Outcome::NotApplicable => {
            help.push("the `when` did not hold, so no requirement was checked".to_string())
        }
        Outcome::Pass => help.push("every requirement held".to_string()),
        Outcome::Fail => {
            let failed = result
                .requirements
                .iter()
                .filter(|q| q.outcome == Outcome::Fail)
                .count();
            help.push(format!(
                "{failed} of {} requirement(s) did not hold",
                result.requirements.len()
            ));
        }
        Outcome::Error => help.push(
            "missing or mistyped data left the rule undecided; missing data is never a pass"
                .to_string(),
        ),
    }
    let reads = distinct_reads(&result.evidence);
    help.push(format!(
        "{} value(s) read from {}",
        reads.len(),
        snapshot.source
    ));
    main = main.help(help.join("\n"));
    let mut diags = vec![main];
    for read in reads {
        let segments = locate::split_pointer(&read.pointer);
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let value = shorten(&read.value);
        let located = locate::locate(&snapshot.text, &segs);
        let d = match (located, read.line, read.column) {
            (Some((start, end)), Some(line), Some(column)) => Diag::advice(
                codes::EVIDENCE,
                format!(
                    "read `{}` = {value} at {}:{line}:{column} ({})",
                    read.path, snapshot.source, read.pointer
                ),
            )
            .label(
                Span::new(snapshot_file, start, end),
                format!("`{}`", read.path),
            )
            .label(read.span, "read here"),
            _ => Diag::advice(
                codes::EVIDENCE,
                format!(
                    "read `{}` = {value}, which is not in {} ({}): the declared default",
                    read.path, snapshot.source, read.pointer
                ),
            )
            .label(read.span, "read here"),
        };
        diags.push(d);
    }
    diags
}

/// The evidence of a result as one note, for reports that do not show the snapshot itself.
pub fn evidence_summary(reads: &[Read]) -> Diag {
    let mut text = String::from("evidence read from the snapshot:");
    for read in distinct_reads(reads) {
        let _ = write!(text, "\n  {} = {}", read.path, shorten(&read.value));
        match (read.line, read.column) {
            (Some(l), Some(c)) => {
                let _ = write!(text, "  (line {l}, column {c}, {})", read.pointer);
            }
            _ => {
                let _ = write!(text, "  (not in the snapshot: declared default)");
            }
        }
    }
    Diag::advice(codes::EVIDENCE, text)
}
