//! Reports of an evaluation: for people (miette) and for machines (JSON).

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;

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
    /// For each result, the waiver that applies to it (empty when no waivers were given).
    pub waived: Vec<Option<std::sync::Arc<crate::waivers::Waived>>>,
}

impl SnapshotReport {
    pub fn new(source: String, host: String, results: Vec<RuleResult>) -> SnapshotReport {
        let summary = Summary::of(&results);
        SnapshotReport {
            source,
            host,
            results,
            summary,
            waived: Vec::new(),
        }
    }

    /// The waiver that applies to the result at `index`, if any.
    pub fn waiver(&self, index: usize) -> Option<&crate::waivers::Waived> {
        self.waived.get(index).and_then(|w| w.as_deref())
    }

    /// How many results are waived.
    pub fn waived_count(&self) -> usize {
        self.waived.iter().filter(|w| w.is_some()).count()
    }

    /// Whether a result that is not waived makes the run fail.
    pub fn fails(&self, program: &Program, fail_on: FailOn) -> bool {
        self.results
            .iter()
            .enumerate()
            .any(|(i, r)| self.waiver(i).is_none() && fail_on.counts(program, r))
    }
}

/// What a whole run used, beyond the snapshots: reported at the top of machine reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunInfo {
    /// The date waivers were judged against, when a waivers file was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub now: Option<crate::waivers::Now>,
    /// Every declared input and the value used, when any pack declares inputs.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub inputs: crate::inputs::InputsReport,
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
    reports.iter().any(|r| r.fails(program, fail_on))
}
