//! `--format junit`: JUnit XML as Jenkins and GitLab render it. One test suite per snapshot
//! (named after the host), one test case per rule: `pass` succeeds, `fail` is a failure,
//! `error` (undecidable) is an error, `not_applicable` is skipped, and a waived failure is
//! skipped with the waiver's reason.

use std::io::{Read, Seek, SeekFrom, Write};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunInfo, SnapshotReport};
use crate::check::ir::Program;
use crate::eval::Outcome;
use crate::source::SourceMap;

/// Builds the report one snapshot at a time. Each suite is serialised as it arrives and
/// spooled to an anonymous temporary file (memory if none can be made), because the root
/// element carries the totals and must be written first; memory stays flat however large the
/// fleet.
pub struct JunitBuilder<'p> {
    program: &'p Program,
    spool: Spool,
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

enum Spool {
    File(std::fs::File),
    Memory(Vec<u8>),
}

impl<'p> JunitBuilder<'p> {
    pub fn new(program: &'p Program) -> JunitBuilder<'p> {
        JunitBuilder {
            program,
            spool: match tempfile::tempfile() {
                Ok(f) => Spool::File(f),
                Err(_) => Spool::Memory(Vec::new()),
            },
            tests: 0,
            failures: 0,
            errors: 0,
            skipped: 0,
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
        self.tests += snapshot.results.len();
        for (i, result) in snapshot.results.iter().enumerate() {
            match (result.outcome, snapshot.waiver(i).is_some()) {
                (Outcome::Fail, false) => self.failures += 1,
                (Outcome::Error, false) => self.errors += 1,
                (Outcome::NotApplicable, _) | (Outcome::Fail | Outcome::Error, true) => {
                    self.skipped += 1;
                }
                (Outcome::Pass, _) => {}
            }
        }
        // Serialise the suite alone and keep its `<testsuite>` element.
        let mut one = Report::new("expolicy");
        one.add_test_suite(suite);
        let xml = match one.to_string() {
            Ok(xml) => xml,
            Err(e) => format!("<!-- expolicy could not write this suite: {e} -->"),
        };
        let fragment = match (xml.find("<testsuite "), xml.rfind("</testsuites>")) {
            (Some(start), Some(end)) if start < end => &xml[start..end],
            _ => xml.as_str(),
        };
        let fragment = format!("    {}\n", fragment.trim_end());
        let written = match &mut self.spool {
            Spool::File(f) => f.write_all(fragment.as_bytes()),
            Spool::Memory(v) => {
                v.extend_from_slice(fragment.as_bytes());
                Ok(())
            }
        };
        if written.is_err() {
            // The disk is full: keep going in memory rather than lose suites.
            let mut kept = Vec::new();
            if let Spool::File(f) = &mut self.spool {
                if f.seek(SeekFrom::Start(0)).is_ok() {
                    let _ = f.read_to_end(&mut kept);
                }
            }
            kept.extend_from_slice(fragment.as_bytes());
            self.spool = Spool::Memory(kept);
        }
    }

    /// Writes the whole document: the root element with the totals, then every suite.
    pub fn finish(self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites name=\"expolicy\" tests=\"{}\" skipped=\"{}\" failures=\"{}\" errors=\"{}\">",
            self.tests, self.skipped, self.failures, self.errors
        )?;
        match self.spool {
            Spool::File(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                std::io::copy(&mut f, out)?;
            }
            Spool::Memory(v) => out.write_all(&v)?,
        }
        writeln!(out, "</testsuites>")
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
    let mut out = Vec::new();
    if let Err(e) = builder.finish(&mut out) {
        return format!("<!-- expolicy could not write the JUnit report: {e} -->\n");
    }
    String::from_utf8_lossy(&out).into_owned()
}
