//! Reports of an evaluation: for people (miette) and for machines (JSON).

pub mod human;
pub mod json;

use crate::check::ir::{Program, Severity};
use crate::eval::{Outcome, RuleResult, Summary};

/// The results for one snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotReport {
    /// The snapshot as the user named it.
    pub source: String,
    pub host: String,
    pub results: Vec<RuleResult>,
    pub summary: Summary,
}

impl SnapshotReport {
    pub fn new(source: String, host: String, results: Vec<RuleResult>) -> SnapshotReport {
        let summary = Summary::of(&results);
        SnapshotReport {
            source,
            host,
            results,
            summary,
        }
    }
}

/// The lowest severity whose failures (and undecidable rules) make the exit status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Severity(Severity),
    Never,
}

impl FailOn {
    pub fn counts(self, program: &Program, result: &RuleResult) -> bool {
        let FailOn::Severity(threshold) = self else {
            return false;
        };
        matches!(result.outcome, Outcome::Fail | Outcome::Error)
            && program.rules[result.rule as usize].severity >= threshold
    }
}

/// Whether any result in the reports makes the run fail.
pub fn any_failure(program: &Program, reports: &[SnapshotReport], fail_on: FailOn) -> bool {
    reports
        .iter()
        .flat_map(|r| &r.results)
        .any(|r| fail_on.counts(program, r))
}
