//! Static checking: resolves every name, fact path and service name, checks types, and lowers
//! the AST to the [`ir::Program`] that evaluation runs. Every problem is reported in one run.

mod builtins;
mod order;
pub mod ir;
pub mod types;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::diag::{Diag, did_you_mean};
use crate::snapshot::{ServiceState, StartType};
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
    pub const ALL: &[&str] = &[UNKNOWN_NAME, UNKNOWN_FIELD, UNDECLARED_FACT, UNKNOWN_FUNCTION, UNKNOWN_TYPE, UNKNOWN_PREDICATE, UNKNOWN_SEVERITY, TYPE_MISMATCH, WRONG_ARGUMENTS, DUPLICATE_DEFINITION, DUPLICATE_RULE, DUPLICATE_CLAUSE, DUPLICATE_FIELD, MISSING_REQUIRE, RECURSIVE_DEFINITION, NOT_CONSTANT, PACK_MISMATCH, FACT_CONFLICT, UNUSED_DEFINITION, UNUSED_FACT, NEVER_HOLDS, ALWAYS_HOLDS];
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
    let program = (!has_errors).then_some(checker.program);
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

    fn declare_input(&mut self, decl: &'a ast::InputDecl) {
        let name = &decl.name.node;
        if BUILTIN_NAMES.contains(&name.as_str()) || builtins::lookup(name).is_some() {
            self.error(
                Diag::error(
                    codes::DUPLICATE_DEFINITION,
                    format!("`{name}` is a built-in name"),
                )
                .label(decl.name.span, "cannot be redefined")
                .help("choose another name"),
            );
            return;
        }
        if let Some((_, _, earlier, _)) = self.pack_scope.inputs.get(name) {
            let earlier = *earlier;
            self.error(
                Diag::error(
                    codes::DUPLICATE_DEFINITION,
                    format!("input `{name}` is declared twice"),
                )
                .label(decl.name.span, "second declaration")
                .label(earlier, "first declaration")
                .help("declare each input once per pack"),
            );
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
        if BUILTIN_NAMES.contains(&name.as_str()) || builtins::lookup(name).is_some() {
            self.error(
                Diag::error(
                    codes::DUPLICATE_DEFINITION,
                    format!("`{name}` is a built-in name"),
                )
                .label(decl.name.span, "cannot be redefined")
                .help("choose another name"),
            );
            return;
        }
        if let Some((_, _, earlier, _)) = self.pack_scope.inputs.get(name) {
            let earlier = *earlier;
            self.error(
                Diag::error(
                    codes::DUPLICATE_DEFINITION,
                    format!("`{name}` is already an input"),
                )
                .label(decl.name.span, "defined here")
                .label(earlier, "declared as an input here")
                .help("names are shared by every file of a pack; rename one of them"),
            );
            return;
        }
        if let Some(existing) = self.pack_scope.lets.get(name) {
            let earlier = existing.decl.name.span;
            self.error(
                Diag::error(
                    codes::DUPLICATE_DEFINITION,
                    format!("`{name}` is defined twice"),
                )
                .label(decl.name.span, "second definition")
                .label(earlier, "first definition")
                .help("names are shared by every file of a pack; rename one of them"),
            );
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
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let edges: Vec<Vec<(usize, Span)>> = names
            .iter()
            .map(|name| {
                let decl = self.pack_scope.lets[name].decl;
                let params: Vec<&str> = decl.params.iter().flatten().map(|p| p.name.node.as_str()).collect();
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
                format!("definitions refer to each other in a cycle: {}", chain.join(" → "))
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

    // ------------------------------------------------------------ expressions

    fn bind(&mut self, name: &str, ty: Type) -> u32 {
        let slot = self.body.next_slot;
        self.body.locals.push((name.to_string(), slot, ty));
        self.body.next_slot += 1;
        self.body.max_slots = self.body.max_slots.max(self.body.next_slot);
        slot
    }

    fn unbind(&mut self) {
        self.body.locals.pop();
        self.body.next_slot -= 1;
    }

    fn local(&self, name: &str) -> Option<(u32, Type)> {
        self.body
            .locals
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, slot, ty)| (*slot, ty.clone()))
    }

    fn is_bound(&self, name: &str) -> bool {
        self.local(name).is_some()
            || self.pack_scope.lets.contains_key(name)
            || self.pack_scope.inputs.contains_key(name)
            || BUILTIN_NAMES.contains(&name)
    }

    fn not_constant(&mut self, span: Span, what: &str) -> Checked {
        self.error(
            Diag::error(
                codes::NOT_CONSTANT,
                format!("a default value cannot read {what}"),
            )
            .label(span, "not a constant")
            .help("defaults of facts and inputs are constants: write literal values, such as `{ min: 1025, max: 5000 }`"),
        );
        poisoned(span)
    }

    fn expr(&mut self, e: &Expr) -> Checked {
        let span = e.span;
        match &e.kind {
            ExprKind::Bool(b) => (node(NodeKind::Bool(*b), span), Type::Bool),
            ExprKind::Int(i) => (node(NodeKind::Int(*i), span), Type::Int),
            ExprKind::Str(s) => (node(NodeKind::Str(Arc::from(s.as_str())), span), Type::Str),
            ExprKind::Paren(inner) => {
                let (mut n, t) = self.expr(inner);
                n.span = span;
                (n, t)
            }
            ExprKind::Name(name) => self.name(name, span),
            ExprKind::Field { base, field } => self.field(e, base, field),
            ExprKind::Is {
                base,
                negated,
                word,
            } => self.is_test(base, *negated, word, span),
            ExprKind::Unary { op, operand } => {
                let (n, t) = self.expr(operand);
                match op.node {
                    ast::UnaryOp::Not => {
                        self.expect(operand.span, &t, &Type::Bool, "the operand of `not`");
                        if let NodeKind::Bool(b) = n.kind {
                            return (node(NodeKind::Bool(!b), span), Type::Bool);
                        }
                        (node(NodeKind::Not(Box::new(n)), span), Type::Bool)
                    }
                    ast::UnaryOp::Neg => {
                        self.expect(operand.span, &t, &Type::Int, "the operand of `-`");
                        if let NodeKind::Int(i) = n.kind {
                            if let Some(neg) = i.checked_neg() {
                                return (node(NodeKind::Int(neg), span), Type::Int);
                            }
                        }
                        (node(NodeKind::Neg(Box::new(n)), span), Type::Int)
                    }
                }
            }
            ExprKind::Logical { op, operands } => {
                let mut nodes = Vec::with_capacity(operands.len());
                for operand in operands {
                    let (n, t) = self.expr(operand);
                    self.expect(
                        operand.span,
                        &t,
                        &Type::Bool,
                        &format!("an operand of `{}`", op.keyword()),
                    );
                    nodes.push(n);
                }
                let (absorbing, neutral) = match op {
                    ast::LogicalOp::And => (false, true),
                    ast::LogicalOp::Or => (true, false),
                };
                if nodes
                    .iter()
                    .any(|n| matches!(n.kind, NodeKind::Bool(b) if b == absorbing))
                {
                    return (node(NodeKind::Bool(absorbing), span), Type::Bool);
                }
                nodes.retain(|n| !matches!(n.kind, NodeKind::Bool(b) if b == neutral));
                if nodes.is_empty() {
                    return (node(NodeKind::Bool(neutral), span), Type::Bool);
                }
                let kind = match op {
                    ast::LogicalOp::And => NodeKind::And(nodes),
                    ast::LogicalOp::Or => NodeKind::Or(nodes),
                };
                (node(kind, span), Type::Bool)
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(op, lhs, rhs, span),
            ExprKind::List(items) => {
                let mut elem = Type::Any;
                let mut nodes = Vec::with_capacity(items.len());
                for item in items {
                    let (n, t) = self.expr(item);
                    match elem.unify(&t) {
                        Some(u) => elem = u,
                        None => {
                            self.error(mismatch(item.span, &elem, &t, "an element of this list"))
                        }
                    }
                    nodes.push(n);
                }
                (node(NodeKind::List(nodes), span), Type::list(elem))
            }
            ExprKind::Record(fields) => {
                let mut checked: Vec<(String, Node, Type)> = Vec::new();
                for (name, value) in fields {
                    if checked.iter().any(|(n, _, _)| *n == name.node) {
                        self.error(
                            Diag::error(
                                codes::DUPLICATE_FIELD,
                                format!("field `{}` is given twice", name.node),
                            )
                            .label(name.span, "repeated field")
                            .help("give each field once"),
                        );
                        continue;
                    }
                    let (n, t) = self.expr(value);
                    checked.push((name.node.clone(), n, t));
                }
                checked.sort_by(|a, b| a.0.cmp(&b.0));
                let fields: Arc<[(String, Type)]> = checked
                    .iter()
                    .map(|(n, _, t)| (n.clone(), t.clone()))
                    .collect();
                let values = checked.into_iter().map(|(_, n, _)| n).collect();
                let ty = Type::Record(Arc::clone(&fields));
                (node(NodeKind::Record { fields, values }, span), ty)
            }
            ExprKind::Comprehension {
                element,
                var,
                source,
                filter,
            } => {
                let (src, elem_ty) = self.iterable(source, "a comprehension");
                let slot = self.bind(&var.node, elem_ty);
                let filter = filter.as_ref().map(|f| {
                    let (n, t) = self.expr(f);
                    self.expect(f.span, &t, &Type::Bool, "the `if` of a comprehension");
                    Box::new(n)
                });
                let (el, el_ty) = self.expr(element);
                self.unbind();
                let kind = NodeKind::Comprehension {
                    slot,
                    source: Box::new(src),
                    filter,
                    element: Box::new(el),
                };
                (node(kind, span), Type::list(el_ty))
            }
            ExprKind::Quantifier {
                kind,
                var,
                source,
                body,
            } => {
                let (src, elem_ty) = self.iterable(source, &format!("`{}`", kind.node.keyword()));
                let slot = self.bind(&var.node, elem_ty);
                let (b, t) = self.expr(body);
                self.expect(
                    body.span,
                    &t,
                    &Type::Bool,
                    &format!("the body of `{}`", kind.node.keyword()),
                );
                self.unbind();
                let (q, ty) = match kind.node {
                    ast::Quantifier::All => (Quantifier::All, Type::Bool),
                    ast::Quantifier::Any => (Quantifier::Any, Type::Bool),
                    ast::Quantifier::None => (Quantifier::None, Type::Bool),
                    ast::Quantifier::Count => (Quantifier::Count, Type::Int),
                };
                let kind = NodeKind::Quantifier {
                    kind: q,
                    slot,
                    source: Box::new(src),
                    body: Box::new(b),
                };
                (node(kind, span), ty)
            }
            ExprKind::Call { func, args } => self.call(func, args, span),
        }
    }

    fn expect(&mut self, span: Span, found: &Type, expected: &Type, what: &str) {
        if !found.fits(expected) {
            self.error(mismatch(span, expected, found, what));
        }
    }

    /// A list to iterate over, and the type of its elements.
    fn iterable(&mut self, source: &Expr, what: &str) -> (Node, Type) {
        let (n, t) = self.expr(source);
        match &t {
            Type::List(elem) => (n, (**elem).clone()),
            t if t.is_unknown() => (n, Type::Error),
            other => {
                self.error(
                    Diag::error(
                        codes::TYPE_MISMATCH,
                        format!("{what} needs a list, found {other}"),
                    )
                    .label(source.span, format!("this is {other}"))
                    .help("iterate over a list, such as `services` or a fact of list type"),
                );
                (n, Type::Error)
            }
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Checked {
        if let Some((slot, ty)) = self.local(name) {
            return (node(NodeKind::Local(slot), span), ty);
        }
        if let Some(entry) = self.pack_scope.inputs.get_mut(name) {
            if self.body.constant_only {
                return self.not_constant(span, "an input");
            }
            entry.3 = true;
            return (node(NodeKind::Global(entry.0), span), entry.1.clone());
        }
        if self.pack_scope.lets.contains_key(name) {
            if self.body.constant_only {
                return self.not_constant(span, "a definition");
            }
            return match self.resolve_let(name, Some(span)) {
                Some(LetState::Global { index, ty, facts }) => {
                    self.body.facts_read.extend(facts.iter().copied());
                    (node(NodeKind::Global(index), span), ty)
                }
                Some(LetState::Function { params, .. }) => {
                    self.error(
                        Diag::error(
                            codes::WRONG_ARGUMENTS,
                            format!("`{name}` takes {} argument(s)", params.len()),
                        )
                        .label(span, "used without arguments")
                        .help(format!("call it: `{name}(…)`")),
                    );
                    poisoned(span)
                }
                _ => poisoned(span),
            };
        }
        match name {
            "services" => {
                if self.body.constant_only {
                    return self.not_constant(span, "the snapshot's services");
                }
                return (node(NodeKind::Services, span), Type::list(Type::Service));
            }
            "host" => {
                self.error(
                    Diag::error(codes::UNKNOWN_NAME, "`host` is not a value by itself")
                        .label(span, "needs a field")
                        .help("use `host.name`, `host.os` or `host.domain`"),
                );
                return poisoned(span);
            }
            _ => {}
        }
        self.fact_path(&[(name.to_string(), span)], span)
    }

    /// Resolves a dotted path to the longest declared fact that prefixes it; the rest of the
    /// path becomes field accesses on the fact's value.
    fn fact_path(&mut self, segments: &[(String, Span)], whole: Span) -> Checked {
        let mut best: Option<(usize, u32)> = None;
        for &f in &self.pack_scope.facts {
            let path = &self.program.facts[f as usize].path;
            if path.len() <= segments.len()
                && path.iter().zip(segments).all(|(a, (b, _))| a == b)
                && best.is_none_or(|(len, _)| path.len() > len)
            {
                best = Some((path.len(), f));
            }
        }
        let Some((len, fact)) = best else {
            return self.unknown_path(segments, whole);
        };
        if self.body.constant_only {
            return self.not_constant(whole, "a fact");
        }
        self.pack_scope.fact_used.insert(fact, true);
        self.body.facts_read.insert(fact);
        let fact_span = segments[0].1.to(segments[len - 1].1);
        let mut checked = (
            node(NodeKind::Fact(fact), fact_span),
            self.program.facts[fact as usize].ty.clone(),
        );
        for (name, span) in &segments[len..] {
            let field = ast::Spanned::new(name.clone(), *span);
            let base_span = checked.0.span;
            checked = self.apply_field(checked, &field, base_span.to(*span));
        }
        checked
    }

    fn unknown_path(&mut self, segments: &[(String, Span)], whole: Span) -> Checked {
        let dotted: Vec<&str> = segments.iter().map(|(s, _)| s.as_str()).collect();
        let root = dotted[0];
        let facts: Vec<String> = self
            .pack_scope
            .facts
            .iter()
            .map(|&f| self.program.facts[f as usize].dotted.clone())
            .collect();
        // `exchange` alone, when `exchange.stores` is declared.
        let under: Vec<&String> = facts
            .iter()
            .filter(|f| f.starts_with(&format!("{}.", dotted.join("."))))
            .collect();
        if !under.is_empty() {
            let list: Vec<String> = under.iter().take(5).map(|f| format!("`{f}`")).collect();
            self.error(
                Diag::error(
                    codes::UNDECLARED_FACT,
                    format!("`{}` is not a fact by itself", dotted.join(".")),
                )
                .label(whole, "a prefix of declared facts")
                .help(format!(
                    "read one of the facts under it: {}",
                    list.join(", ")
                )),
            );
            return poisoned(whole);
        }
        if segments.len() == 1 {
            let mut candidates: Vec<String> =
                self.body.locals.iter().map(|(n, _, _)| n.clone()).collect();
            candidates.extend(self.pack_scope.lets.keys().cloned());
            candidates.extend(BUILTIN_NAMES.iter().map(|s| s.to_string()));
            candidates.extend(
                facts
                    .iter()
                    .map(|f| f.split('.').next().unwrap_or("").to_string()),
            );
            let help = did_you_mean(root, candidates.iter().map(String::as_str)).unwrap_or_else(|| {
                format!("define it with `let {root} = …`, or declare it as a fact: `fact {root}: <type>`")
            });
            self.error(
                Diag::error(codes::UNKNOWN_NAME, format!("unknown name `{root}`"))
                    .label(whole, "not defined in this pack")
                    .help(help),
            );
            return poisoned(whole);
        }
        let wanted = dotted.join(".");
        let help = did_you_mean(&wanted, facts.iter().map(String::as_str))
            .or_else(|| {
                // The longest declared prefix of a close name, e.g. `exchange.stroes.name`.
                (1..segments.len()).rev().find_map(|n| {
                    did_you_mean(
                        &dotted[..=n.min(dotted.len() - 1)].join("."),
                        facts.iter().map(String::as_str),
                    )
                })
            })
            .unwrap_or_else(|| format!("declare it first: `fact {wanted}: <type>`"));
        self.error(
            Diag::error(
                codes::UNDECLARED_FACT,
                format!("`{wanted}` is not a declared fact"),
            )
            .label(whole, "undeclared")
            .help(help),
        );
        poisoned(whole)
    }

    /// `a.b.c` where `a` is not a local, a definition or built-in: a fact path.
    fn field(&mut self, e: &Expr, base: &Expr, field: &ast::Ident) -> Checked {
        if let Some(segments) = dotted_segments(e) {
            let root = segments[0].0.as_str();
            if root == "host" && segments.len() == 2 && !self.is_bound_locally("host") {
                let f = match segments[1].0.as_str() {
                    "name" => HostField::Name,
                    "os" => HostField::Os,
                    "domain" => HostField::Domain,
                    other => {
                        let help =
                            did_you_mean(other, ["name", "os", "domain"]).unwrap_or_else(|| {
                                "the host fields are name, os and domain".to_string()
                            });
                        self.error(
                            Diag::error(
                                codes::UNKNOWN_FIELD,
                                format!("the host has no field `{other}`"),
                            )
                            .label(segments[1].1, "unknown field")
                            .help(help),
                        );
                        return poisoned(e.span);
                    }
                };
                if self.body.constant_only {
                    return self.not_constant(e.span, "the host");
                }
                return (node(NodeKind::Host(f), e.span), Type::Str);
            }
            if !self.is_bound(root) {
                return self.fact_path(&segments, e.span);
            }
        }
        let checked = self.expr(base);
        self.apply_field(checked, field, e.span)
    }

    fn is_bound_locally(&self, name: &str) -> bool {
        self.local(name).is_some()
            || self.pack_scope.lets.contains_key(name)
            || self.pack_scope.inputs.contains_key(name)
    }

    fn apply_field(&mut self, (base, ty): Checked, field: &ast::Ident, span: Span) -> Checked {
        let (elem, project) = match &ty {
            Type::List(elem) => ((**elem).clone(), true),
            other => (other.clone(), false),
        };
        match &elem {
            Type::Record(fields) => match fields.iter().position(|(n, _)| *n == field.node) {
                Some(index) => {
                    let fty = fields[index].1.clone();
                    let kind = NodeKind::Field {
                        base: Box::new(base),
                        index: u32::try_from(index).unwrap_or(u32::MAX),
                        project,
                    };
                    let ty = if project { Type::list(fty) } else { fty };
                    (node(kind, span), ty)
                }
                None => {
                    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                    let help = did_you_mean(&field.node, names.iter().copied())
                        .unwrap_or_else(|| format!("the fields are: {}", names.join(", ")));
                    self.error(
                        Diag::error(
                            codes::UNKNOWN_FIELD,
                            format!("no field `{}` in {elem}", field.node),
                        )
                        .label(field.span, "unknown field")
                        .help(help),
                    );
                    poisoned(span)
                }
            },
            Type::Service => match ServiceField::ALL.iter().find(|(n, _)| *n == field.node) {
                Some((_, f)) => {
                    let kind = NodeKind::ServiceField {
                        base: Box::new(base),
                        field: *f,
                        project,
                    };
                    let ty = if project { Type::list(f.ty()) } else { f.ty() };
                    (node(kind, span), ty)
                }
                None => {
                    let names = ServiceField::ALL.map(|(n, _)| n);
                    let help = did_you_mean(&field.node, names)
                        .unwrap_or_else(|| format!("a service has: {}", names.join(", ")));
                    self.error(
                        Diag::error(
                            codes::UNKNOWN_FIELD,
                            format!("a service has no field `{}`", field.node),
                        )
                        .label(field.span, "unknown field")
                        .help(help),
                    );
                    poisoned(span)
                }
            },
            t if t.is_unknown() => poisoned(span),
            other => {
                self.error(
                    Diag::error(codes::UNKNOWN_FIELD, format!("{other} has no fields"))
                        .label(field.span, format!("`.{}` on {other}", field.node))
                        .help("only records and services have fields"),
                );
                poisoned(span)
            }
        }
    }

    fn is_test(&mut self, base: &Expr, negated: bool, word: &ast::Ident, span: Span) -> Checked {
        let (n, t) = self.expr(base);
        self.expect(base.span, &t, &Type::Service, "the subject of `is`");
        let predicate = ServiceState::ALL
            .iter()
            .find(|s| s.as_str() == word.node)
            .map(|s| Predicate::State(*s))
            .or_else(|| {
                StartType::ALL
                    .iter()
                    .find(|s| s.as_str() == word.node)
                    .map(|s| Predicate::StartType(*s))
            });
        let Some(predicate) = predicate else {
            let words: Vec<&str> = ServiceState::ALL
                .iter()
                .map(|s| s.as_str())
                .chain(StartType::ALL.iter().map(|s| s.as_str()))
                .collect();
            let help = did_you_mean(&word.node, words.iter().copied())
                .unwrap_or_else(|| format!("a service can be: {}", words.join(", ")));
            self.error(
                Diag::error(
                    codes::UNKNOWN_PREDICATE,
                    format!("`{}` is not a service state or start type", word.node),
                )
                .label(word.span, "unknown")
                .help(help),
            );
            return poisoned(span);
        };
        let kind = NodeKind::Is {
            base: Box::new(n),
            predicate,
            negated,
        };
        (node(kind, span), Type::Bool)
    }

    fn binary(
        &mut self,
        op: &ast::Spanned<ast::BinaryOp>,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Checked {
        use ast::BinaryOp as B;
        let (l, lt) = self.expr(lhs);
        let (r, rt) = self.expr(rhs);
        let sym = op.node.symbol();
        let bx = Box::new;
        match op.node {
            B::Implies => {
                self.expect(lhs.span, &lt, &Type::Bool, "the left of `implies`");
                self.expect(rhs.span, &rt, &Type::Bool, "the right of `implies`");
                (node(NodeKind::Implies(bx(l), bx(r)), span), Type::Bool)
            }
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => {
                let cmp = match op.node {
                    B::Eq => Compare::Eq,
                    B::Ne => Compare::Ne,
                    B::Lt => Compare::Lt,
                    B::Le => Compare::Le,
                    B::Gt => Compare::Gt,
                    _ => Compare::Ge,
                };
                let ordered = !matches!(cmp, Compare::Eq | Compare::Ne);
                match lt.unify(&rt) {
                    None => self.error(
                        Diag::error(
                            codes::TYPE_MISMATCH,
                            format!("cannot compare {lt} with {rt}"),
                        )
                        .label(lhs.span, format!("this is {lt}"))
                        .label(rhs.span, format!("this is {rt}"))
                        .help(comparison_help(&lt, &rt)),
                    ),
                    Some(t)
                        if ordered
                            && !matches!(t, Type::Int | Type::Str | Type::Error | Type::Any) =>
                    {
                        self.error(
                            Diag::error(
                                codes::TYPE_MISMATCH,
                                format!("`{sym}` orders numbers and strings, not {t}"),
                            )
                            .label(op.span, "no order here")
                            .help("compare with `==` or `!=` instead"),
                        )
                    }
                    Some(_) => {}
                }
                if let Some(folded) = fold_compare(cmp, &l.kind, &r.kind) {
                    return (node(NodeKind::Bool(folded), span), Type::Bool);
                }
                (node(NodeKind::Compare(cmp, bx(l), bx(r)), span), Type::Bool)
            }
            B::In | B::NotIn => {
                let kind = match &rt {
                    Type::List(elem) => {
                        if !lt.fits(elem) {
                            self.error(mismatch(
                                lhs.span,
                                elem,
                                &lt,
                                &format!("the left of `{sym}`"),
                            ));
                        }
                        Membership::List
                    }
                    Type::Range => {
                        self.expect(lhs.span, &lt, &Type::Int, "a value tested against a range");
                        Membership::Range
                    }
                    Type::Str => {
                        self.expect(lhs.span, &lt, &Type::Str, "a substring test");
                        Membership::Substring
                    }
                    t if t.is_unknown() => Membership::List,
                    other => {
                        self.error(
                            Diag::error(codes::TYPE_MISMATCH, format!("`{sym}` needs a list, a range or a string on its right, found {other}"))
                                .label(rhs.span, format!("this is {other}"))
                                .help("for example `x in [1, 2]`, `port in 1024..=5000` or `\"sql\" in name`"),
                        );
                        Membership::List
                    }
                };
                let kind = NodeKind::In {
                    kind,
                    needle: bx(l),
                    haystack: bx(r),
                    negated: op.node == B::NotIn,
                };
                (node(kind, span), Type::Bool)
            }
            B::DependsOn | B::DependsDirectlyOn | B::StartsBefore => {
                // The depending service must exist; what it depends on may be a bare name
                // that no record defines (a dangling dependency still counts).
                let ((service, st, ss), (on, ot, os)) = if op.node == B::StartsBefore {
                    ((r, rt, rhs.span), (l, lt, lhs.span))
                } else {
                    ((l, lt, lhs.span), (r, rt, rhs.span))
                };
                let service = self.service_operand(service, &st, ss, sym);
                let on = match ot {
                    Type::Str => on,
                    _ => self.service_operand(on, &ot, os, sym),
                };
                let kind = NodeKind::DependsOn {
                    service: bx(service),
                    on: bx(on),
                    direct: op.node == B::DependsDirectlyOn,
                };
                (node(kind, span), Type::Bool)
            }
            B::RunsAs => {
                self.expect(lhs.span, &lt, &Type::Service, "the left of `runs as`");
                self.expect(rhs.span, &rt, &Type::Str, "the account after `runs as`");
                (node(NodeKind::RunsAs(bx(l), bx(r)), span), Type::Bool)
            }
            B::Range | B::RangeInclusive => {
                self.expect(lhs.span, &lt, &Type::Int, "the start of a range");
                self.expect(rhs.span, &rt, &Type::Int, "the end of a range");
                let kind = NodeKind::Range {
                    low: bx(l),
                    high: bx(r),
                    inclusive: op.node == B::RangeInclusive,
                };
                (node(kind, span), Type::Range)
            }
            B::Add if lt == Type::Str || rt == Type::Str => {
                self.expect(lhs.span, &lt, &Type::Str, "the left of `+` on strings");
                self.expect(rhs.span, &rt, &Type::Str, "the right of `+` on strings");
                (
                    node(NodeKind::Arith(Arith::Concat, bx(l), bx(r)), span),
                    Type::Str,
                )
            }
            B::Add | B::Sub | B::Mul | B::Div | B::Mod => {
                self.expect(lhs.span, &lt, &Type::Int, &format!("the left of `{sym}`"));
                self.expect(rhs.span, &rt, &Type::Int, &format!("the right of `{sym}`"));
                let a = match op.node {
                    B::Add => Arith::Add,
                    B::Sub => Arith::Sub,
                    B::Mul => Arith::Mul,
                    B::Div => Arith::Div,
                    _ => Arith::Mod,
                };
                (node(NodeKind::Arith(a, bx(l), bx(r)), span), Type::Int)
            }
        }
    }

    /// A service, or a service's SCM name as a string.
    fn service_operand(&mut self, n: Node, t: &Type, span: Span, sym: &str) -> Node {
        match t {
            Type::Service | Type::Error | Type::Any => n,
            Type::Str => match &n.kind {
                NodeKind::Str(name) => {
                    let id = self.intern_service(name);
                    node(NodeKind::ServiceNamed(id), n.span)
                }
                _ => node(NodeKind::Builtin(Builtin::Service, vec![n]), span),
            },
            other => {
                self.error(
                    Diag::error(
                        codes::TYPE_MISMATCH,
                        format!("`{sym}` relates services, found {other}"),
                    )
                    .label(span, format!("this is {other}"))
                    .help(
                        "give a service, such as `service(\"RpcSs\")`, or its SCM name as a string",
                    ),
                );
                n
            }
        }
    }

    fn intern_service(&mut self, name: &str) -> u32 {
        let key = name.to_ascii_lowercase();
        if let Some(&id) = self.service_ids.get(&key) {
            return id;
        }
        let id = u32::try_from(self.program.service_names.len()).unwrap_or(u32::MAX);
        self.program.service_names.push(Arc::from(name));
        self.service_ids.insert(key, id);
        id
    }

    fn call(&mut self, func: &ast::Ident, args: &[Expr], span: Span) -> Checked {
        let name = func.node.as_str();
        if self.pack_scope.lets.contains_key(name) && self.local(name).is_none() {
            if self.body.constant_only {
                return self.not_constant(span, "a definition");
            }
            let state = self.resolve_let(name, Some(func.span));
            return match state {
                Some(LetState::Function {
                    index,
                    params,
                    ret,
                    facts,
                }) => {
                    self.body.facts_read.extend(facts.iter().copied());
                    if params.len() != args.len() {
                        self.error(
                            Diag::error(
                                codes::WRONG_ARGUMENTS,
                                format!(
                                    "`{name}` takes {} argument(s), but {} were given",
                                    params.len(),
                                    args.len()
                                ),
                            )
                            .label(span, "wrong number of arguments")
                            .help(format!("see the definition of `{name}`")),
                        );
                    }
                    let mut nodes = Vec::with_capacity(args.len());
                    for (i, arg) in args.iter().enumerate() {
                        let (n, t) = self.expr(arg);
                        if let Some(p) = params.get(i) {
                            self.expect(
                                arg.span,
                                &t,
                                p,
                                &format!("argument {} of `{name}`", i + 1),
                            );
                        }
                        nodes.push(n);
                    }
                    (node(NodeKind::Call(index, nodes), span), ret)
                }
                Some(LetState::Global { .. }) => {
                    self.error(
                        Diag::error(
                            codes::WRONG_ARGUMENTS,
                            format!("`{name}` is a value, not a function"),
                        )
                        .label(func.span, "takes no arguments")
                        .help(format!("write `{name}` without parentheses")),
                    );
                    poisoned(span)
                }
                _ => poisoned(span),
            };
        }
        let Some(builtin) = builtins::lookup(name) else {
            let mut names: Vec<String> = builtins::NAMES.iter().map(|s| s.to_string()).collect();
            names.extend(
                self.pack_scope
                    .lets
                    .iter()
                    .filter(|(_, e)| e.decl.params.is_some())
                    .map(|(n, _)| n.clone()),
            );
            let help = did_you_mean(name, names.iter().map(String::as_str)).unwrap_or_else(|| {
                format!("the built-in functions are: {}", builtins::NAMES.join(", "))
            });
            self.error(
                Diag::error(
                    codes::UNKNOWN_FUNCTION,
                    format!("unknown function `{name}`"),
                )
                .label(func.span, "not a function")
                .help(help),
            );
            for arg in args {
                self.expr(arg);
            }
            return poisoned(span);
        };
        if self.body.constant_only
            && matches!(
                builtin,
                Builtin::Service | Builtin::HasService | Builtin::DependencyCycles
            )
        {
            return self.not_constant(span, "the snapshot's services");
        }
        let mut checked = Vec::with_capacity(args.len());
        let mut types = Vec::with_capacity(args.len());
        for arg in args {
            let (n, t) = self.expr(arg);
            checked.push(n);
            types.push(t);
        }
        match builtins::signature(builtin, &types) {
            Ok(ret) => {
                if builtin == Builtin::Service {
                    if let Some(NodeKind::Str(s)) = checked.first().map(|n| &n.kind) {
                        let id = self.intern_service(&s.clone());
                        return (node(NodeKind::ServiceNamed(id), span), Type::Service);
                    }
                }
                (node(NodeKind::Builtin(builtin, checked), span), ret)
            }
            Err(problem) => {
                let at = problem
                    .argument
                    .and_then(|i| args.get(i))
                    .map_or(span, |a| a.span);
                self.error(
                    Diag::error(
                        codes::WRONG_ARGUMENTS,
                        format!("wrong arguments to `{name}`: {}", problem.message),
                    )
                    .label(at, problem.label)
                    .help(format!("`{}`", builtins::usage(builtin))),
                );
                poisoned(span)
            }
        }
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

/// `a.b.c` as segments, when the expression is nothing but names and field accesses.
fn dotted_segments(e: &Expr) -> Option<Vec<(String, Span)>> {
    let mut segments = Vec::new();
    let mut current = e;
    loop {
        match &current.kind {
            ExprKind::Field { base, field } => {
                segments.push((field.node.clone(), field.span));
                current = base;
            }
            ExprKind::Name(name) => {
                segments.push((name.clone(), current.span));
                segments.reverse();
                return Some(segments);
            }
            _ => return None,
        }
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

fn comparison_help(lt: &Type, rt: &Type) -> String {
    match (lt, rt) {
        (Type::Service, Type::Str) | (Type::Str, Type::Service) => {
            "compare a field of the service, such as `svc.state == \"running\"`, or use `svc is running`".to_string()
        }
        _ => "both sides of a comparison must have the same type".to_string(),
    }
}

fn fold_compare(cmp: Compare, l: &NodeKind, r: &NodeKind) -> Option<bool> {
    use std::cmp::Ordering;
    let ordering: Ordering = match (l, r) {
        (NodeKind::Int(a), NodeKind::Int(b)) => a.cmp(b),
        (NodeKind::Str(a), NodeKind::Str(b)) => a.cmp(b),
        (NodeKind::Bool(a), NodeKind::Bool(b)) => a.cmp(b),
        _ => return None,
    };
    Some(match cmp {
        Compare::Eq => ordering == Ordering::Equal,
        Compare::Ne => ordering != Ordering::Equal,
        Compare::Lt => ordering == Ordering::Less,
        Compare::Le => ordering != Ordering::Greater,
        Compare::Gt => ordering == Ordering::Greater,
        Compare::Ge => ordering != Ordering::Less,
    })
}
