//! Evaluation of a checked program against one snapshot. The snapshot is borrowed, never
//! copied; facts and definitions are computed at most once per snapshot.

mod builtins;
mod columns;
mod facts;
pub(crate) mod graph;
pub mod outcome;
mod shortcuts;
pub mod value;

use std::rc::Rc;

use smol_str::SmolStrBuilder;

use crate::check::ir::*;
use crate::check::types::Type;
use crate::snapshot::{LoadedSnapshot, ServiceRef, same_account};
use crate::source::Span;
pub use outcome::*;
use shortcuts::Bound;
use value::{RecordValue, Value};

/// Steps one rule may take before it is stopped with an `error` outcome.
pub const MAX_STEPS: u64 = 5_000_000;
/// How deeply evaluation may nest (expressions within calls within expressions).
pub const MAX_DEPTH: u32 = 512;
/// An operation that builds a string is charged one step per this many bytes it builds, so
/// that the step budget also bounds memory (a string doubled in a loop is stopped, not grown
/// until the machine runs out).
pub const BYTES_PER_STEP: usize = 16;

type Eval<'a> = Result<Value<'a>, Box<Undecided>>;

/// The strings of a list, for looking items up by their bytes (see `Evaluator::lookups`).
type Lookup = std::collections::HashSet<LookupKey, foldhash::fast::FixedState>;

/// A string of a [`Lookup`], found by its bytes (so that a `lower`ed name changed in a buffer
/// needs no check that it is still UTF-8).
#[derive(PartialEq, Eq)]
struct LookupKey(smol_str::SmolStr);

impl std::hash::Hash for LookupKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, which `Borrow` requires.
        self.0.as_bytes().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for LookupKey {
    fn borrow(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// One fact or service field that evaluation read, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub path: String,
    pub pointer: String,
    pub value: String,
    /// The policy expression that read it.
    pub span: Span,
    /// Where the value is in the snapshot text (1-based), when it is there (a defaulted fact
    /// is not).
    pub line: Option<usize>,
    pub column: Option<usize>,
}

pub struct Evaluator<'a> {
    program: &'a Program,
    snapshot: &'a LoadedSnapshot,
    /// `Program::service_names`, resolved in this snapshot.
    named_services: Vec<Option<u32>>,
    facts: Vec<Option<Eval<'a>>>,
    fact_defaulted: Vec<bool>,
    globals: Vec<Option<Eval<'a>>>,
    locals: Vec<Value<'a>>,
    frame: usize,
    depth: u32,
    steps: u64,
    graph: graph::Graph<'a>,
    /// `all_dependencies` and `missing_dependencies` of each service, once computed (sized on
    /// first use).
    dependency_lists: Vec<DependencyLists<'a>>,
    /// `services`, once computed.
    services: Option<Value<'a>>,
    /// The columns kept once computed: each `is` predicate a loop asked about, each function of
    /// one service a loop's test called (see `columns`).
    columns: Vec<(columns::ColumnKey, columns::Column)>,
    /// Results of functions of one service, per function and service (sized on first use).
    calls: Vec<Vec<Option<Eval<'a>>>>,
    /// The values of [`NodeKind::Hoisted`] expressions, once computed.
    hoisted: Vec<Option<Eval<'a>>>,
    /// The strings of each list that loop tests look items up in (`GlobalDef::looked_up`),
    /// indexed on first use (see `Evaluator::lookup`; sized when such a list is computed).
    lookups: Vec<std::cell::OnceCell<Lookup>>,
    /// Lists known to name exactly these services (and perhaps names no record provides),
    /// kept with the list so that it cannot be mistaken for another: see `columns`.
    name_sets: Vec<(Rc<[Value<'a>]>, columns::Column)>,
    /// Every read, when explaining.
    pub trace: Option<Vec<Read>>,
    /// Every expression evaluated and its value, when explaining.
    pub explain: Option<Vec<Step>>,
}

/// One expression that evaluation computed, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub span: Span,
    /// The value as messages show it, or why it could not be decided.
    pub value: Result<String, String>,
}

fn undecided<'a>(kind: UndecidedKind, span: Span) -> Eval<'a> {
    Err(Box::new(Undecided { kind, span }))
}

fn runtime<'a>(message: impl Into<String>, span: Span) -> Eval<'a> {
    undecided(
        UndecidedKind::Runtime {
            message: message.into(),
        },
        span,
    )
}

impl<'a> Evaluator<'a> {
    pub fn new(program: &'a Program, snapshot: &'a LoadedSnapshot) -> Evaluator<'a> {
        let named_services = program
            .service_names
            .iter()
            .map(|n| snapshot.services.get(n))
            .collect();
        Evaluator {
            program,
            snapshot,
            named_services,
            facts: vec![None; program.facts.len()],
            fact_defaulted: vec![false; program.facts.len()],
            globals: vec![None; program.globals.len()],
            locals: Vec::new(),
            frame: 0,
            depth: 0,
            steps: 0,
            graph: graph::Graph::new(snapshot),
            dependency_lists: Vec::new(),
            services: None,
            calls: Vec::new(),
            columns: Vec::new(),
            hoisted: vec![None; program.hoisted as usize],
            lookups: Vec::new(),
            name_sets: Vec::new(),
            trace: None,
            explain: None,
        }
    }

    /// The service `service("…")` names (`Program::service_names[id]`), if the snapshot has it.
    fn named_service(&self, id: u32) -> Option<u32> {
        self.named_services.get(id as usize).copied().flatten()
    }

    /// Evaluates the given rules (indices into `Program::rules`), in that order.
    pub fn evaluate(&mut self, rules: &[u32]) -> Vec<RuleResult> {
        rules.iter().map(|&r| self.evaluate_rule(r)).collect()
    }

    /// Evaluates one rule; when tracing, its reads become the result's evidence.
    pub fn evaluate_rule(&mut self, index: u32) -> RuleResult {
        let mut result = self.evaluate_rule_untraced(index);
        if let Some(trace) = &mut self.trace {
            // Each value once, where it was first read.
            let mut seen = std::collections::HashSet::new();
            result.evidence = std::mem::take(trace)
                .into_iter()
                .filter(|r| seen.insert(r.pointer.clone()))
                .collect();
        }
        result
    }

    fn evaluate_rule_untraced(&mut self, index: u32) -> RuleResult {
        let rule = &self.program.rules[index as usize];
        self.steps = 0;
        self.locals.clear();
        self.frame = 0;
        self.locals.resize(rule.slots as usize, Value::Bool(false));
        let notes = self.notes(rule);
        // Facts read to settle defaults for the notes are not evidence.
        if let Some(trace) = &mut self.trace {
            trace.clear();
        }
        let result = |outcome, message, span, requirements, undecided| RuleResult {
            rule: index,
            outcome,
            message,
            span,
            requirements,
            undecided,
            notes: notes.clone(),
            evidence: Vec::new(),
        };
        if let Some(when) = &rule.when {
            match self.eval_bool(&when.node) {
                Ok(true) => {}
                Ok(false) => {
                    let message = format!("not applicable: `{}` does not hold", when.source);
                    return result(
                        Outcome::NotApplicable,
                        Some(message),
                        when.span,
                        Vec::new(),
                        None,
                    );
                }
                Err(u) => {
                    let message =
                        format!("cannot decide whether the rule applies: {}", u.describe());
                    return result(Outcome::Error, Some(message), u.span, Vec::new(), Some(*u));
                }
            }
        }
        let mut requirements = Vec::with_capacity(rule.requires.len());
        for req in &rule.requires {
            requirements.push(match self.eval_bool(&req.node) {
                Ok(true) => RequirementResult {
                    outcome: Outcome::Pass,
                    message: None,
                    span: req.node.span,
                    undecided: None,
                },
                Ok(false) => RequirementResult {
                    outcome: Outcome::Fail,
                    message: Some(self.message(req)),
                    span: req.node.span,
                    undecided: None,
                },
                Err(u) => RequirementResult {
                    outcome: Outcome::Error,
                    message: Some(format!("cannot decide `{}`: {}", req.source, u.describe())),
                    span: u.span,
                    undecided: Some(*u),
                },
            });
        }
        let failing: Vec<&RequirementResult> = requirements
            .iter()
            .filter(|r| r.outcome == Outcome::Fail)
            .collect();
        if let Some(first) = failing.first() {
            let message = failing
                .iter()
                .filter_map(|r| r.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            let span = first.span;
            return result(Outcome::Fail, Some(message), span, requirements, None);
        }
        if let Some(err) = requirements.iter().find(|r| r.outcome == Outcome::Error) {
            let (message, span, undecided) = (err.message.clone(), err.span, err.undecided.clone());
            return result(Outcome::Error, message, span, requirements, undecided);
        }
        result(Outcome::Pass, None, rule.span, requirements, None)
    }

    fn notes(&mut self, rule: &Rule) -> Vec<String> {
        let mut notes = Vec::new();
        for &f in &rule.facts {
            // Reading the fact here settles whether its default applies.
            let _ = self.fact(f, rule.span);
            if self.fact_defaulted[f as usize] {
                let fact = &self.program.facts[f as usize];
                let shown = match &self.facts[f as usize] {
                    Some(Ok(v)) => self.display(v),
                    _ => "its default".to_string(),
                };
                notes.push(format!(
                    "fact `{}` is absent from the snapshot; assumed the default {shown}",
                    fact.dotted
                ));
            }
        }
        notes
    }

    /// The requirement's message: its template rendered, or a plain sentence.
    fn message(&mut self, req: &'a Requirement) -> String {
        let Some(parts) = &req.message else {
            return format!("requirement `{}` does not hold", req.source);
        };
        let mut out = String::new();
        for part in parts {
            match part {
                MessagePart::Text(t) => out.push_str(t),
                MessagePart::Expr(n) => match self.eval(n) {
                    Ok(v) => out.push_str(&self.display(&v)),
                    Err(u) => out.push_str(&format!("<unknown: {}>", u.describe())),
                },
            }
        }
        out
    }

    /// A value as messages show it.
    pub fn display(&self, value: &Value<'a>) -> String {
        let services = &self.snapshot.services;
        value::Display {
            value,
            service_name: |i: u32| services.service(i).name(),
            nested: false,
        }
        .to_string()
    }

    fn service(&self, index: u32) -> ServiceRef<'a> {
        self.snapshot.services.service(index)
    }

    fn record_read(
        &mut self,
        path: impl FnOnce() -> (String, String),
        value: &Value<'a>,
        span: Span,
    ) {
        if self.trace.is_some() {
            let (path, pointer) = path();
            let shown = self.display(value);
            let at = self.snapshot.line_col(&pointer);
            if let Some(trace) = &mut self.trace {
                trace.push(Read {
                    path,
                    pointer,
                    value: shown,
                    span,
                    line: at.map(|(l, _)| l),
                    column: at.map(|(_, c)| c),
                });
            }
        }
    }

    // ------------------------------------------------------------ the interpreter

    pub fn eval(&mut self, node: &'a Node) -> Eval<'a> {
        match &node.kind {
            NodeKind::Hoisted { index, node } => return self.hoisted(*index, node),
            NodeKind::Tested { node, .. } => return self.eval(node),
            _ => {}
        }
        self.enter(node.span)?;
        let result = self.eval_inner(node);
        self.depth -= 1;
        if self.explain.is_some() {
            self.record_step(node.span, &result);
        }
        result
    }

    /// Charges `work` more steps for an operation that does that much at once (walking a list,
    /// building a string, searching the service graph), so that the budget bounds the time a
    /// rule takes, not only the number of expressions it visits.
    #[inline]
    fn charge(&mut self, work: usize, span: Span) -> Result<(), Box<Undecided>> {
        self.steps = self
            .steps
            .saturating_add(u64::try_from(work).unwrap_or(u64::MAX));
        if self.steps > MAX_STEPS {
            return Err(too_many_steps(span));
        }
        Ok(())
    }

    /// Charges the work the service graph did since the last charge.
    fn charge_graph(&mut self, span: Span) -> Result<(), Box<Undecided>> {
        let work = std::mem::take(&mut self.graph.work);
        self.charge(work, span)
    }

    fn record_step(&mut self, span: Span, result: &Eval<'a>) {
        let value = match result {
            Ok(v) => Ok(self.display(v)),
            Err(u) => Err(u.describe()),
        };
        if let Some(steps) = &mut self.explain {
            steps.push(Step { span, value });
        }
    }

    fn eval_bool(&mut self, node: &'a Node) -> Result<bool, Box<Undecided>> {
        if let NodeKind::Tested { test, node: body } = &node.kind {
            if self.explain.is_none() && self.trace.is_none() {
                self.charge(1, node.span)?;
                if let Some(holds) = self.run_test(test, Bound::NONE) {
                    return Ok(holds);
                }
            }
            // Explaining, tracing, or data the test cannot read: as written.
            return self.eval_bool(body);
        }
        if self.explain.is_none() {
            if let Some(decided) = self.fast_bool(node) {
                return decided;
            }
        }
        match self.eval(node)? {
            Value::Bool(b) => Ok(b),
            _ => Err(Box::new(Undecided {
                kind: UndecidedKind::Runtime {
                    message: "expected a boolean".to_string(),
                },
                span: node.span,
            })),
        }
    }

    /// Counts a step and a level of nesting, or stops at the limits.
    #[inline]
    fn enter(&mut self, span: Span) -> Result<(), Box<Undecided>> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(too_many_steps(span));
        }
        if self.depth >= MAX_DEPTH {
            return Err(too_deep(span));
        }
        self.depth += 1;
        Ok(())
    }

    fn eval_int(&mut self, node: &'a Node) -> Result<i64, Box<Undecided>> {
        match self.eval(node)? {
            Value::Int(i) => Ok(i),
            _ => Err(Box::new(Undecided {
                kind: UndecidedKind::Runtime {
                    message: "expected an integer".to_string(),
                },
                span: node.span,
            })),
        }
    }

    fn eval_list(&mut self, node: &'a Node) -> Result<Rc<[Value<'a>]>, Box<Undecided>> {
        match self.eval(node)? {
            Value::List(items) => Ok(items),
            _ => Err(Box::new(Undecided {
                kind: UndecidedKind::Runtime {
                    message: "expected a list".to_string(),
                },
                span: node.span,
            })),
        }
    }

    fn eval_service(&mut self, node: &'a Node) -> Result<u32, Box<Undecided>> {
        // The loop variable of `all s in services: s is running`, read without a detour.
        if let NodeKind::Local(slot) = node.kind {
            if self.explain.is_none() {
                if let Some(Value::Service(i)) = self.locals.get(self.frame + slot as usize) {
                    return Ok(*i);
                }
            }
        }
        match self.eval(node)? {
            Value::Service(i) => Ok(i),
            Value::Str(name) => match self.snapshot.services.get(name.as_str()) {
                Some(i) => Ok(i),
                None => Err(Box::new(Undecided {
                    kind: UndecidedKind::MissingService {
                        name: name.as_str().to_string(),
                    },
                    span: node.span,
                })),
            },
            _ => Err(Box::new(Undecided {
                kind: UndecidedKind::Runtime {
                    message: "expected a service".to_string(),
                },
                span: node.span,
            })),
        }
    }

    fn eval_inner(&mut self, node: &'a Node) -> Eval<'a> {
        let span = node.span;
        match &node.kind {
            NodeKind::Bool(b) => Ok(Value::Bool(*b)),
            NodeKind::Int(i) => Ok(Value::Int(*i)),
            NodeKind::Str(s) => Ok(Value::str(s)),
            NodeKind::Local(slot) => Ok(self.locals[self.frame + *slot as usize].clone()),
            NodeKind::Global(g) => self.global(*g),
            NodeKind::Fact(f) => self.fact(*f, span),
            NodeKind::Services => {
                if let Some(services) = &self.services {
                    return Ok(services.clone());
                }
                let n = self.snapshot.services.len();
                self.charge(n, span)?;
                let services = Value::list(
                    (0..n)
                        .map(|i| Value::Service(u32::try_from(i).unwrap_or(u32::MAX)))
                        .collect(),
                );
                self.services = Some(services.clone());
                Ok(services)
            }
            NodeKind::Host(field) => {
                let host = &self.snapshot.snapshot.host;
                let (value, name) = match field {
                    HostField::Name => (Some(&host.name), "name"),
                    HostField::Os => (host.os.as_ref(), "os"),
                    HostField::Domain => (host.domain.as_ref(), "domain"),
                };
                match value {
                    Some(v) => Ok(Value::str(v)),
                    None => undecided(
                        UndecidedKind::MissingFact {
                            path: format!("host.{name}"),
                            pointer: format!("/host/{name}"),
                        },
                        span,
                    ),
                }
            }
            NodeKind::ServiceNamed(id) => match self.named_service(*id) {
                Some(i) => Ok(Value::Service(i)),
                None => undecided(
                    UndecidedKind::MissingService {
                        name: self.program.service_names[*id as usize].to_string(),
                    },
                    span,
                ),
            },
            NodeKind::Field {
                base,
                index,
                project,
            } => {
                let base = self.eval(base)?;
                let field = |v: &Value<'a>| match v {
                    Value::Record(r) => r.values.get(*index as usize).cloned().ok_or(()),
                    _ => Err(()),
                };
                let wrong = || runtime("field access on a value that is not a record", span);
                if *project {
                    let items = base
                        .as_list()
                        .ok_or(())
                        .or_else(|_| wrong().map(|_| &[][..]))?;
                    self.charge(items.len(), span)?;
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(field(item).or_else(|_| wrong())?);
                    }
                    Ok(Value::list(out))
                } else {
                    field(&base).or_else(|_| wrong())
                }
            }
            NodeKind::ServiceField {
                base,
                field,
                project,
            } => {
                let base = self.eval(base)?;
                if *project {
                    let items = base.as_list().unwrap_or(&[]);
                    self.charge(items.len(), span)?;
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        let Value::Service(i) = item else {
                            return runtime("expected a service", span);
                        };
                        out.push(self.service_field(*i, *field, span)?);
                    }
                    return Ok(Value::list(out));
                }
                match base {
                    Value::Service(i) => self.service_field(i, *field, span),
                    _ => runtime("expected a service", span),
                }
            }
            NodeKind::Is {
                base,
                predicate,
                negated,
            } => {
                let i = self.eval_service(base)?;
                if self.trace.is_none() {
                    // Compared as enums; the general path below also records the read.
                    let svc = self.service(i);
                    let known = match predicate {
                        Predicate::State(s) => svc.state().map(|actual| actual == *s),
                        Predicate::StartType(t) => svc.start_type().map(|actual| actual == *t),
                    };
                    if let Some(holds) = known {
                        return Ok(Value::Bool(holds != *negated));
                    }
                }
                let holds = match predicate {
                    Predicate::State(s) => {
                        let state = self.service_field(i, ServiceField::State, span)?;
                        state.as_str() == Some(s.as_str())
                    }
                    Predicate::StartType(t) => {
                        let start = self.service_field(i, ServiceField::StartType, span)?;
                        start.as_str() == Some(t.as_str())
                    }
                };
                Ok(Value::Bool(holds != *negated))
            }
            NodeKind::Not(inner) => Ok(Value::Bool(!self.eval_bool(inner)?)),
            NodeKind::Neg(inner) => {
                let i = self.eval_int(inner)?;
                i.checked_neg()
                    .map(Value::Int)
                    .map_or_else(|| runtime(format!("-({i}) overflows"), span), Ok)
            }
            NodeKind::And(operands) => {
                // A false operand decides, even after an undecided one.
                let mut pending = None;
                for operand in operands {
                    match self.eval_bool(operand) {
                        Ok(false) => return Ok(Value::Bool(false)),
                        Ok(true) => {}
                        Err(u) => {
                            pending.get_or_insert(u);
                        }
                    }
                }
                pending.map_or(Ok(Value::Bool(true)), Err)
            }
            NodeKind::Or(operands) => {
                let mut pending = None;
                for operand in operands {
                    match self.eval_bool(operand) {
                        Ok(true) => return Ok(Value::Bool(true)),
                        Ok(false) => {}
                        Err(u) => {
                            pending.get_or_insert(u);
                        }
                    }
                }
                pending.map_or(Ok(Value::Bool(false)), Err)
            }
            NodeKind::Implies(a, b) => match self.eval_bool(a) {
                Ok(false) => Ok(Value::Bool(true)),
                Ok(true) => Ok(Value::Bool(self.eval_bool(b)?)),
                Err(u) => match self.eval_bool(b) {
                    Ok(true) => Ok(Value::Bool(true)),
                    _ => Err(u),
                },
            },
            NodeKind::Compare(cmp, l, r) => {
                let l = self.eval(l)?;
                let r = self.eval(r)?;
                self.charge(weight(&l).min(weight(&r)), span)?;
                let result = match cmp {
                    Compare::Eq => l.equals(&r),
                    Compare::Ne => !l.equals(&r),
                    ordered => {
                        let ordering = match (&l, &r) {
                            (Value::Int(a), Value::Int(b)) => a.cmp(b),
                            (Value::Str(a), Value::Str(b)) => a.as_str().cmp(b.as_str()),
                            _ => return runtime("only numbers and strings can be ordered", span),
                        };
                        ordered.holds(ordering)
                    }
                };
                Ok(Value::Bool(result))
            }
            NodeKind::In {
                kind,
                needle,
                haystack,
                negated,
            } => {
                let needle = self.eval(needle)?;
                let haystack = self.eval(haystack)?;
                self.charge(weight(&haystack), span)?;
                let found = match (kind, &haystack) {
                    (Membership::List, Value::List(items)) => match needle.as_str() {
                        // The usual case (a name in a list of names), without the general
                        // comparison's dispatch on both sides.
                        Some(wanted) => items.iter().any(|v| v.as_str() == Some(wanted)),
                        None => items.iter().any(|v| v.equals(&needle)),
                    },
                    (Membership::Range, Value::Range(lo, hi)) => {
                        needle.as_int().is_some_and(|n| *lo <= n && n <= *hi)
                    }
                    (Membership::Substring, Value::Str(s)) => {
                        needle.as_str().is_some_and(|n| s.as_str().contains(n))
                    }
                    _ => return runtime("`in` needs a list, range or string", span),
                };
                Ok(Value::Bool(found != *negated))
            }
            NodeKind::DependsOn {
                service,
                on,
                direct,
            } => {
                let from = self.eval_service(service)?;
                let target = match self.eval(on)? {
                    Value::Service(i) => graph::Target::Service(i),
                    Value::Str(s) => match self.snapshot.services.get(s.as_str()) {
                        Some(i) => graph::Target::Service(i),
                        None => graph::Target::Name(s.as_str().to_ascii_lowercase()),
                    },
                    _ => return runtime("expected a service", span),
                };
                let result = if *direct {
                    self.graph.depends_directly(from, &target)
                } else {
                    self.graph.depends_transitively(from, &target)
                };
                self.charge_graph(span)?;
                result
                    .map(Value::Bool)
                    .map_err(|missing| self.missing_depends_on(missing, span))
            }
            NodeKind::RunsAs(svc, account) => {
                let i = self.eval_service(svc)?;
                let actual = self.service_field(i, ServiceField::Account, span)?;
                let wanted = self.eval(account)?;
                let same = match (actual.as_str(), wanted.as_str()) {
                    (Some(a), Some(w)) => same_account(a, w),
                    _ => false,
                };
                Ok(Value::Bool(same))
            }
            NodeKind::Range {
                low,
                high,
                inclusive,
            } => {
                let lo = self.eval_int(low)?;
                let hi = self.eval_int(high)?;
                let hi = if *inclusive {
                    hi
                } else {
                    match hi.checked_sub(1) {
                        Some(h) => h,
                        None => return Ok(Value::Range(1, 0)),
                    }
                };
                Ok(Value::Range(lo, hi))
            }
            NodeKind::Arith(op, l, r) => self.arith(*op, l, r, span),
            NodeKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item)?);
                }
                Ok(Value::list(out))
            }
            NodeKind::Record { fields, values } => {
                let mut out = Vec::with_capacity(values.len());
                for v in values {
                    out.push(self.eval(v)?);
                }
                Ok(Value::Record(Rc::new(RecordValue {
                    fields: &fields[..],
                    values: out,
                })))
            }
            NodeKind::Comprehension {
                slot,
                source,
                filter,
                element,
            } => {
                let items = self.eval_list(source)?;
                if let Some(selected) = self.select(source, filter.as_deref(), *slot) {
                    // The filter decided for every service at once: only the chosen ones run.
                    self.charge(items.len(), span)?;
                    if matches!(element.kind, NodeKind::Local(s) if s == *slot) {
                        // `[s for s in services if …]`, built in place: one allocation.
                        return Ok(Value::List(
                            selected.into_iter().map(Value::Service).collect(),
                        ));
                    }
                    let mut out = Vec::with_capacity(selected.len());
                    for service in selected {
                        self.locals[self.frame + *slot as usize] = Value::Service(service);
                        out.push(self.eval(element)?);
                    }
                    return Ok(Value::list(out));
                }
                let mut out = Vec::new();
                for item in items.iter() {
                    self.locals[self.frame + *slot as usize] = item.clone();
                    if let Some(filter) = filter {
                        if !self.eval_bool(filter)? {
                            continue;
                        }
                    }
                    out.push(self.eval(element)?);
                }
                Ok(Value::list(out))
            }
            NodeKind::Quantifier {
                kind,
                slot,
                source,
                body,
            } => self.quantifier(*kind, *slot, source, body),
            NodeKind::Builtin(b, args) => self.builtin(*b, args, span),
            // Evaluated by `eval` before it gets here.
            NodeKind::Hoisted { node, .. } | NodeKind::Tested { node, .. } => self.eval(node),
            NodeKind::Call(f, args) => self.call(*f, args),
        }
    }

    /// A call of a function of the pack. A function of one service is pure, so its result is
    /// kept per service: `is_exchange(s)` is computed once per service and host, however many
    /// definitions ask (when explaining, every call is shown as it happens).
    fn call(&mut self, f: u32, args: &'a [Node]) -> Eval<'a> {
        let ([arg], None) = (args, &self.explain) else {
            return self.call_with(f, args, None);
        };
        let service = match self.eval(arg)? {
            Value::Service(i) => i,
            other => return self.call_with(f, args, Some(other)),
        };
        let known = self
            .calls
            .get(f as usize)
            .and_then(|m| m.get(service as usize));
        if let Some(Some(cached)) = known {
            return cached.clone();
        }
        let result = self.call_with(f, args, Some(Value::Service(service)));
        if cacheable(&result) {
            if self.calls.is_empty() {
                self.calls.resize(self.program.functions.len(), Vec::new());
            }
            let services = self.snapshot.services.len();
            if let Some(memo) = self.calls.get_mut(f as usize) {
                if memo.is_empty() {
                    memo.resize(services, None);
                }
                if let Some(slot) = memo.get_mut(service as usize) {
                    *slot = Some(result.clone());
                }
            }
        }
        result
    }

    /// Calls function `f`; `first` is the value of its only argument when already computed.
    fn call_with(&mut self, f: u32, args: &'a [Node], first: Option<Value<'a>>) -> Eval<'a> {
        let function = &self.program.functions[f as usize];
        // The arguments go straight into the callee's frame, above the caller's.
        let base = self.locals.len();
        let rest = match first {
            Some(value) => {
                self.locals.push(value);
                args.get(1..).unwrap_or_default()
            }
            None => args,
        };
        for arg in rest {
            match self.eval(arg) {
                Ok(value) => self.locals.push(value),
                Err(u) => {
                    self.locals.truncate(base);
                    return Err(u);
                }
            }
        }
        let saved = self.frame;
        self.locals
            .resize(base + function.body.slots as usize, Value::Bool(false));
        self.frame = base;
        let result = self.eval(&function.body.node);
        self.frame = saved;
        self.locals.truncate(base);
        result
    }

    /// The services a filter over `services` keeps, decided a column at a time (see
    /// `columns`), when it compiled and no service's answer is unknown.
    fn select(
        &mut self,
        source: &'a Node,
        filter: Option<&'a Node>,
        slot: u32,
    ) -> Option<Vec<u32>> {
        let (NodeKind::Services, Some(NodeKind::Tested { test, .. }), None, None) = (
            &source.kind,
            filter.map(|f| &f.kind),
            &self.explain,
            &self.trace,
        ) else {
            return None;
        };
        let span = filter.map_or(source.span, |f| f.span);
        let column = self.column(test, slot, span).filter(|c| !c.has_unknown())?;
        let mut members = Vec::with_capacity(column.count() as usize);
        members.extend(column.members());
        Some(members)
    }

    /// The strings of list `g`, indexed for [`ServiceTest::InGlobal`] the first time a test
    /// looks an item up in them one by one (a loop over `services` finds them through the
    /// service index instead); `None` until the list is computed.
    fn lookup(&self, g: u32) -> Option<&Lookup> {
        let Some(Ok(Value::List(items))) = self.globals.get(g as usize)? else {
            return None;
        };
        Some(self.lookups.get(g as usize)?.get_or_init(|| {
            let mut strings = Lookup::with_capacity_and_hasher(items.len(), Default::default());
            strings.extend(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(|s| LookupKey(smol_str::SmolStr::new(s)))),
            );
            strings
        }))
    }

    fn quantifier(
        &mut self,
        kind: Quantifier,
        slot: u32,
        source: &'a Node,
        body: &'a Node,
    ) -> Eval<'a> {
        let items = self.eval_list(source)?;
        let mut tally = Tally {
            kind,
            count: 0,
            pending: None,
        };
        if let (NodeKind::Tested { test, node }, None, None) =
            (&body.kind, &self.explain, &self.trace)
        {
            if matches!(source.kind, NodeKind::Services) {
                if let Some(column) = self
                    .column(test, slot, body.span)
                    .filter(|c| !c.has_unknown())
                {
                    self.charge(items.len(), body.span)?;
                    let holding = column.count() as usize;
                    return Ok(match kind {
                        Quantifier::All => Value::Bool(holding == items.len()),
                        Quantifier::Any => Value::Bool(holding > 0),
                        Quantifier::None => Value::Bool(holding == 0),
                        Quantifier::Count => Value::Int(i64::from(column.count())),
                    });
                }
            }
            // A compiled body runs here directly, item after item, with the loop variable
            // handed to it rather than stored (what `eval_bool` would do, without its detours).
            // One step per item, charged up front.
            self.charge(items.len(), body.span)?;
            for item in items.iter() {
                let decided = match item {
                    Value::Service(service) => self.run_test(
                        test,
                        Bound {
                            slot,
                            service: *service,
                        },
                    ),
                    _ => None,
                };
                let holds = match decided {
                    Some(holds) => Ok(holds),
                    None => {
                        self.locals[self.frame + slot as usize] = item.clone();
                        self.eval_bool(node)
                    }
                };
                if let Some(done) = tally.add(holds) {
                    return done;
                }
            }
            return tally.finish();
        }
        for item in items.iter() {
            self.locals[self.frame + slot as usize] = item.clone();
            let holds = self.eval_bool(body);
            if let Some(done) = tally.add(holds) {
                return done;
            }
        }
        tally.finish()
    }

    fn arith(&mut self, op: Arith, l: &'a Node, r: &'a Node, span: Span) -> Eval<'a> {
        if op == Arith::Concat {
            let l = self.eval(l)?;
            let r = self.eval(r)?;
            let (l, r) = (l.as_str().unwrap_or(""), r.as_str().unwrap_or(""));
            self.charge((l.len() + r.len()) / BYTES_PER_STEP, span)?;
            let mut joined = SmolStrBuilder::new();
            joined.push_str(l);
            joined.push_str(r);
            return Ok(Value::owned_str(joined.finish()));
        }
        let a = self.eval_int(l)?;
        let b = self.eval_int(r)?;
        let (result, symbol) = match op {
            Arith::Add => (a.checked_add(b), "+"),
            Arith::Sub => (a.checked_sub(b), "-"),
            Arith::Mul => (a.checked_mul(b), "*"),
            Arith::Div if b == 0 => return runtime(format!("{a} / 0: division by zero"), span),
            Arith::Div => (a.checked_div(b), "/"),
            Arith::Mod if b == 0 => return runtime(format!("{a} % 0: division by zero"), span),
            _ => (a.checked_rem(b), "%"),
        };
        result
            .map(Value::Int)
            .map_or_else(|| runtime(format!("{a} {symbol} {b} overflows"), span), Ok)
    }

    /// A host-invariant expression: computed once, then read from the cache. When explaining,
    /// it is computed every time, so that every evaluation shows as written.
    fn hoisted(&mut self, index: u32, node: &'a Node) -> Eval<'a> {
        if self.explain.is_some() {
            return self.eval(node);
        }
        if let Some(cached) = &self.hoisted[index as usize] {
            return cached.clone();
        }
        let result = self.eval(node);
        if cacheable(&result) {
            self.hoisted[index as usize] = Some(result.clone());
        }
        result
    }

    fn global(&mut self, g: u32) -> Eval<'a> {
        if let Some(cached) = &self.globals[g as usize] {
            return cached.clone();
        }
        let def = &self.program.globals[g as usize];
        let saved = self.frame;
        let base = self.locals.len();
        self.locals
            .resize(base + def.body.slots as usize, Value::Bool(false));
        self.frame = base;
        let result = self.eval(&def.body.node);
        self.frame = saved;
        self.locals.truncate(base);
        if cacheable(&result) {
            if def.looked_up && self.lookups.is_empty() {
                self.lookups
                    .resize_with(self.program.globals.len(), Default::default);
            }
            self.globals[g as usize] = Some(result.clone());
        }
        result
    }

    // ------------------------------------------------------------ services

    fn service_field(&mut self, i: u32, field: ServiceField, span: Span) -> Eval<'a> {
        let svc = self.service(i);
        let missing = || {
            undecided(
                UndecidedKind::MissingServiceField {
                    service: svc.name().to_string(),
                    field: field.json_name(),
                    pointer: format!("/services/{i}/{}", field.json_name()),
                },
                span,
            )
        };
        let value = match field {
            ServiceField::Name
            | ServiceField::DisplayName
            | ServiceField::State
            | ServiceField::StartType
            | ServiceField::Account => match shortcuts::field_text(svc, field) {
                Some(text) => Value::str(text),
                None => return missing(),
            },
            ServiceField::DependsOn => match svc.depends_on() {
                Some(deps) => Value::list(deps.map(Value::str).collect()),
                None => return missing(),
            },
            ServiceField::MissingDependencies | ServiceField::AllDependencies => {
                self.dependency_list(i, field, span)?
            }
        };
        self.record_read(
            || {
                (
                    format!("services[{}].{}", svc.name(), field_name(field)),
                    format!("/services/{i}/{}", field.json_name()),
                )
            },
            &value,
            span,
        );
        Ok(value)
    }

    /// `all_dependencies` or `missing_dependencies` of service `i`, kept once computed.
    fn dependency_list(&mut self, i: u32, field: ServiceField, span: Span) -> Eval<'a> {
        let all = field == ServiceField::AllDependencies;
        if let Some(lists) = self.dependency_lists.get(i as usize) {
            if let Some(kept) = if all { &lists.all } else { &lists.missing } {
                return Ok(kept.clone());
            }
        }
        let names = if all {
            self.graph.all_dependencies(i, Value::str)
        } else {
            // Unknown `depends_on`: the service itself is the one to report.
            self.graph
                .missing_dependencies(i)
                .map(|names| names.map(Value::str).collect())
                .ok_or(i)
        };
        self.charge_graph(span)?;
        let value = Value::list(names.map_err(|m| self.missing_depends_on(m, span))?);
        if self.dependency_lists.is_empty() {
            self.dependency_lists = vec![DependencyLists::default(); self.snapshot.services.len()];
        }
        if let Some(lists) = self.dependency_lists.get_mut(i as usize) {
            let slot = if all {
                &mut lists.all
            } else {
                &mut lists.missing
            };
            *slot = Some(value.clone());
        }
        Ok(value)
    }

    fn missing_depends_on(&self, service: u32, span: Span) -> Box<Undecided> {
        Box::new(Undecided {
            kind: UndecidedKind::MissingServiceField {
                service: self.service(service).name().to_string(),
                field: "depends_on",
                pointer: format!("/services/{service}/depends_on"),
            },
            span,
        })
    }
}

/// A service's `all_dependencies` and `missing_dependencies`: a rule reading them for each
/// service of a comprehension often reads them twice.
#[derive(Clone, Default)]
struct DependencyLists<'a> {
    all: Option<Value<'a>>,
    missing: Option<Value<'a>>,
}

#[cold]
fn too_many_steps(span: Span) -> Box<Undecided> {
    Box::new(Undecided {
        kind: UndecidedKind::Limit {
            message: format!("evaluation took more than {MAX_STEPS} steps"),
        },
        span,
    })
}

#[cold]
fn too_deep(span: Span) -> Box<Undecided> {
    Box::new(Undecided {
        kind: UndecidedKind::Limit {
            message: format!("evaluation nested more than {MAX_DEPTH} levels deep"),
        },
        span,
    })
}

/// A quantifier's answer so far.
struct Tally {
    kind: Quantifier,
    count: i64,
    /// The first item that could not be decided; it decides unless another item does.
    pending: Option<Box<Undecided>>,
}

impl Tally {
    /// Takes one item's answer; returns the quantifier's when this item decides it.
    fn add<'a>(&mut self, holds: Result<bool, Box<Undecided>>) -> Option<Eval<'a>> {
        match (self.kind, holds) {
            (Quantifier::All, Ok(false)) => Some(Ok(Value::Bool(false))),
            (Quantifier::Any, Ok(true)) => Some(Ok(Value::Bool(true))),
            (Quantifier::None, Ok(true)) => Some(Ok(Value::Bool(false))),
            (Quantifier::Count, Ok(true)) => {
                self.count += 1;
                None
            }
            (Quantifier::Count, Err(u)) => Some(Err(u)),
            (_, Ok(_)) => None,
            (_, Err(u)) => {
                self.pending.get_or_insert(u);
                None
            }
        }
    }

    fn finish<'a>(self) -> Eval<'a> {
        if let Some(u) = self.pending {
            return Err(u);
        }
        Ok(match self.kind {
            Quantifier::All | Quantifier::None => Value::Bool(true),
            Quantifier::Any => Value::Bool(false),
            Quantifier::Count => Value::Int(self.count),
        })
    }
}

/// Limits hit while computing a definition or a hoisted expression belong to the rule that
/// asked, not to every later rule, so they are not cached.
fn cacheable(result: &Eval<'_>) -> bool {
    !matches!(result, Err(u) if matches!(u.kind, UndecidedKind::Limit { .. }))
}

/// The work of walking a value once, as [`Evaluator::charge`] counts it: its items, or its
/// bytes in steps of [`BYTES_PER_STEP`].
fn weight(value: &Value<'_>) -> usize {
    match value {
        Value::List(items) => items.len(),
        Value::Str(s) => s.as_str().len() / BYTES_PER_STEP,
        _ => 0,
    }
}

fn field_name(field: ServiceField) -> &'static str {
    ServiceField::ALL
        .iter()
        .find(|(_, f)| *f == field)
        .map_or("?", |(n, _)| n)
}
