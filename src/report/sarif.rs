//! `--format sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.
//!
//! One run; every selected rule in `tool.driver.rules` (title, help, default level, tags,
//! controls); one result per failing or undecidable rule per host, pointing at the rule in the
//! policy and naming the host in its message and properties. Waived results carry a
//! `suppressions` entry. `partialFingerprints` depend only on the rule id and the host, so a
//! finding keeps its identity across runs.

use std::collections::BTreeMap;

use serde_json::json;
use serde_sarif::sarif;

use super::{RunInfo, SnapshotReport};
use crate::check::ir::{Program, Severity};
use crate::eval::Outcome;
use crate::source::SourceMap;

/// The schema the document declares.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The key of our fingerprint in `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "expolicyFinding/v1";

/// Builds the SARIF log one snapshot at a time, keeping only the results (not the snapshots).
pub struct SarifBuilder<'p> {
    program: &'p Program,
    /// Selected rules, in report order; `ruleIndex` points into this list.
    rules: Vec<u32>,
    index_of: BTreeMap<u32, usize>,
    results: Vec<sarif::Result>,
}

impl<'p> SarifBuilder<'p> {
    pub fn new(program: &'p Program, selected: &[u32]) -> SarifBuilder<'p> {
        SarifBuilder {
            program,
            rules: selected.to_vec(),
            index_of: selected.iter().enumerate().map(|(i, &r)| (r, i)).collect(),
            results: Vec::new(),
        }
    }

    pub fn add(&mut self, sources: &SourceMap, report: &SnapshotReport) {
        for (i, result) in report.results.iter().enumerate() {
            if !matches!(result.outcome, Outcome::Fail | Outcome::Error) {
                continue;
            }
            let rule = &self.program.rules[result.rule as usize];
            let loc = sources.location(result.span);
            let text = result.message.clone().unwrap_or_else(|| rule.title.clone());
            let message = match result.outcome {
                Outcome::Error => format!("{}: could not be decided: {text}", report.host),
                _ => format!("{}: {text}", report.host),
            };
            let region = sarif::Region::builder()
                .start_line(i64::try_from(loc.line).unwrap_or(i64::MAX))
                .start_column(i64::try_from(loc.column).unwrap_or(i64::MAX))
                .build();
            let location = sarif::Location::builder()
                .physical_location(
                    sarif::PhysicalLocation::builder()
                        .artifact_location(
                            sarif::ArtifactLocation::builder()
                                .uri(uri(&loc.file))
                                .build(),
                        )
                        .region(region)
                        .build(),
                )
                .message(
                    sarif::Message::builder()
                        .text(format!("on host {}", report.host))
                        .build(),
                )
                .build();
            let mut properties = BTreeMap::new();
            properties.insert("host".to_string(), json!(report.host));
            properties.insert("snapshot".to_string(), json!(report.source));
            properties.insert("outcome".to_string(), json!(result.outcome.as_str()));
            if let Some(u) = &result.undecided {
                if let Some(path) = u.path() {
                    properties.insert("missing".to_string(), json!(path));
                }
            }
            let mut fingerprints = BTreeMap::new();
            fingerprints.insert(
                FINGERPRINT_KEY.to_string(),
                fingerprint(&rule.id, &report.host),
            );
            let level = level(rule.severity);
            let built = sarif::Result::builder()
                .rule_id(rule.id.clone())
                .message(sarif::Message::builder().text(message).build())
                .level(level)
                .kind(sarif::ResultKind::Fail)
                .locations(vec![location])
                .partial_fingerprints(fingerprints)
                .properties(
                    sarif::PropertyBag::builder()
                        .additional_properties(properties)
                        .build(),
                );
            let built = match self.index_of.get(&result.rule) {
                Some(&index) => built.rule_index(i64::try_from(index).unwrap_or(-1)),
                None => built.rule_index(-1),
            };
            let mut built = built.build();
            if let Some(w) = report.waiver(i) {
                let mut props = BTreeMap::new();
                props.insert("expires".to_string(), json!(w.expires));
                if let Some(t) = &w.ticket {
                    props.insert("ticket".to_string(), json!(t));
                }
                if let Some(a) = &w.approver {
                    props.insert("approver".to_string(), json!(a));
                }
                built.suppressions = Some(vec![
                    sarif::Suppression::builder()
                        .kind(json!("external"))
                        .status(json!("accepted"))
                        .justification(w.reason.clone())
                        .properties(
                            sarif::PropertyBag::builder()
                                .additional_properties(props)
                                .build(),
                        )
                        .build(),
                ]);
            }
            self.results.push(built);
        }
    }

    /// The whole log. `complete` is false when some snapshot could not be read.
    pub fn finish(self, run: &RunInfo, complete: bool) -> String {
        let rules: Vec<sarif::ReportingDescriptor> = self
            .rules
            .iter()
            .map(|&r| descriptor(self.program, r))
            .collect();
        let driver = sarif::ToolComponent::builder()
            .name("expolicy")
            .semantic_version(env!("CARGO_PKG_VERSION"))
            .version(env!("CARGO_PKG_VERSION"))
            .rules(rules)
            .build();
        let mut run_props = BTreeMap::new();
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(run) {
            run_props.extend(map);
        }
        let invocation = sarif::Invocation::builder()
            .execution_successful(complete)
            .build();
        let mut sarif_run = sarif::Run::builder()
            .tool(sarif::Tool::builder().driver(driver).build())
            .results(self.results)
            .invocations(vec![invocation])
            .column_kind(json!("unicodeCodePoints"))
            .build();
        if !run_props.is_empty() {
            sarif_run.properties = Some(
                sarif::PropertyBag::builder()
                    .additional_properties(run_props)
                    .build(),
            );
        }
        let log = sarif::Sarif::builder()
            .schema(SCHEMA)
            .version(json!("2.1.0"))
            .runs(vec![sarif_run])
            .build();
        let mut out = serde_json::to_string_pretty(&log)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        out.push('\n');
        out
    }
}

/// Renders reports at once (for callers that hold them all).
pub fn render(
    program: &Program,
    sources: &SourceMap,
    selected: &[u32],
    reports: &[SnapshotReport],
    run: &RunInfo,
) -> String {
    let mut builder = SarifBuilder::new(program, selected);
    for report in reports {
        builder.add(sources, report);
    }
    builder.finish(run, true)
}

fn level(severity: Severity) -> sarif::ResultLevel {
    match severity {
        Severity::Error => sarif::ResultLevel::Error,
        Severity::Warning => sarif::ResultLevel::Warning,
        Severity::Info => sarif::ResultLevel::Note,
    }
}

fn descriptor(program: &Program, index: u32) -> sarif::ReportingDescriptor {
    let rule = &program.rules[index as usize];
    let mut help = rule.help.clone().unwrap_or_else(|| rule.title.clone());
    let mut markdown = format!("**{}**\n\n{help}", rule.title);
    if !rule.controls.is_empty() {
        help.push_str(&format!("\nControls: {}", rule.controls.join(", ")));
        markdown.push_str(&format!("\n\nControls: {}", rule.controls.join(", ")));
    }
    if let Some(docs) = &rule.docs {
        help.push_str(&format!("\nSee {docs}"));
        markdown.push_str(&format!("\n\nSee <{docs}>"));
    }
    let mut props = BTreeMap::new();
    props.insert("controls".to_string(), json!(rule.controls));
    if let Some(pack) = program.packs.get(rule.pack as usize) {
        props.insert("pack".to_string(), json!(pack.name));
    }
    let short = rule.id.rsplit('.').next().unwrap_or(&rule.id).to_string();
    let level = match rule.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let builder = sarif::ReportingDescriptor::builder()
        .id(rule.id.clone())
        .name(short)
        .short_description(
            sarif::MultiformatMessageString::builder()
                .text(rule.title.clone())
                .build(),
        )
        .full_description(
            sarif::MultiformatMessageString::builder()
                .text(rule.help.clone().unwrap_or_else(|| rule.title.clone()))
                .build(),
        )
        .help(
            sarif::MultiformatMessageString::builder()
                .text(help)
                .markdown(markdown)
                .build(),
        )
        .default_configuration(
            sarif::ReportingConfiguration::builder()
                .level(json!(level))
                .build(),
        )
        .properties(
            sarif::PropertyBag::builder()
                .tags(rule.tags.clone())
                .additional_properties(props)
                .build(),
        );
    match rule.docs.as_deref().filter(|d| is_absolute_uri(d)) {
        Some(docs) => builder.help_uri(docs.to_string()).build(),
        None => builder.build(),
    }
}

/// `scheme:` followed by something: what SARIF's `format: uri` asks of `helpUri`.
fn is_absolute_uri(text: &str) -> bool {
    match text.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A policy path as a URI reference: forward slashes, reserved characters escaped; absolute
/// paths become `file://` URIs.
pub fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            'A'..='Z'
            | 'a'..='z'
            | '0'..='9'
            | '-'
            | '.'
            | '_'
            | '~'
            | '/'
            | ':'
            | '@'
            | '!'
            | '$'
            | '&'
            | '\''
            | '('
            | ')'
            | '*'
            | '+'
            | ','
            | ';'
            | '=' => out.push(c),
            _ => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    if out.starts_with('/') {
        format!("file://{out}")
    } else if out.len() > 1 && out.as_bytes()[1] == b':' {
        // `C:/policies/x.xpol`
        format!("file:///{out}")
    } else {
        out
    }
}

/// FNV-1a (64 bits) of the rule id and the host: stable across runs, releases and platforms.
pub fn fingerprint(rule: &str, host: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in rule
        .bytes()
        .chain(std::iter::once(0))
        .chain(host.to_ascii_lowercase().bytes())
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_references() {
        assert_eq!(uri("policies/a b.xpol"), "policies/a%20b.xpol");
        assert_eq!(uri("/tmp/x.xpol"), "file:///tmp/x.xpol");
        assert_eq!(uri("C:\\p\\x.xpol"), "file:///C:/p/x.xpol");
        assert!(is_absolute_uri("https://example.invalid/doc"));
        assert!(!is_absolute_uri("see the wiki"));
    }

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fingerprint("a.b", "EXCH01"), fingerprint("a.b", "exch01"));
        assert_ne!(fingerprint("a.b", "EXCH01"), fingerprint("a.b", "EXCH02"));
    }
}
