//! Static checking: resolves every name, fact path and service name, checks types, and lowers
//! the AST to the [`ir::Program`] that evaluation runs. Every problem is reported in one run.

mod builtins;
mod expr;
mod hoist;
pub mod ir;
mod order;
mod service_test;
pub mod types;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::diag::{Diag, did_you_mean};

use crate::source::{SourceMap, Span};
use crate::syntax::ast::{self, ClauseKind, Expr, ExprKind, TypeExpr, TypeExprKind};
use ir::*;
use types::Type;

pub mod codes {
    pub const UNKNOWN_NAME: &str = "expolicy::check::unknown_name";
    pub const UNKNOWN_FIELD: &str = "expolicy::check::unknown_field";
    pub const UNDECLARED_FACT: &str = "expolicy::check::undeclared_fact";
    pub const UNKNOWN_FUNCTION: &str = "expolicy::check::unknown_function";
    pub const UNKNOWN_TYPE: &str = "expolicy::check::unknown_type";
    pub const UNKNOWN_PREDICATE: &str = "expolicy::check::unknown_predicate";
    pub const UNKNOWN_SEVERITY: &str = "expolicy::check::unknown_severity";
    pub const TYPE_MISMATCH: &str = "expolicy::check::type_mismatch";
    pub const WRONG_ARGUMENTS: &str = "expolicy::check::wrong_arguments";
    pub const DUPLICATE_DEFINITION: &str = "expolicy::check::duplicate_definition";
    pub const DUPLICATE_RULE: &str = "expolicy::check::duplicate_rule";
    pub const DUPLICATE_CLAUSE: &str = "expolicy::check::duplicate_clause";
    pub const DUPLICATE_FIELD: &str = "expolicy::check::duplicate_field";
    pub const MISSING_REQUIRE: &str = "expolicy::check::missing_require";
    pub const RECURSIVE_DEFINITION: &str = "expolicy::check::recursive_definition";
    pub const NOT_CONSTANT: &str = "expolicy::check::not_constant";
    pub const PACK_MISMATCH: &str = "expolicy::check::pack_mismatch";
    pub const FACT_CONFLICT: &str = "expolicy::check::fact_conflict";
    pub const UNUSED_DEFINITION: &str = "expolicy::check::unused_definition";
    pub const UNUSED_FACT: &str = "expolicy::check::unused_fact";
    pub const NEVER_HOLDS: &str = "expolicy::check::never_holds";
    pub const ALWAYS_HOLDS: &str = "expolicy::check::always_holds";
    /// Every code above, for tests that check each one is exercised.
    pub const ALL: &[&str] = &[
        UNKNOWN_NAME,
        UNKNOWN_FIELD,
        UNDECLARED_FACT,
        UNKNOWN_FUNCTION,
        UNKNOWN_TYPE,
        UNKNOWN_PREDICATE,
        UNKNOWN_SEVERITY,
        TYPE_MISMATCH,
        WRONG_ARGUMENTS,
        DUPLICATE_DEFINITION,
        DUPLICATE_RULE,
        DUPLICATE_CLAUSE,
        DUPLICATE_FIELD,
        MISSING_REQUIRE,
        RECURSIVE_DEFINITION,
        NOT_CONSTANT,
        PACK_MISMATCH,
        FACT_CONFLICT,
        UNUSED_DEFINITION,
        UNUSED_FACT,
        NEVER_HOLDS,
        ALWAYS_HOLDS,
    ];
}

/// Names that the language provides; a fact path may not start with one.
const BUILTIN_NAMES: [&str; 2] = ["services", "host"];

/// The files of one pack, parsed.
#[derive(Debug)]
pub struct ParsedPack {
    pub files: Vec<ast::File>,
}

/// Checks packs. Returns the program when there are no errors, and every diagnostic (errors
/// and warnings) either way.
pub fn check(packs: &[ParsedPack], sources: &SourceMap) -> (Option<Program>, Vec<Diag>) {
    let mut checker = Checker {
        sources,
        program: Program::default(),
        diags: Vec::new(),
        service_ids: HashMap::new(),
        pack_scope: PackScope::default(),
        body: BodyScope::default(),
    };
    let mut pack_names: HashMap<String, Span> = HashMap::new();
    for pack in packs {
        let Some(first) = pack.files.first() else {
            continue;
        };
        let name = &first.pack.name;
        if let Some(&earlier) = pack_names.get(&name.node) {
            checker.diags.push(
                Diag::error(
                    codes::PACK_MISMATCH,
                    format!("pack `{}` is given twice", name.node),
                )
                .label(name.span, "this pack")
                .label(earlier, "has the same name as this one")
                .help("rule ids are qualified by the pack name, so two packs may not share one"),
            );
            continue;
        }
        pack_names.insert(name.node.clone(), name.span);
        checker.check_pack(pack);
    }
    let has_errors = checker.diags.iter().any(Diag::is_error);
    let program = (!has_errors).then(|| {
        let mut program = checker.program;
        hoist::hoist(&mut program);
        service_test::compile(&mut program);
        program
    });
    (program, checker.diags)
}

#[derive(Default)]
struct PackScope<'a> {
    index: u32,
    name: String,
    facts: Vec<u32>,
    fact_used: HashMap<u32, bool>,
    lets: HashMap<String, LetEntry<'a>>,
    /// Inputs by name: the global holding each, its type, and whether a body read it.
    inputs: HashMap<String, (u32, Type, Span, bool)>,
}

struct LetEntry<'a> {
    decl: &'a ast::LetDecl,
    state: LetState,
    used: bool,
}

#[derive(Clone)]
enum LetState {
    Unchecked,
    InProgress,
    Global {
        index: u32,
        ty: Type,
        facts: Arc<[u32]>,
    },
    Function {
        index: u32,
        params: Arc<[Type]>,
        ret: Type,
        facts: Arc<[u32]>,
    },
    Failed,
}

/// Locals and reads of the body being checked (a rule, a definition or a fact default).
#[derive(Default)]
struct BodyScope {
    locals: Vec<(String, u32, Type)>,
    next_slot: u32,
    max_slots: u32,
    facts_read: BTreeSet<u32>,
    /// Fact defaults may only be constants.
    constant_only: bool,
}

struct Checker<'a> {
    sources: &'a SourceMap,
    program: Program,
    diags: Vec<Diag>,
    service_ids: HashMap<String, u32>,
    pack_scope: PackScope<'a>,
    body: BodyScope,
}

type Checked = (Node, Type);

fn node(kind: NodeKind, span: Span) -> Node {
    Node { kind, span }
}

fn poisoned(span: Span) -> Checked {
    (node(NodeKind::Bool(false), span), Type::Error)
}

impl<'a> Checker<'a> {
    fn error(&mut self, diag: Diag) {
        self.diags.push(diag);
    }

    // ------------------------------------------------------------ declarations

    fn check_pack(&mut self, pack: &'a ParsedPack) {
        let Some(first) = pack.files.first() else {
            return;
        };
        let pack_name = first.pack.name.node.clone();
        let pack_index = u32::try_from(self.program.packs.len()).unwrap_or(u32::MAX);
        let mut description: Option<&ast::Spanned<String>> = None;
        for file in &pack.files {
            if file.pack.name.node != pack_name {
                self.error(
                    Diag::error(
                        codes::PACK_MISMATCH,
                        format!("this file belongs to pack `{}`, but its directory holds pack `{pack_name}`", file.pack.name.node),
                    )
                    .label(file.pack.name.span, "a different pack")
                    .label(first.pack.name.span, "the pack of the directory")
                    .help("every file of a pack directory starts with the same `pack` name"),
                );
                continue;
            }
            if let Some(d) = &file.pack.description {
                match description {
                    Some(earlier) if earlier.node != d.node => self.error(
                        Diag::error(
                            codes::PACK_MISMATCH,
                            "the pack is described twice, differently",
                        )
                        .label(d.span, "this description")
                        .label(earlier.span, "differs from this one")
                        .help("describe the pack in one file only"),
                    ),
                    Some(_) => {}
                    None => description = Some(d),
                }
            }
        }
        self.program.packs.push(PackInfo {
            name: pack_name.clone(),
            description: description.map(|d| d.node.clone()),
        });
        self.pack_scope = PackScope {
            index: pack_index,
            name: pack_name,
            ..PackScope::default()
        };

        let items: Vec<&'a ast::Item> = pack.files.iter().flat_map(|f| f.items.iter()).collect();
        // Inputs first, so that every use (even in a fact's default) knows them.
        for item in &items {
            if let ast::Item::Input(decl) = item {
                self.declare_input(decl);
            }
        }
        for item in &items {
            match item {
                ast::Item::Fact(fact) => self.declare_fact(fact),
                ast::Item::Input(_) => {}
                ast::Item::Let(decl) => self.declare_let(decl),
                ast::Item::Rule(_) => {}
            }
        }
        self.check_fact_prefixes();
        let names: Vec<String> = {
            let mut names: Vec<(&String, Span)> = self
                .pack_scope
                .lets
                .iter()
                .map(|(n, e)| (n, e.decl.span))
                .collect();
            names.sort_by_key(|(_, span)| (span.file, span.start));
            names.into_iter().map(|(n, _)| n.clone()).collect()
        };
        self.check_definitions_in_order(&names);
        let mut rule_ids: HashMap<&str, Span> = HashMap::new();
        for item in &items {
            if let ast::Item::Rule(rule) = item {
                if let Some(&earlier) = rule_ids.get(rule.name.node.as_str()) {
                    self.error(
                        Diag::error(
                            codes::DUPLICATE_RULE,
                            format!("rule `{}` is defined twice", rule.name.node),
                        )
                        .label(rule.name.span, "second definition")
                        .label(earlier, "first definition")
                        .help("rule ids must be unique within a pack; rename one of them"),
                    );
                    continue;
                }
                rule_ids.insert(&rule.name.node, rule.name.span);
                self.check_rule(rule);
            }
        }
        self.report_unused();
    }

    fn declare_fact(&mut self, decl: &'a ast::FactDecl) {
        let dotted = decl.path.node.join(".");
        if let Some(root) = decl.path.node.first() {
            if BUILTIN_NAMES.contains(&root.as_str()) {
                self.error(
                    Diag::error(
                        codes::FACT_CONFLICT,
                        format!("a fact may not be named under `{root}`"),
                    )
                    .label(decl.path.span, "clashes with a built-in name")
                    .help(format!(
                        "`{root}` is provided by the snapshot itself; choose another name"
                    )),
                );
                return;
            }
        }
        let existing = self
            .pack_scope
            .facts
            .iter()
            .copied()
            .find(|&f| self.program.facts[f as usize].dotted == dotted);
        if let Some(existing) = existing {
            let earlier = self.program.facts[existing as usize].span;
            self.error(
                Diag::error(
                    codes::DUPLICATE_DEFINITION,
                    format!("fact `{dotted}` is declared twice"),
                )
                .label(decl.path.span, "second declaration")
                .label(earlier, "first declaration")
                .help("declare each fact once per pack"),
            );
            return;
        }
        let ty = self.fact_type(&decl.ty);
        let default = decl.default.as_ref().map(|expr| {
            self.body = BodyScope {
                constant_only: true,
                ..BodyScope::default()
            };
            let (n, t) = self.expr(expr);
            if !t.fits(&ty) {
                self.error(mismatch(expr.span, &ty, &t, "the default of this fact"));
            }
            Body {
                node: n,
                slots: self.body.max_slots,
            }
        });
        let index = u32::try_from(self.program.facts.len()).unwrap_or(u32::MAX);
        self.program.facts.push(FactDef {
            pack: self.pack_scope.index,
            path: decl.path.node.clone(),
            dotted,
            ty,
            default,
            span: decl.path.span,
        });
        self.pack_scope.facts.push(index);
        self.pack_scope.fact_used.insert(index, false);
    }

    /// `fact a.b: int` and `fact a.b.c: str` cannot both hold.
    fn check_fact_prefixes(&mut self) {
        let facts = self.pack_scope.facts.clone();
        for &a in &facts {
            for &b in &facts {
                let (fa, fb) = (
                    &self.program.facts[a as usize],
                    &self.program.facts[b as usize],
                );
                if a != b && fb.path.len() > fa.path.len() && fb.path.starts_with(&fa.path) {
                    let diag = Diag::error(
                        codes::FACT_CONFLICT,
                        format!("fact `{}` lies inside fact `{}`", fb.dotted, fa.dotted),
                    )
                    .label(fb.span, "this fact")
                    .label(fa.span, "is part of this one")
                    .help(format!(
                        "declare `{}` as a record with a field instead",
                        fa.dotted
                    ));
                    self.error(diag);
                }
            }
        }
    }

    /// Whether a pack-level name (an input or a definition) is free; reports the clash if not.
    /// Inputs and definitions share one namespace across every file of a pack.
    fn claim_name(&mut self, name: &ast::Ident) -> bool {
        let text = name.node.as_str();
        let clash = if BUILTIN_NAMES.contains(&text) || builtins::lookup(text).is_some() {
            Some(("is a built-in name".to_string(), None))
        } else if let Some((_, _, earlier, _)) = self.pack_scope.inputs.get(text) {
            Some((
                "is already declared as an input".to_string(),
                Some(*earlier),
            ))
        } else {
            self.pack_scope
                .lets
                .get(text)
                .map(|e| ("is already defined".to_string(), Some(e.decl.name.span)))
        };
        let Some((what, earlier)) = clash else {
            return true;
        };
        let diag = Diag::error(codes::DUPLICATE_DEFINITION, format!("`{text}` {what}"));
        let diag = match earlier {
            Some(span) => diag
                .label(name.span, "defined again here")
                .label(span, "first defined here")
                .help("inputs and definitions share one namespace across every file of a pack; rename one of them"),
            None => diag
                .label(name.span, "cannot be redefined")
                .help("choose another name"),
        };
        self.error(diag);
        false
    }

    fn declare_input(&mut self, decl: &'a ast::InputDecl) {
        let name = &decl.name.node;
        if !self.claim_name(&decl.name) {
            return;
        }
        let ty = self.fact_type(&decl.ty);
        self.body = BodyScope {
            constant_only: true,
            ..BodyScope::default()
        };
        let (n, t) = self.expr(&decl.default);
        if !t.fits(&ty) {
            self.error(mismatch(
                decl.default.span,
                &ty,
                &t,
                "the default of this input",
            ));
        }
        let global = u32::try_from(self.program.globals.len()).unwrap_or(u32::MAX);
        self.program.globals.push(GlobalDef {
            name: name.clone(),
            body: Body {
                node: n,
                slots: self.body.max_slots,
            },
            span: decl.name.span,
            looked_up: false,
        });
        self.body = BodyScope::default();
        self.program.inputs.push(InputDef {
            pack: self.pack_scope.index,
            name: name.clone(),
            qualified: format!("{}.{name}", self.pack_scope.name),
            ty: ty.clone(),
            global,
            span: decl.name.span,
            default_span: decl.default.span,
        });
        self.pack_scope
            .inputs
            .insert(name.clone(), (global, ty, decl.name.span, false));
    }

    fn declare_let(&mut self, decl: &'a ast::LetDecl) {
        let name = &decl.name.node;
        if !self.claim_name(&decl.name) {
            return;
        }
        self.pack_scope.lets.insert(
            name.clone(),
            LetEntry {
                decl,
                state: LetState::Unchecked,
                used: false,
            },
        );
    }

    /// Checks a definition on first use (so definitions may appear in any order), detecting
    /// definitions that refer to themselves.
    fn resolve_let(&mut self, name: &str, used_at: Option<Span>) -> Option<LetState> {
        let entry = self.pack_scope.lets.get_mut(name)?;
        if used_at.is_some() {
            entry.used = true;
        }
        let decl = entry.decl;
        match entry.state.clone() {
            LetState::Unchecked => {}
            LetState::InProgress => {
                let at = used_at.unwrap_or(decl.name.span);
                self.error(
                    Diag::error(codes::RECURSIVE_DEFINITION, format!("`{name}` refers to itself"))
                        .label(at, "used here while being defined")
                        .label(decl.name.span, "defined here")
                        .help("definitions cannot be recursive; quantifiers and comprehensions cover lists"),
                );
                return Some(LetState::Failed);
            }
            state => return Some(state),
        }
        if let Some(e) = self.pack_scope.lets.get_mut(name) {
            e.state = LetState::InProgress;
        }
        let saved = std::mem::take(&mut self.body);
        let state = match &decl.params {
            None => {
                let (n, ty) = self.expr(&decl.body);
                let index = u32::try_from(self.program.globals.len()).unwrap_or(u32::MAX);
                self.program.globals.push(GlobalDef {
                    name: name.to_string(),
                    body: Body {
                        node: n,
                        slots: self.body.max_slots,
                    },
                    span: decl.name.span,
                    looked_up: false,
                });
                LetState::Global {
                    index,
                    ty,
                    facts: self.body.facts_read.iter().copied().collect(),
                }
            }
            Some(params) => {
                let mut types = Vec::with_capacity(params.len());
                for p in params {
                    if self.body.locals.iter().any(|(n, _, _)| *n == p.name.node) {
                        self.error(
                            Diag::error(
                                codes::DUPLICATE_DEFINITION,
                                format!("parameter `{}` is named twice", p.name.node),
                            )
                            .label(p.name.span, "repeated parameter")
                            .help("give each parameter its own name"),
                        );
                    }
                    let ty = self.type_expr(&p.ty, true);
                    self.bind(&p.name.node, ty.clone());
                    types.push(ty);
                }
                let (n, ret) = self.expr(&decl.body);
                let index = u32::try_from(self.program.functions.len()).unwrap_or(u32::MAX);
                self.program.functions.push(FunctionDef {
                    name: name.to_string(),
                    arity: u32::try_from(types.len()).unwrap_or(u32::MAX),
                    body: Body {
                        node: n,
                        slots: self.body.max_slots,
                    },
                    span: decl.name.span,
                });
                LetState::Function {
                    index,
                    params: types.into(),
                    ret,
                    facts: self.body.facts_read.iter().copied().collect(),
                }
            }
        };
        self.body = saved;
        if let Some(e) = self.pack_scope.lets.get_mut(name) {
            if !matches!(e.state, LetState::Failed) {
                e.state = state.clone();
            }
            return Some(e.state.clone());
        }
        Some(state)
    }

    /// Checks every definition after those it uses, and reports cycles among them.
    fn check_definitions_in_order(&mut self, names: &[String]) {
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let edges: Vec<Vec<(usize, Span)>> = names
            .iter()
            .map(|name| {
                let decl = self.pack_scope.lets[name].decl;
                let params: Vec<&str> = decl
                    .params
                    .iter()
                    .flatten()
                    .map(|p| p.name.node.as_str())
                    .collect();
                order::references(&decl.body, &params)
                    .into_iter()
                    .filter_map(|(n, span)| index.get(n.as_str()).map(|&i| (i, span)))
                    .collect()
            })
            .collect();
        let (sorted, cycles) = order::dependency_order(&edges);
        for cycle in cycles {
            let first = &names[cycle.members[0]];
            let chain: Vec<String> = cycle
                .members
                .iter()
                .chain(std::iter::once(&cycle.members[0]))
                .map(|&m| format!("`{}`", names[m]))
                .collect();
            let defined = self.pack_scope.lets[first].decl.name.span;
            let message = if cycle.members.len() == 1 {
                format!("`{first}` refers to itself")
            } else {
                format!(
                    "definitions refer to each other in a cycle: {}",
                    chain.join(" → ")
                )
            };
            self.error(
                Diag::error(codes::RECURSIVE_DEFINITION, message)
                    .label(cycle.closing_use, "refers back here")
                    .label(defined, "defined here")
                    .help("definitions cannot be recursive; quantifiers and comprehensions cover lists"),
            );
            for &m in &cycle.members {
                if let Some(entry) = self.pack_scope.lets.get_mut(&names[m]) {
                    entry.state = LetState::Failed;
                }
            }
        }
        for i in sorted {
            self.resolve_let(&names[i], None);
        }
    }

    fn report_unused(&mut self) {
        let mut unused: Vec<(Span, String)> = self
            .pack_scope
            .lets
            .iter()
            .filter(|(_, e)| !e.used)
            .map(|(n, e)| (e.decl.name.span, n.clone()))
            .collect();
        unused.extend(
            self.pack_scope
                .inputs
                .iter()
                .filter(|(_, e)| !e.3)
                .map(|(n, e)| (e.2, n.clone())),
        );
        unused.sort_by_key(|(s, _)| (s.file, s.start));
        for (span, name) in unused {
            self.error(
                Diag::warning(codes::UNUSED_DEFINITION, format!("`{name}` is never used"))
                    .label(span, "defined here")
                    .help("remove it, or use it in a rule"),
            );
        }
        let mut facts: Vec<u32> = self
            .pack_scope
            .fact_used
            .iter()
            .filter(|(_, used)| !**used)
            .map(|(f, _)| *f)
            .collect();
        facts.sort_unstable();
        for f in facts {
            let fact = &self.program.facts[f as usize];
            let diag = Diag::warning(
                codes::UNUSED_FACT,
                format!("fact `{}` is declared but no rule reads it", fact.dotted),
            )
            .label(fact.span, "declared here")
            .help("remove the declaration, or read the fact in a rule");
            self.error(diag);
        }
    }

    // ------------------------------------------------------------ types

    fn fact_type(&mut self, ty: &TypeExpr) -> Type {
        self.type_expr(ty, false)
    }

    fn type_expr(&mut self, ty: &TypeExpr, allow_service: bool) -> Type {
        match &ty.kind {
            TypeExprKind::Named(name) => match name.as_str() {
                "bool" => Type::Bool,
                "int" => Type::Int,
                "str" => Type::Str,
                "service" if allow_service => Type::Service,
                "service" => {
                    self.error(
                        Diag::error(codes::UNKNOWN_TYPE, "a fact cannot be a service")
                            .label(ty.span, "not a fact type")
                            .help("services come from the snapshot's `services`; look one up with `service(\"NAME\")`"),
                    );
                    Type::Error
                }
                other => {
                    let mut names = vec!["bool", "int", "str"];
                    if allow_service {
                        names.push("service");
                    }
                    let help = did_you_mean(other, names.iter().copied()).unwrap_or_else(|| {
                        format!(
                            "the types are {}, lists `[T]` and records `{{ name: T }}`",
                            names.join(", ")
                        )
                    });
                    self.error(
                        Diag::error(codes::UNKNOWN_TYPE, format!("unknown type `{other}`"))
                            .label(ty.span, "not a type")
                            .help(help),
                    );
                    Type::Error
                }
            },
            TypeExprKind::List(elem) => Type::list(self.type_expr(elem, allow_service)),
            TypeExprKind::Record(fields) => {
                let mut out: Vec<(String, Type)> = Vec::new();
                for (name, fty) in fields {
                    if out.iter().any(|(n, _)| *n == name.node) {
                        self.error(
                            Diag::error(
                                codes::DUPLICATE_FIELD,
                                format!("field `{}` is listed twice", name.node),
                            )
                            .label(name.span, "repeated field")
                            .help("list each field once"),
                        );
                        continue;
                    }
                    let t = self.type_expr(fty, allow_service);
                    out.push((name.node.clone(), t));
                }
                Type::record(out)
            }
        }
    }

    // ------------------------------------------------------------ rules

    fn check_rule(&mut self, rule: &'a ast::RuleDecl) {
        self.body = BodyScope::default();
        let id = format!("{}.{}", self.pack_scope.name, rule.name.node);
        let mut title = None;
        let mut severity = None;
        let mut controls = None;
        let mut tags = None;
        let mut help = None;
        let mut docs = None;
        let mut when: Option<Condition> = None;
        let mut requires = Vec::new();
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        for clause in &rule.clauses {
            let keyword = clause_keyword(&clause.kind);
            if keyword != "require" {
                if let Some(&earlier) = seen.get(keyword) {
                    self.error(
                        Diag::error(
                            codes::DUPLICATE_CLAUSE,
                            format!("`{keyword}` is given twice in rule `{}`", rule.name.node),
                        )
                        .label(clause.span, "second one")
                        .label(earlier, "first one")
                        .help(format!("a rule has at most one `{keyword}`")),
                    );
                    continue;
                }
                seen.insert(keyword, clause.span);
            }
            match &clause.kind {
                ClauseKind::Title(t) => title = Some(t.node.clone()),
                ClauseKind::Severity(word) => match Severity::parse(&word.node) {
                    Some(s) => severity = Some(s),
                    None => {
                        let help = did_you_mean(&word.node, Severity::NAMES).unwrap_or_else(|| {
                            "the severities are error, warning and info".to_string()
                        });
                        self.error(
                            Diag::error(
                                codes::UNKNOWN_SEVERITY,
                                format!("unknown severity `{}`", word.node),
                            )
                            .label(word.span, "not a severity")
                            .help(help),
                        );
                    }
                },
                ClauseKind::Controls(list) => {
                    controls = Some(list.iter().map(|s| s.node.clone()).collect())
                }
                ClauseKind::Tags(list) => {
                    tags = Some(list.iter().map(|s| s.node.clone()).collect())
                }
                ClauseKind::Help(h) => help = Some(h.node.clone()),
                ClauseKind::Docs(d) => docs = Some(d.node.clone()),
                ClauseKind::When(expr) => {
                    let n = self.condition(expr, "`when`");
                    match n.kind {
                        NodeKind::Bool(false) => self.error(
                            Diag::warning(codes::NEVER_HOLDS, format!("the `when` of rule `{}` can never hold", rule.name.node))
                                .label(expr.span, "always false")
                                .help("the rule will always be not applicable; fix the condition or remove the rule"),
                        ),
                        NodeKind::Bool(true) => self.error(
                            Diag::warning(codes::ALWAYS_HOLDS, format!("the `when` of rule `{}` always holds", rule.name.node))
                                .label(expr.span, "always true")
                                .help("remove the `when` clause"),
                        ),
                        _ => {}
                    }
                    when = Some(Condition {
                        node: n,
                        span: expr.span,
                        source: self.sources.text(expr.span).to_string(),
                    });
                }
                ClauseKind::Require { expr, message } => {
                    let n = self.condition(expr, "`require`");
                    if let NodeKind::Bool(value) = n.kind {
                        self.error(
                            Diag::warning(
                                if value {
                                    codes::ALWAYS_HOLDS
                                } else {
                                    codes::NEVER_HOLDS
                                },
                                format!(
                                    "this requirement is always {}",
                                    if value { "met" } else { "broken" }
                                ),
                            )
                            .label(expr.span, format!("always {value}"))
                            .help("a requirement should depend on the snapshot"),
                        );
                    }
                    let message = message.as_ref().map(|t| self.template(t));
                    requires.push(Requirement {
                        node: n,
                        span: clause.span,
                        source: self.sources.text(expr.span).to_string(),
                        message,
                    });
                }
            }
        }
        if requires.is_empty() {
            self.error(
                Diag::error(
                    codes::MISSING_REQUIRE,
                    format!("rule `{}` has no `require`", rule.name.node),
                )
                .label(rule.name.span, "this rule checks nothing")
                .help("add at least one `require <condition>` clause"),
            );
        }
        let facts = self.body.facts_read.iter().copied().collect();
        self.program.rules.push(Rule {
            id,
            pack: self.pack_scope.index,
            title: title.unwrap_or_else(|| rule.name.node.clone()),
            severity: severity.unwrap_or(Severity::Error),
            controls: controls.unwrap_or_default(),
            tags: tags.unwrap_or_default(),
            help,
            docs,
            span: rule.name.span,
            when,
            requires,
            slots: self.body.max_slots,
            facts,
        });
    }

    fn condition(&mut self, expr: &Expr, what: &str) -> Node {
        let (n, ty) = self.expr(expr);
        if !ty.fits(&Type::Bool) {
            let mut diag = mismatch(expr.span, &Type::Bool, &ty, &format!("a {what} condition"));
            if let ExprKind::Quantifier { kind, .. } = &expr.unparen().kind {
                if kind.node == ast::Quantifier::Count {
                    diag = diag.help(
                        "a quantifier's body runs to the end of the expression: write `(count x in xs: cond) > 0`",
                    );
                }
            }
            self.error(diag);
        }
        n
    }

    fn template(&mut self, template: &ast::Template) -> Vec<MessagePart> {
        template
            .parts
            .iter()
            .map(|part| match part {
                ast::TemplatePart::Text(t) => MessagePart::Text(t.clone()),
                ast::TemplatePart::Expr(e) => MessagePart::Expr(self.expr(e).0),
            })
            .collect()
    }
}

fn clause_keyword(kind: &ClauseKind) -> &'static str {
    match kind {
        ClauseKind::Title(_) => "title",
        ClauseKind::Severity(_) => "severity",
        ClauseKind::Controls(_) => "controls",
        ClauseKind::Tags(_) => "tags",
        ClauseKind::Help(_) => "help",
        ClauseKind::Docs(_) => "docs",
        ClauseKind::When(_) => "when",
        ClauseKind::Require { .. } => "require",
    }
}

fn mismatch(span: Span, expected: &Type, found: &Type, what: &str) -> Diag {
    let mut diag = Diag::error(
        codes::TYPE_MISMATCH,
        format!("{what} must be {expected}, found {found}"),
    )
    .label(span, format!("this is {found}"));
    let help = match (expected, found) {
        (Type::Bool, Type::Service) => {
            Some("test the service: `svc is running`, `svc is not disabled`".to_string())
        }
        (Type::Bool, Type::List(_)) => {
            Some("test the list: `count(xs) > 0`, or `any x in xs: …`".to_string())
        }
        (Type::Bool, Type::Int) => Some("compare the number: `n > 0`".to_string()),
        (Type::Str, Type::Service) => Some("use the service's name: `svc.name`".to_string()),
        _ => None,
    };
    diag = diag.maybe_help(help);
    diag
}
