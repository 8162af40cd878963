//! A pack's own test cases (`expolicy test PACK`).
//!
//! A case is a snapshot, `<pack>/tests/<case>.snapshot.json`, beside the outcomes it should
//! produce, `<case>.expect.json`:
//!
//! ```json
//! { "description": "…", "outcomes": { "msearch-for-fulltext": "fail" } }
//! ```
//!
//! Rules are named as in their declaration (`msearch-for-fulltext`) or by their qualified id
//! (`exchange2003.msearch-for-fulltext`). Rules a case does not name are not checked by it.
//!
//! Coverage: a rule is *exercised* when some case names it, and *vacuous* when it has a `when`
//! that held in no case. A rule is covered when it is exercised and not vacuous.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::check::ir::Program;
use crate::diag::{Diag, did_you_mean};
use crate::eval::{Evaluator, Outcome, RuleResult};
use crate::snapshot;
use crate::source::{SourceMap, Span};

pub const SNAPSHOT_SUFFIX: &str = ".snapshot.json";
pub const EXPECT_SUFFIX: &str = ".expect.json";

pub mod codes {
    pub const NO_CASES: &str = "expolicy::test::no_cases";
    pub const MISSING_EXPECT: &str = "expolicy::test::missing_expect";
    pub const MISSING_SNAPSHOT: &str = "expolicy::test::missing_snapshot";
    pub const BAD_EXPECT: &str = "expolicy::test::bad_expect";
    pub const UNKNOWN_RULE: &str = "expolicy::test::unknown_rule";
    pub const UNREADABLE: &str = "expolicy::test::unreadable";
}

/// One case found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFiles {
    /// The path below `tests/` without the suffix, `/`-separated.
    pub name: String,
    pub snapshot: PathBuf,
    pub expect: PathBuf,
}

/// Finds every case below `<pack>/tests/`, sorted by name, and reports snapshots without
/// expectations and expectations without snapshots.
pub fn discover(pack: &Path) -> (Vec<CaseFiles>, Vec<Diag>) {
    let root = pack.join("tests");
    if !root.is_dir() {
        return (Vec::new(), Vec::new());
    }
    let mut snapshots = BTreeMap::new();
    let mut expects = BTreeMap::new();
    let mut pending = vec![root.clone()];
    let mut diags = Vec::new();
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                diags.push(unreadable(&dir, &e));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if let Some(name) = rel.strip_suffix(SNAPSHOT_SUFFIX) {
                snapshots.insert(name.to_string(), path);
            } else if let Some(name) = rel.strip_suffix(EXPECT_SUFFIX) {
                expects.insert(name.to_string(), path);
            }
        }
    }
    let mut cases = Vec::new();
    for (name, snapshot) in &snapshots {
        match expects.get(name) {
            Some(expect) => cases.push(CaseFiles {
                name: name.clone(),
                snapshot: snapshot.clone(),
                expect: expect.clone(),
            }),
            None => diags.push(
                Diag::error(
                    codes::MISSING_EXPECT,
                    format!("test case `{name}` has a snapshot but no expected outcomes"),
                )
                .help(format!(
                    "add {} beside {} with {{\"outcomes\": {{\"<rule>\": \"pass\"}}}}",
                    display_name(
                        &snapshot.with_file_name(format!("{}{EXPECT_SUFFIX}", last_segment(name)))
                    ),
                    display_name(snapshot)
                )),
            ),
        }
    }
    for (name, expect) in &expects {
        if !snapshots.contains_key(name) {
            diags.push(
                Diag::error(
                    codes::MISSING_SNAPSHOT,
                    format!("test case `{name}` has expected outcomes but no snapshot"),
                )
                .help(format!(
                    "add {} beside {}",
                    display_name(
                        &expect.with_file_name(format!("{}{SNAPSHOT_SUFFIX}", last_segment(name)))
                    ),
                    display_name(expect)
                )),
            );
        }
    }
    (cases, diags)
}

fn last_segment(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn display_name(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

fn unreadable(path: &Path, e: &std::io::Error) -> Diag {
    Diag::error(
        codes::UNREADABLE,
        format!("cannot read {}: {e}", display_name(path)),
    )
    .help("check the path and its permissions")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    #[serde(default)]
    description: Option<String>,
    outcomes: BTreeMap<String, ExpectedOutcome>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ExpectedOutcome {
    Pass,
    Fail,
    NotApplicable,
    Error,
}

impl From<ExpectedOutcome> for Outcome {
    fn from(e: ExpectedOutcome) -> Outcome {
        match e {
            ExpectedOutcome::Pass => Outcome::Pass,
            ExpectedOutcome::Fail => Outcome::Fail,
            ExpectedOutcome::NotApplicable => Outcome::NotApplicable,
            ExpectedOutcome::Error => Outcome::Error,
        }
    }
}

/// A case ready to run: its snapshot loaded and its expectations resolved to rule indices.
pub struct Case {
    pub name: String,
    pub description: Option<String>,
    pub snapshot: snapshot::LoadedSnapshot,
    /// Rule index and expected outcome, in rule order.
    pub expected: Vec<(u32, Outcome)>,
}

/// Reads and validates one case against the program. Every problem is reported.
pub fn load_case(
    files: &CaseFiles,
    program: &Program,
    sources: &mut SourceMap,
) -> Result<Case, Vec<Diag>> {
    let mut diags = Vec::new();
    let expect_name = display_name(&files.expect);
    let expect_bytes =
        std::fs::read(&files.expect).map_err(|e| vec![unreadable(&files.expect, &e)])?;
    let expect_text = String::from_utf8_lossy(&expect_bytes).into_owned();
    let expect_file = sources.add(expect_name.clone(), expect_text.as_str());
    let parsed: Option<ExpectFile> = match serde_json::from_str(&expect_text) {
        Ok(p) => Some(p),
        Err(e) => {
            let at = crate::source::offset_of(&expect_text, e.line(), e.column().max(1));
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_string();
            diags.push(
                Diag::error(codes::BAD_EXPECT, format!("{expect_name}: {message}"))
                    .label(Span::new(expect_file, at, at), "here")
                    .help(
                        "an expect file is {\"description\": \"…\", \"outcomes\": {\"<rule>\": \
                         \"pass\" | \"fail\" | \"not_applicable\" | \"error\"}}",
                    ),
            );
            None
        }
    };
    let snapshot_name = display_name(&files.snapshot);
    let snapshot = match std::fs::read(&files.snapshot) {
        Ok(bytes) => match snapshot::load(&snapshot_name, &bytes) {
            Ok(s) => Some(s),
            Err((err, text)) => {
                diags.push(err.into_diag(&snapshot_name, text, sources));
                None
            }
        },
        Err(e) => {
            diags.push(unreadable(&files.snapshot, &e));
            None
        }
    };
    let mut expected = Vec::new();
    if let Some(parsed) = &parsed {
        for (name, outcome) in &parsed.outcomes {
            match resolve_rule(program, name) {
                Some(index) => expected.push((index, Outcome::from(*outcome))),
                None => {
                    let span = crate::snapshot::locate::locate(&expect_text, &["outcomes", name])
                        .map_or(Span::new(expect_file, 0, 0), |(s, e)| {
                            Span::new(expect_file, s, e)
                        });
                    let names = program
                        .rules
                        .iter()
                        .map(|r| bare_name(program, r.pack, &r.id));
                    diags.push(
                        Diag::error(
                            codes::UNKNOWN_RULE,
                            format!("{expect_name}: the pack has no rule `{name}`"),
                        )
                        .label(
                            span,
                            format!("expected outcome of an unknown rule `{name}`"),
                        )
                        .help(did_you_mean(name, names).unwrap_or_else(|| {
                            "name a rule as declared in the pack, such as `rule my-rule { … }` → \
                             \"my-rule\""
                                .to_string()
                        })),
                    );
                }
            }
        }
        if parsed.outcomes.is_empty() {
            diags.push(
                Diag::error(
                    codes::BAD_EXPECT,
                    format!("{expect_name}: `outcomes` names no rule"),
                )
                .label(Span::new(expect_file, 0, 0), "this case checks nothing")
                .help("list the expected outcome of at least one rule"),
            );
        }
    }
    expected.sort_by_key(|(i, _)| *i);
    match (parsed, snapshot) {
        (Some(parsed), Some(snapshot)) if diags.is_empty() => Ok(Case {
            name: files.name.clone(),
            description: parsed.description,
            snapshot,
            expected,
        }),
        _ => Err(diags),
    }
}

/// The rule's name without its pack prefix.
pub fn bare_name<'p>(program: &Program, pack: u32, id: &'p str) -> &'p str {
    let prefix = program
        .packs
        .get(pack as usize)
        .map(|p| p.name.as_str())
        .unwrap_or("");
    id.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('.'))
        .unwrap_or(id)
}

fn resolve_rule(program: &Program, name: &str) -> Option<u32> {
    program
        .rules
        .iter()
        .position(|r| r.id == name || bare_name(program, r.pack, &r.id) == name)
        .and_then(|i| u32::try_from(i).ok())
}

/// A rule whose outcome differed from the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub rule: u32,
    pub expected: Outcome,
    pub actual: Outcome,
    pub message: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub description: Option<String>,
    pub host: String,
    /// How many outcomes the case checked.
    pub checked: usize,
    pub mismatches: Vec<Mismatch>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Per-rule coverage across every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCoverage {
    pub rule: u32,
    /// Some case names the rule.
    pub exercised: bool,
    /// The rule has a `when` that held in no case.
    pub vacuous: bool,
}

#[derive(Debug, Clone)]
pub struct PackResult {
    pub cases: Vec<CaseResult>,
    pub coverage: Vec<RuleCoverage>,
}

impl PackResult {
    pub fn failed_cases(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed()).count()
    }

    /// Covered rules (exercised, not vacuous) as a percentage of all rules.
    pub fn coverage_percent(&self) -> f64 {
        if self.coverage.is_empty() {
            return 100.0;
        }
        let covered = self
            .coverage
            .iter()
            .filter(|c| c.exercised && !c.vacuous)
            .count();
        covered as f64 * 100.0 / self.coverage.len() as f64
    }
}

/// Whether the rule's `when` held (or there is none) in this result.
fn when_held(result: &RuleResult) -> bool {
    match result.outcome {
        Outcome::Pass | Outcome::Fail => true,
        Outcome::NotApplicable => false,
        // An error in the `when` leaves no requirement evaluated.
        Outcome::Error => !result.requirements.is_empty(),
    }
}

/// Runs every case: each rule of the program on each snapshot, compared with expectations.
pub fn run(program: &Program, cases: &[Case]) -> PackResult {
    let all: Vec<u32> = (0..program.rules.len())
        .filter_map(|i| u32::try_from(i).ok())
        .collect();
    let mut exercised = vec![false; all.len()];
    let mut held = vec![false; all.len()];
    let mut results = Vec::new();
    for case in cases {
        let outcomes = Evaluator::new(program, &case.snapshot).evaluate(&all);
        for r in &outcomes {
            if when_held(r) {
                held[r.rule as usize] = true;
            }
        }
        let mut mismatches = Vec::new();
        for &(rule, expected) in &case.expected {
            exercised[rule as usize] = true;
            let actual = &outcomes[rule as usize];
            if actual.outcome != expected {
                mismatches.push(Mismatch {
                    rule,
                    expected,
                    actual: actual.outcome,
                    message: actual.message.clone(),
                });
            }
        }
        results.push(CaseResult {
            name: case.name.clone(),
            description: case.description.clone(),
            host: case.snapshot.snapshot.host.name.clone(),
            checked: case.expected.len(),
            mismatches,
        });
    }
    let coverage = all
        .iter()
        .map(|&i| RuleCoverage {
            rule: i,
            exercised: exercised[i as usize],
            vacuous: program.rules[i as usize].when.is_some() && !held[i as usize],
        })
        .collect();
    PackResult {
        cases: results,
        coverage,
    }
}
