//! What evaluating a rule on a snapshot produces.

use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    NotApplicable,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NotApplicable => "not_applicable",
            Outcome::Error => "error",
        }
    }
}

/// Why an expression could not be decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecided {
    pub kind: UndecidedKind,
    /// The policy expression that needed what was missing.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UndecidedKind {
    /// A fact (or a part of one) is absent from the snapshot.
    MissingFact { path: String, pointer: String },
    /// A fact is present but not of its declared type.
    WrongType {
        path: String,
        pointer: String,
        expected: String,
        found: String,
    },
    /// No service record has this SCM name.
    MissingService { name: String },
    /// A service record lacks a field the rule reads.
    MissingServiceField {
        service: String,
        field: &'static str,
        pointer: String,
    },
    /// Arithmetic overflow, division by zero, the minimum of an empty list…
    Runtime { message: String },
    /// Evaluation took more steps or nested deeper than allowed.
    Limit { message: String },
}

impl Undecided {
    /// The snapshot path that was missing or mistyped, as a reader would write it.
    pub fn path(&self) -> Option<String> {
        match &self.kind {
            UndecidedKind::MissingFact { path, .. } | UndecidedKind::WrongType { path, .. } => {
                Some(path.clone())
            }
            UndecidedKind::MissingService { name } => Some(format!("services[{name}]")),
            UndecidedKind::MissingServiceField { service, field, .. } => {
                Some(format!("services[{service}].{field}"))
            }
            UndecidedKind::Runtime { .. } | UndecidedKind::Limit { .. } => None,
        }
    }

    /// A JSON pointer into the snapshot, where there is one.
    pub fn pointer(&self) -> Option<&str> {
        match &self.kind {
            UndecidedKind::MissingFact { pointer, .. }
            | UndecidedKind::WrongType { pointer, .. }
            | UndecidedKind::MissingServiceField { pointer, .. } => Some(pointer),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match &self.kind {
            UndecidedKind::MissingFact { path, .. } => format!("the snapshot has no fact `{path}`"),
            UndecidedKind::WrongType {
                path,
                expected,
                found,
                ..
            } => format!("fact `{path}` should be {expected} but the snapshot has {found}"),
            UndecidedKind::MissingService { name } => {
                format!("the snapshot has no service `{name}`")
            }
            UndecidedKind::MissingServiceField { service, field, .. } => {
                format!("service `{service}` has no `{field}` in the snapshot")
            }
            UndecidedKind::Runtime { message } | UndecidedKind::Limit { message } => {
                message.clone()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequirementResult {
    pub outcome: Outcome,
    pub message: Option<String>,
    pub span: Span,
    pub undecided: Option<Undecided>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    /// Index into `Program::rules`.
    pub rule: u32,
    pub outcome: Outcome,
    pub message: Option<String>,
    /// Where in the policy the outcome comes from: the failing requirement, the expression
    /// that lacked data, the `when` that did not hold, or the rule itself.
    pub span: Span,
    pub requirements: Vec<RequirementResult>,
    /// Why the outcome is `error`, when it is.
    pub undecided: Option<Undecided>,
    /// Assumptions the evaluation made, such as a fact's declared default.
    pub notes: Vec<String>,
    /// Every fact and service field the rule read, when the evaluator was tracing.
    pub evidence: Vec<super::Read>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub pass: usize,
    pub fail: usize,
    pub not_applicable: usize,
    pub error: usize,
}

impl Summary {
    pub fn of(results: &[RuleResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.outcome {
                Outcome::Pass => s.pass += 1,
                Outcome::Fail => s.fail += 1,
                Outcome::NotApplicable => s.not_applicable += 1,
                Outcome::Error => s.error += 1,
            }
        }
        s
    }
}
