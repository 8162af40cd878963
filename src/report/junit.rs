//! `--format junit`: JUnit XML as Jenkins and GitLab render it. One test suite per snapshot
//! (named after the host), one test case per rule: `pass` succeeds, `fail` is a failure,
//! `error` (undecidable) is an error, `not_applicable` is skipped, and a waived failure is
//! skipped with the waiver's reason.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunInfo, SnapshotReport};
use crate::check::ir::Program;
use crate::eval::Outcome;
use crate::source::SourceMap;

/// Builds the report one snapshot at a time, keeping only its test cases.
pub struct JunitBuilder<'p> {
    program: &'p Program,
    report: Report,
}

impl<'p> JunitBuilder<'p> {
    pub fn new(program: &'p Program) -> JunitBuilder<'p> {
        JunitBuilder {
            program,
            report: Report::new("expolicy"),
        }
    }

    pub fn add(&mut self, sources: &SourceMap, snapshot: &SnapshotReport, run: &RunInfo) {
        let mut suite = TestSuite::new(format!("{} ({})", snapshot.host, snapshot.source));
        suite.add_property(Property::new("host", snapshot.host.as_str()));
        suite.add_property(Property::new("snapshot", snapshot.source.as_str()));
        if let Some(now) = &run.now {
            suite.add_property(Property::new("waivers.now", now.date.to_string()));
        }
        for (name, input) in &run.inputs {
            suite.add_property(Property::new(
                format!("input.{name}"),
                input.value.to_string(),
            ));
        }
        for (i, result) in snapshot.results.iter().enumerate() {
            let rule = &self.program.rules[result.rule as usize];
            let loc = sources.location(result.span);
            let message = result.message.clone().unwrap_or_default();
            let where_ = format!("{}:{}:{}", loc.file, loc.line, loc.column);
            let status = match (result.outcome, snapshot.waiver(i)) {
                (Outcome::Fail | Outcome::Error, Some(w)) => {
                    let mut s = TestCaseStatus::skipped();
                    let mut text = format!("waived until {}: {}", w.expires, w.reason);
                    if let Some(t) = &w.ticket {
                        text.push_str(&format!(" (ticket {t})"));
                    }
                    if let Some(a) = &w.approver {
                        text.push_str(&format!(" (approved by {a})"));
                    }
                    s.set_message(text);
                    s.set_type("waived");
                    s.set_description(format!(
                        "{}: {message}\n  at {where_}",
                        result.outcome.as_str()
                    ));
                    s
                }
                (Outcome::Pass, _) => TestCaseStatus::success(),
                (Outcome::NotApplicable, _) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(message);
                    s.set_type("not_applicable");
                    s
                }
                (Outcome::Fail, None) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(message.clone());
                    s.set_type(rule.severity.as_str());
                    s.set_description(describe(rule, &message, &where_));
                    s
                }
                (Outcome::Error, None) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(message.clone());
                    s.set_type("undecided");
                    s.set_description(describe(rule, &message, &where_));
                    s
                }
            };
            let mut case = TestCase::new(rule.id.as_str(), status);
            case.set_classname(format!("expolicy.{}", snapshot.host));
            case.add_property(Property::new("severity", rule.severity.as_str()));
            case.add_property(Property::new("outcome", result.outcome.as_str()));
            if !rule.controls.is_empty() {
                case.add_property(Property::new("controls", rule.controls.join(",")));
            }
            case.add_property(Property::new("location", where_));
            suite.add_test_case(case);
        }
        self.report.add_test_suite(suite);
    }

    pub fn finish(self) -> String {
        match self.report.to_string() {
            Ok(mut xml) => {
                if !xml.ends_with('\n') {
                    xml.push('\n');
                }
                xml
            }
            Err(e) => format!("<!-- expolicy could not write the JUnit report: {e} -->\n"),
        }
    }
}

fn describe(rule: &crate::check::ir::Rule, message: &str, where_: &str) -> String {
    let mut text = format!("{}\n{message}\n  at {where_}", rule.title);
    if let Some(help) = &rule.help {
        text.push_str(&format!("\nhelp: {help}"));
    }
    if !rule.controls.is_empty() {
        text.push_str(&format!("\ncontrols: {}", rule.controls.join(", ")));
    }
    text
}

/// Renders reports at once.
pub fn render(
    program: &Program,
    sources: &SourceMap,
    reports: &[SnapshotReport],
    run: &RunInfo,
) -> String {
    let mut builder = JunitBuilder::new(program);
    for report in reports {
        builder.add(sources, report, run);
    }
    builder.finish()
}
