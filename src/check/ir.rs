//! The checked program: names, fact paths and service names resolved to indices, so that
//! evaluation never looks up a string it could have resolved beforehand.

use std::sync::Arc;

use super::types::Type;
use crate::snapshot::{ServiceState, StartType};
use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub const NAMES: [&'static str; 3] = ["error", "warning", "info"];

    pub fn parse(word: &str) -> Option<Severity> {
        match word {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Everything evaluation needs, for every pack given.
#[derive(Debug, Default)]
pub struct Program {
    pub packs: Vec<PackInfo>,
    pub facts: Vec<FactDef>,
    pub globals: Vec<GlobalDef>,
    pub functions: Vec<FunctionDef>,
    /// SCM names that the policies spell out literally, as first written.
    pub service_names: Vec<Arc<str>>,
    pub rules: Vec<Rule>,
    /// Site choices (`input name: type = default`); each is read through a global whose body
    /// is the default until `crate::inputs::apply` replaces it with the value set.
    pub inputs: Vec<InputDef>,
    /// How many [`NodeKind::Hoisted`] expressions there are (each cached once per host).
    pub hoisted: u32,
}

impl Program {
    /// Calls `f` on every expression tree the program evaluates: function bodies (with the
    /// function's arity: its parameters are in scope), and definitions, fact defaults, `when`s,
    /// requirements and message templates (with `None`).
    pub fn for_each_root(&mut self, mut f: impl FnMut(&mut Node, Option<u32>)) {
        for function in &mut self.functions {
            f(&mut function.body.node, Some(function.arity));
        }
        for global in &mut self.globals {
            f(&mut global.body.node, None);
        }
        for fact in &mut self.facts {
            if let Some(default) = &mut fact.default {
                f(&mut default.node, None);
            }
        }
        for rule in &mut self.rules {
            if let Some(when) = &mut rule.when {
                f(&mut when.node, None);
            }
            for require in &mut rule.requires {
                f(&mut require.node, None);
                for part in require.message.iter_mut().flatten() {
                    if let MessagePart::Expr(node) = part {
                        f(node, None);
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct InputDef {
    pub pack: u32,
    pub name: String,
    /// `pack.name`
    pub qualified: String,
    pub ty: Type,
    /// The global that holds its value.
    pub global: u32,
    /// The input's name in its declaration.
    pub span: Span,
    /// Its default expression.
    pub default_span: Span,
}

#[derive(Debug)]
pub struct PackInfo {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug)]
pub struct FactDef {
    pub pack: u32,
    pub path: Vec<String>,
    pub dotted: String,
    pub ty: Type,
    pub default: Option<Body>,
    pub span: Span,
}

#[derive(Debug)]
pub struct GlobalDef {
    pub name: String,
    pub body: Body,
    pub span: Span,
    /// A list of strings that loop tests look items up in ([`ServiceTest::InGlobal`]): the
    /// evaluator indexes it once per host, the first time a test looks an item up in it.
    pub looked_up: bool,
}

#[derive(Debug)]
pub struct FunctionDef {
    pub name: String,
    pub arity: u32,
    pub body: Body,
    pub span: Span,
}

/// An expression with the number of local slots (comprehension variables, parameters) it uses.
#[derive(Debug)]
pub struct Body {
    pub node: Node,
    pub slots: u32,
}

#[derive(Debug)]
pub struct Rule {
    /// Qualified by the pack: `exchange2003.msearch-for-fulltext`.
    pub id: String,
    pub pack: u32,
    pub title: String,
    pub severity: Severity,
    pub controls: Vec<String>,
    pub tags: Vec<String>,
    pub help: Option<String>,
    pub docs: Option<String>,
    /// The rule's name in its declaration.
    pub span: Span,
    pub when: Option<Condition>,
    pub requires: Vec<Requirement>,
    /// Local slots needed by the rule's own expressions.
    pub slots: u32,
    /// Facts the rule may read, directly or through definitions (for "assumed default" notes).
    pub facts: Vec<u32>,
}

#[derive(Debug)]
pub struct Condition {
    pub node: Node,
    pub span: Span,
    pub source: String,
}

#[derive(Debug)]
pub struct Requirement {
    pub node: Node,
    /// The whole `require … else "…"` clause.
    pub span: Span,
    /// The expression as written, for the default message.
    pub source: String,
    pub message: Option<Vec<MessagePart>>,
}

#[derive(Debug)]
pub enum MessagePart {
    Text(String),
    Expr(Node),
}

#[derive(Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceField {
    Name,
    DisplayName,
    State,
    StartType,
    Account,
    DependsOn,
    AllDependencies,
    MissingDependencies,
}

impl ServiceField {
    /// Whether it holds one string (so a [`ServiceTest`] can compare it in place).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            ServiceField::Name
                | ServiceField::DisplayName
                | ServiceField::State
                | ServiceField::StartType
                | ServiceField::Account
        )
    }

    pub const ALL: [(&'static str, ServiceField); 8] = [
        ("name", ServiceField::Name),
        ("display_name", ServiceField::DisplayName),
        ("state", ServiceField::State),
        ("start_type", ServiceField::StartType),
        ("account", ServiceField::Account),
        ("depends_on", ServiceField::DependsOn),
        ("all_dependencies", ServiceField::AllDependencies),
        ("missing_dependencies", ServiceField::MissingDependencies),
    ];

    pub fn ty(self) -> Type {
        match self {
            ServiceField::DependsOn
            | ServiceField::AllDependencies
            | ServiceField::MissingDependencies => Type::list(Type::Str),
            _ => Type::Str,
        }
    }

    /// The snapshot field this reads.
    pub fn json_name(self) -> &'static str {
        match self {
            ServiceField::Name => "name",
            ServiceField::DisplayName => "display_name",
            ServiceField::State => "state",
            ServiceField::StartType => "start_type",
            ServiceField::Account => "account",
            ServiceField::DependsOn
            | ServiceField::AllDependencies
            | ServiceField::MissingDependencies => "depends_on",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostField {
    Name,
    Os,
    Domain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Predicate {
    State(ServiceState),
    StartType(StartType),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Compare {
    /// Whether the comparison holds between two values that order as `ordering` says.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        match self {
            Compare::Eq => ordering.is_eq(),
            Compare::Ne => ordering.is_ne(),
            Compare::Lt => ordering.is_lt(),
            Compare::Le => ordering.is_le(),
            Compare::Gt => ordering.is_gt(),
            Compare::Ge => ordering.is_ge(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    All,
    Any,
    None,
    Count,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// An element of a list.
    List,
    /// An integer in a range.
    Range,
    /// A substring.
    Substring,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Service,
    HasService,
    Lower,
    Upper,
    Len,
    StartsWith,
    EndsWith,
    Contains,
    Join,
    Sort,
    Unique,
    Flatten,
    Min,
    Max,
    Sum,
    DependencyCycles,
    Str,
}

#[derive(Debug)]
pub enum NodeKind {
    Bool(bool),
    Int(i64),
    Str(Arc<str>),
    /// A comprehension variable or parameter, relative to the current frame.
    Local(u32),
    Global(u32),
    Fact(u32),
    Services,
    Host(HostField),
    /// `service("MSSEARCH")`: an index into [`Program::service_names`].
    ServiceNamed(u32),
    Field {
        base: Box<Node>,
        index: u32,
        /// Applied to each element of a list of records.
        project: bool,
    },
    ServiceField {
        base: Box<Node>,
        field: ServiceField,
        project: bool,
    },
    Is {
        base: Box<Node>,
        predicate: Predicate,
        negated: bool,
    },
    Not(Box<Node>),
    Neg(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    Implies(Box<Node>, Box<Node>),
    Compare(Compare, Box<Node>, Box<Node>),
    In {
        kind: Membership,
        needle: Box<Node>,
        haystack: Box<Node>,
        negated: bool,
    },
    DependsOn {
        service: Box<Node>,
        on: Box<Node>,
        direct: bool,
    },
    RunsAs(Box<Node>, Box<Node>),
    Range {
        low: Box<Node>,
        high: Box<Node>,
        inclusive: bool,
    },
    Arith(Arith, Box<Node>, Box<Node>),
    List(Vec<Node>),
    /// Field values in the record type's (sorted) order.
    Record {
        fields: Arc<[(String, Type)]>,
        values: Vec<Node>,
    },
    Comprehension {
        slot: u32,
        source: Box<Node>,
        filter: Option<Box<Node>>,
        element: Box<Node>,
    },
    Quantifier {
        kind: Quantifier,
        slot: u32,
        source: Box<Node>,
        body: Box<Node>,
    },
    Builtin(Builtin, Vec<Node>),
    Call(u32, Vec<Node>),
    /// An expression inside a loop or function that reads none of its variables, so it is
    /// computed once per host (see `check::hoist`); `index` is its place in that cache.
    Hoisted {
        index: u32,
        node: Box<Node>,
    },
    /// The body or filter of a loop (`node`), also compiled to a [`ServiceTest`] that decides
    /// it without building values (see `check::service_test`).
    Tested {
        test: ServiceTest,
        node: Box<Node>,
    },
}

/// A condition on services held by loop variables: `s is running and s.name != "EventLog"`.
/// It reads nothing but the snapshot's service records, so evaluating it builds no values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceTest {
    And(Vec<ServiceTest>),
    Or(Vec<ServiceTest>),
    Not(Box<ServiceTest>),
    Is {
        slot: u32,
        predicate: Predicate,
        negated: bool,
    },
    Equal {
        left: TestText,
        right: TestText,
        negated: bool,
    },
    /// `starts_with(text, part)`, `ends_with(…)` or `contains(…)` of two strings.
    Text {
        op: TextOp,
        text: TestText,
        part: TestText,
    },
    /// `text in list` (or `not in`), the list a definition of the pack: the test reads it once
    /// the definition has been computed on this host, and leaves the item to the body before.
    InGlobal {
        text: TestText,
        global: u32,
        negated: bool,
    },
    /// `s runs as account`.
    RunsAs {
        slot: u32,
        account: TestText,
    },
    /// `count(s.missing_dependencies) > 0`, or any comparison of that count with a number
    /// that only asks whether it is zero (`negated` when it asks for none).
    HasMissingDependencies {
        slot: u32,
        negated: bool,
    },
    /// A test whose column the evaluator keeps per host, computed once for every loop that
    /// asks (see [`KeptBy`]).
    Kept {
        by: KeptBy,
        test: Box<ServiceTest>,
    },
}

/// Why a [`ServiceTest::Kept`] column is kept, and under which number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeptBy {
    /// A call of a function of one service (`is_exchange(s)`), its body's test inlined.
    Function(u32),
    /// A condition that loops over `services` in several places ask
    /// (`lower(s.name) in required_names`), numbered in the order first met.
    Repeated(u32),
}

impl ServiceTest {
    /// Whether every service it reads is the one in `slot`.
    pub fn reads_only(&self, slot: u32) -> bool {
        let text = |t: &TestText| t.slot().is_none_or(|s| s == slot);
        match self {
            ServiceTest::And(tests) | ServiceTest::Or(tests) => {
                tests.iter().all(|t| t.reads_only(slot))
            }
            ServiceTest::Not(t) => t.reads_only(slot),
            ServiceTest::Is { slot: s, .. }
            | ServiceTest::HasMissingDependencies { slot: s, .. } => *s == slot,
            ServiceTest::Equal { left, right, .. } => text(left) && text(right),
            ServiceTest::Text { text: t, part, .. } => text(t) && text(part),
            ServiceTest::InGlobal { text: t, .. } => text(t),
            ServiceTest::RunsAs { slot: s, account } => *s == slot && text(account),
            ServiceTest::Kept { test, .. } => test.reads_only(slot),
        }
    }

    /// Adds the globals it looks strings up in to `out`.
    pub fn globals_looked_up(&self, out: &mut Vec<u32>) {
        match self {
            ServiceTest::And(tests) | ServiceTest::Or(tests) => {
                tests.iter().for_each(|t| t.globals_looked_up(out));
            }
            ServiceTest::Not(t) | ServiceTest::Kept { test: t, .. } => {
                t.globals_looked_up(out);
            }
            ServiceTest::InGlobal { global, .. } => out.push(*global),
            _ => {}
        }
    }

    /// Makes every service it reads the one in `slot`: a function's test (on its parameter)
    /// inlined where a loop calls it with its variable.
    pub fn rebind(&mut self, slot: u32) {
        let text = |t: &mut TestText| match t {
            TestText::Literal(_) => {}
            TestText::Field { slot: s, .. } | TestText::Cased { slot: s, .. } => *s = slot,
        };
        match self {
            ServiceTest::And(tests) | ServiceTest::Or(tests) => {
                tests.iter_mut().for_each(|t| t.rebind(slot));
            }
            ServiceTest::Not(t) => t.rebind(slot),
            ServiceTest::Is { slot: s, .. }
            | ServiceTest::HasMissingDependencies { slot: s, .. } => {
                *s = slot;
            }
            ServiceTest::Equal { left, right, .. } => {
                text(left);
                text(right);
            }
            ServiceTest::Text { text: t, part, .. } => {
                text(t);
                text(part);
            }
            ServiceTest::InGlobal { text: t, .. } => text(t),
            ServiceTest::RunsAs { slot: s, account } => {
                *s = slot;
                text(account);
            }
            ServiceTest::Kept { test, .. } => test.rebind(slot),
        }
    }
}

/// A string a [`ServiceTest`] compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TestText {
    Literal(Arc<str>),
    /// `name`, `display_name` or `account` of the service in a local slot.
    Field {
        slot: u32,
        field: ServiceField,
    },
    /// `lower(…)` (or `upper(…)`) of such a field.
    Cased {
        slot: u32,
        field: ServiceField,
        upper: bool,
    },
}

impl TestText {
    /// The loop variable it reads, if any.
    pub fn slot(&self) -> Option<u32> {
        match self {
            TestText::Literal(_) => None,
            TestText::Field { slot, .. } | TestText::Cased { slot, .. } => Some(*slot),
        }
    }
}

/// The literal of `s.name == "literal"` (either way round): a test the service index answers.
pub fn literal_service_name<'t>(left: &'t TestText, right: &'t TestText) -> Option<&'t str> {
    match (left, right) {
        (TestText::Literal(s), TestText::Field { field, .. })
        | (TestText::Field { field, .. }, TestText::Literal(s))
            if *field == ServiceField::Name =>
        {
            Some(s)
        }
        _ => None,
    }
}

/// The string builtins a [`ServiceTest`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextOp {
    StartsWith,
    EndsWith,
    Contains,
}
