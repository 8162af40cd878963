//! Checking expressions: names, fact paths, fields, operators and calls, each lowered to the
//! index-resolved IR with its type.

use std::sync::Arc;

use super::ir::*;
use super::types::Type;
use super::{BUILTIN_NAMES, Checked, Checker, LetState, builtins, codes, mismatch, node, poisoned};
use crate::diag::{Diag, did_you_mean};
use crate::snapshot::{ServiceState, StartType};
use crate::source::Span;
use crate::syntax::ast::{self, Expr, ExprKind};

impl<'a> Checker<'a> {
    pub(super) fn bind(&mut self, name: &str, ty: Type) -> u32 {
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

    pub(super) fn expr(&mut self, e: &Expr) -> Checked {
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
    Some(cmp.holds(ordering))
}
