//! pest pairs to the typed AST, one `lower_*` function per grammar rule, operator precedence,
//! and our own pest → diagnostic adapter.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::iter::Peekable;

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};

use super::ast::*;
use super::build::{
    InfixOp, Lowered, MAX_PREFIX_RUN, MAX_READ_NESTING, deeper, infix_node, postfix_node, prec,
    prefix_node, template_parts, too_deep, too_many_prefixes, unescape_string,
};
use super::{check_nesting, codes};
use crate::diag::Diag;
use crate::source::{FileId, Span, Spanned};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/expolicy.pest"]
struct ExpolicyParser;

/// Parses one policy file. A file without errors is read by `quick.rs`; pest reads the others,
/// and lowering keeps going after an error in one item, so that every problem in the file is
/// reported in one run.
pub fn parse_file(text: &str, file: FileId) -> Result<File, Vec<Diag>> {
    if let Some(quick) = super::quick::parse_file(text, file) {
        // Debug builds (tests, fuzzing) check every quick answer against the grammar's.
        if cfg!(debug_assertions) {
            let agreed = parse_with_pest(text, file)
                .is_ok_and(|slow| format!("{slow:?}") == format!("{quick:?}"));
            assert!(
                agreed,
                "quick.rs and the grammar read this policy differently:\n{text}"
            );
        }
        return Ok(quick);
    }
    parse_with_pest(text, file)
}

/// pest's parse and its lowering, which explain every problem a file has.
pub(super) fn parse_with_pest(text: &str, file: FileId) -> Result<File, Vec<Diag>> {
    check_nesting(text, file).map_err(|d| vec![d])?;
    let mut pairs =
        parse_rule(Rule::file, text).map_err(|e| vec![syntax_error(&e, text, file, 0)])?;
    let lowerer = Lowerer {
        file,
        base: 0,
        text,
        nesting: Cell::new(0),
    };
    let file_pair = pairs.next().ok_or_else(|| vec![internal(file)])?;
    lowerer.lower_file(file_pair)
}

/// Runs pest. Tracking what each rule expected costs more than the parse itself, so it is
/// turned on only to explain a failure, by parsing the failing text a second time.
fn parse_rule(rule: Rule, text: &str) -> Result<Pairs<'_, Rule>, Box<pest::error::Error<Rule>>> {
    pest::set_error_detail(false);
    match ExpolicyParser::parse(rule, text) {
        Ok(pairs) => Ok(pairs),
        Err(quick) => {
            pest::set_error_detail(true);
            let detailed = ExpolicyParser::parse(rule, text).err();
            pest::set_error_detail(false);
            Err(Box::new(detailed.unwrap_or(quick)))
        }
    }
}

/// Parses the text of one `{expr}` hole in a message template, at byte `base` of the file.
pub fn parse_template_expr(
    text: &str,
    hole: &str,
    file: FileId,
    base: usize,
) -> Result<Expr, Diag> {
    let mut pairs =
        parse_rule(Rule::template_expr, hole).map_err(|e| syntax_error(&e, hole, file, base))?;
    let lowerer = Lowerer {
        file,
        base,
        text,
        nesting: Cell::new(0),
    };
    let outer = pairs.next().ok_or_else(|| internal(file))?;
    let expr = outer
        .into_inner()
        .find(|p| p.as_rule() == Rule::expr)
        .ok_or_else(|| internal(file))?;
    lowerer.lower_expr(expr).map(|(e, _)| e)
}

fn internal(file: FileId) -> Diag {
    Diag::error(codes::SYNTAX, "the parser produced an unexpected tree")
        .label(Span::new(file, 0, 0), "while reading this file")
        .help("this is a bug in expolicy; please report it with the policy that caused it")
}

struct Lowerer<'t> {
    file: FileId,
    /// Byte offset of the parsed text within the file (non-zero for template holes).
    base: usize,
    /// The whole file, for template holes that need their surroundings.
    text: &'t str,
    /// How deep the expression being read nests so far (see [`MAX_READ_NESTING`]).
    nesting: Cell<u32>,
}

impl<'t> Lowerer<'t> {
    fn span_at(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.base + start, self.base + end)
    }

    /// The span of a pair that ends at its last character (see the grammar's header).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        self.span_at(s.start(), s.end())
    }

    /// Runs `read` one level deeper into an expression, refusing to go past
    /// [`MAX_READ_NESTING`]; `at` is where the next level starts.
    fn nested<T>(&self, at: usize, read: impl FnOnce() -> Result<T, Diag>) -> Result<T, Diag> {
        let level = self.nesting.get() + 1;
        if level > MAX_READ_NESTING {
            return Err(too_deep(self.span_at(at, at)));
        }
        self.nesting.set(level);
        let read = read();
        self.nesting.set(level - 1);
        read
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Spanned::new(pair.as_str().to_string(), self.span(&pair))
    }

    fn next<'i>(&self, pairs: &mut Pairs<'i, Rule>) -> Result<Pair<'i, Rule>, Diag> {
        pairs.next().ok_or_else(|| internal(self.file))
    }

    /// Where a declaration or clause that ends with `expr` ends. This is the end of the
    /// expression and the blanks and comments after it, except that a postfix operator on the
    /// last operand of an infix chain ends it at its last character. (The spans of items and
    /// clauses, and with them the formatter's blank lines and what `explain` shows, have always
    /// been cut this way; they stay so.)
    fn expr_end(&self, expr: &Pair<'_, Rule>) -> usize {
        let mut infix = false;
        let mut last = None;
        for child in expr.clone().into_inner() {
            infix |= child.as_rule() == Rule::infix;
            last = Some(child);
        }
        match last {
            Some(p) if infix && p.as_rule() == Rule::postfix => postfix_end(&p),
            _ => expr.as_span().end(),
        }
    }

    fn lower_file(&self, pair: Pair<'_, Rule>) -> Result<File, Vec<Diag>> {
        let mut errors = Vec::new();
        let mut pack = None;
        let mut items = Vec::new();
        for child in pair.into_inner() {
            let result = match child.as_rule() {
                Rule::pack_decl => self.lower_pack(child).map(|p| pack = Some(p)),
                Rule::fact_decl => self.lower_fact(child).map(|f| items.push(Item::Fact(f))),
                Rule::input_decl => self.lower_input(child).map(|i| items.push(Item::Input(i))),
                Rule::let_decl => self.lower_let(child).map(|l| items.push(Item::Let(l))),
                Rule::rule_decl => match self.lower_rule(child) {
                    Ok(r) => {
                        items.push(Item::Rule(r));
                        Ok(())
                    }
                    Err(mut es) => {
                        errors.append(&mut es);
                        Ok(())
                    }
                },
                _ => Ok(()),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        match pack {
            Some(pack) if errors.is_empty() => Ok(File { pack, items }),
            Some(_) => Err(errors),
            None => {
                errors.push(internal(self.file));
                Err(errors)
            }
        }
    }

    fn lower_pack(&self, pair: Pair<'_, Rule>) -> Result<PackDecl, Diag> {
        let start = pair.as_span().start();
        let mut inner = pair.into_inner();
        let name_pair = self.next(&mut inner)?;
        let mut end = name_pair.as_span().end();
        let name = self.ident(name_pair);
        let description = match inner.next() {
            Some(s) => {
                end = s.as_span().end();
                Some(self.lower_string(s)?)
            }
            None => None,
        };
        Ok(PackDecl {
            name,
            description,
            span: self.span_at(start, end),
        })
    }

    fn lower_fact(&self, pair: Pair<'_, Rule>) -> Result<FactDecl, Diag> {
        let start = pair.as_span().start();
        let mut inner = pair.into_inner();
        let path_pair = self.next(&mut inner)?;
        let path = Spanned::new(
            path_pair.as_str().split('.').map(str::to_string).collect(),
            self.span(&path_pair),
        );
        let ty_pair = self.next(&mut inner)?;
        let mut end = ty_pair.as_span().end();
        let ty = self.lower_type(ty_pair)?;
        let default = match inner.next() {
            Some(p) => {
                end = self.expr_end(&p);
                Some(self.lower_expr(p)?.0)
            }
            None => None,
        };
        Ok(FactDecl {
            path,
            ty,
            default,
            span: self.span_at(start, end),
        })
    }

    fn lower_input(&self, pair: Pair<'_, Rule>) -> Result<InputDecl, Diag> {
        let start = pair.as_span().start();
        let mut inner = pair.into_inner();
        let name = self.ident(self.next(&mut inner)?);
        let ty = self.lower_type(self.next(&mut inner)?)?;
        let default_pair = self.next(&mut inner)?;
        let end = self.expr_end(&default_pair);
        let default = self.lower_expr(default_pair)?.0;
        Ok(InputDecl {
            name,
            ty,
            default,
            span: self.span_at(start, end),
        })
    }

    fn lower_let(&self, pair: Pair<'_, Rule>) -> Result<LetDecl, Diag> {
        let start = pair.as_span().start();
        let mut inner = pair.into_inner();
        let name = self.ident(self.next(&mut inner)?);
        let mut body_pair = self.next(&mut inner)?;
        let mut params = None;
        if body_pair.as_rule() == Rule::params {
            let mut list = Vec::new();
            for param in body_pair.into_inner() {
                let mut parts = param.into_inner();
                let pname = self.ident(self.next(&mut parts)?);
                let ty = self.lower_type(self.next(&mut parts)?)?;
                list.push(Param { name: pname, ty });
            }
            params = Some(list);
            body_pair = self.next(&mut inner)?;
        }
        let end = self.expr_end(&body_pair);
        let body = self.lower_expr(body_pair)?.0;
        Ok(LetDecl {
            name,
            params,
            body,
            span: self.span_at(start, end),
        })
    }

    fn lower_rule(&self, pair: Pair<'_, Rule>) -> Result<RuleDecl, Vec<Diag>> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = match inner.next() {
            Some(p) if p.as_rule() == Rule::rule_name => self.ident(p),
            _ => return Err(vec![internal(self.file)]),
        };
        let mut clauses = Vec::new();
        let mut errors = Vec::new();
        for child in inner {
            match self.lower_clause(child) {
                Ok(c) => clauses.push(c),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(RuleDecl {
                name,
                clauses,
                span,
            })
        } else {
            Err(errors)
        }
    }

    fn lower_clause(&self, pair: Pair<'_, Rule>) -> Result<Clause, Diag> {
        let start = pair.as_span().start();
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let first = self.next(&mut inner)?;
        // A clause reads the blanks after it; its span ends at its last token.
        let mut end = first.as_span().end();
        let kind = match rule {
            Rule::title_clause => ClauseKind::Title(self.lower_string(first)?),
            Rule::severity_clause => ClauseKind::Severity(self.ident(first)),
            Rule::controls_clause => ClauseKind::Controls(self.lower_string_list(first)?),
            Rule::tags_clause => ClauseKind::Tags(self.lower_string_list(first)?),
            Rule::help_clause => ClauseKind::Help(self.lower_string(first)?),
            Rule::docs_clause => ClauseKind::Docs(self.lower_string(first)?),
            Rule::when_clause => {
                end = self.expr_end(&first);
                ClauseKind::When(self.lower_expr(first)?.0)
            }
            Rule::require_clause => {
                end = self.expr_end(&first);
                let expr = self.lower_expr(first)?.0;
                let message = match inner.next() {
                    Some(else_clause) => {
                        let s = self.next(&mut else_clause.into_inner())?;
                        end = s.as_span().end();
                        Some(self.lower_template(s)?)
                    }
                    None => None,
                };
                ClauseKind::Require { expr, message }
            }
            _ => return Err(internal(self.file)),
        };
        Ok(Clause {
            kind,
            span: self.span_at(start, end),
        })
    }

    fn lower_string_list(&self, pair: Pair<'_, Rule>) -> Result<Vec<Spanned<String>>, Diag> {
        pair.into_inner().map(|s| self.lower_string(s)).collect()
    }

    /// A string literal, with its escapes resolved.
    fn lower_string(&self, pair: Pair<'_, Rule>) -> Result<Spanned<String>, Diag> {
        let span = self.span(&pair);
        let inner = self.next(&mut pair.into_inner())?;
        if inner.as_rule() == Rule::hole_string_inner {
            return Ok(Spanned::new(inner.as_str().to_string(), span));
        }
        let start = self.base + inner.as_span().start();
        let value = unescape_string(self.file, inner.as_str(), start)?;
        Ok(Spanned::new(value, span))
    }

    /// A message template: text with `{expr}` holes; `{{` and `}}` stand for braces.
    fn lower_template(&self, pair: Pair<'_, Rule>) -> Result<Template, Diag> {
        let span = self.span(&pair);
        let inner = self.next(&mut pair.into_inner())?;
        let start = self.base + inner.as_span().start();
        let parts = template_parts(self.file, inner.as_str(), start, |hole, at| {
            parse_template_expr(self.text, hole, self.file, at)
        })?;
        Ok(Template { parts, span })
    }

    fn lower_type(&self, pair: Pair<'_, Rule>) -> Result<TypeExpr, Diag> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::named_type => {
                TypeExprKind::Named(self.next(&mut pair.into_inner())?.as_str().to_string())
            }
            Rule::list_type => TypeExprKind::List(Box::new(
                self.lower_type(self.next(&mut pair.into_inner())?)?,
            )),
            Rule::record_type => {
                let mut fields = Vec::new();
                for field in pair.into_inner() {
                    let mut parts = field.into_inner();
                    let name = self.ident(self.next(&mut parts)?);
                    let ty = self.lower_type(self.next(&mut parts)?)?;
                    fields.push((name, ty));
                }
                TypeExprKind::Record(fields)
            }
            _ => return Err(internal(self.file)),
        };
        Ok(TypeExpr { kind, span })
    }

    fn lower_expr(&self, pair: Pair<'_, Rule>) -> Lowered {
        self.nested(pair.as_span().start(), || {
            let pairs = pair.into_inner();
            self.check_prefix_runs(pairs.clone())?;
            self.climb(&mut pairs.peekable(), 0)
        })
    }

    fn check_prefix_runs(&self, pairs: Pairs<'_, Rule>) -> Result<(), Diag> {
        let mut run = 0;
        for p in pairs {
            if p.as_rule() == Rule::prefix {
                run += 1;
                if run > MAX_PREFIX_RUN {
                    return Err(too_many_prefixes(prefix_op(&p, self).1));
                }
            } else {
                run = 0;
            }
        }
        Ok(())
    }

    /// Precedence climbing over one expression's run of operands and operators: an operand,
    /// then every operator that binds tighter than `min`, each with its right operand.
    fn climb<'i>(&self, pairs: &mut Peekable<Pairs<'i, Rule>>, min: u8) -> Lowered {
        let mut lhs = self.operand(pairs)?;
        loop {
            let (prec, infix) = match pairs.peek() {
                Some(p) if p.as_rule() == Rule::postfix => (prec::POSTFIX, None),
                Some(p) if p.as_rule() == Rule::infix => {
                    let op = InfixOp::of(p.as_str());
                    (op.prec(), Some(op))
                }
                _ => return Ok(lhs),
            };
            if prec <= min {
                return Ok(lhs);
            }
            let op = pairs.next().ok_or_else(|| internal(self.file))?;
            lhs = match infix {
                None => self.lower_postfix(lhs, op)?,
                Some(infix) => {
                    let rhs = self.nested(op.as_span().end(), || self.climb(pairs, prec))?;
                    infix_node(lhs, infix, self.span(&op), rhs)?
                }
            };
        }
    }

    /// One operand: its prefix operators (each applied to what binds tighter than itself) or
    /// its primary.
    fn operand<'i>(&self, pairs: &mut Peekable<Pairs<'i, Rule>>) -> Lowered {
        let pair = pairs.next().ok_or_else(|| internal(self.file))?;
        match pair.as_rule() {
            Rule::prefix => {
                let (op, op_span) = prefix_op(&pair, self);
                let prec = match op {
                    UnaryOp::Not => prec::NOT,
                    UnaryOp::Neg => prec::NEG,
                };
                let operand = self.nested(pair.as_span().end(), || self.climb(pairs, prec - 1))?;
                prefix_node(op, op_span, operand)
            }
            Rule::ident => match pairs.next_if(|p| p.as_rule() == Rule::call_args) {
                Some(args) => {
                    let span = self.span_at(pair.as_span().start(), args.as_span().end());
                    let func = self.ident(pair);
                    let mut list = Vec::new();
                    let mut depth = 0;
                    for p in args.into_inner() {
                        let (e, d) = self.lower_expr(p)?;
                        depth = depth.max(d);
                        list.push(e);
                    }
                    let kind = ExprKind::Call { func, args: list };
                    deeper(Expr { kind, span }, depth + 1)
                }
                None => {
                    let span = self.span(&pair);
                    let kind = ExprKind::Name(pair.as_str().to_string());
                    Ok((Expr { kind, span }, 1))
                }
            },
            _ => self.lower_primary(pair),
        }
    }

    fn lower_primary(&self, pair: Pair<'_, Rule>) -> Lowered {
        let span = self.span(&pair);
        let expr = |kind| Expr { kind, span };
        match pair.as_rule() {
            Rule::boolean => Ok((expr(ExprKind::Bool(pair.as_str() == "true")), 1)),
            Rule::integer => match pair.as_str().parse::<i64>() {
                Ok(n) => Ok((expr(ExprKind::Int(n)), 1)),
                Err(_) => Err(Diag::error(codes::INT_RANGE, "integer is too large")
                    .label(span, "does not fit in 64 bits")
                    .help(format!("integers range from {} to {}", i64::MIN, i64::MAX))),
            },
            Rule::string => Ok((expr(ExprKind::Str(self.lower_string(pair)?.node)), 1)),
            Rule::paren => {
                let (e, d) = self.lower_expr(self.next(&mut pair.into_inner())?)?;
                deeper(expr(ExprKind::Paren(Box::new(e))), d + 1)
            }
            Rule::list => {
                let mut inner = pair.into_inner();
                let Some(first) = inner.next() else {
                    return Ok((expr(ExprKind::List(Vec::new())), 1));
                };
                let (first, mut depth) = self.lower_expr(first)?;
                let tail = self.next(&mut inner)?;
                if tail.as_rule() == Rule::comprehension {
                    let mut parts = tail.into_inner();
                    let var = self.ident(self.next(&mut parts)?);
                    let _in = self.next(&mut parts)?;
                    let (source, sd) = self.lower_expr(self.next(&mut parts)?)?;
                    depth = depth.max(sd);
                    let filter = match parts.next() {
                        Some(f) => {
                            let (f, fd) = self.lower_expr(self.next(&mut f.into_inner())?)?;
                            depth = depth.max(fd);
                            Some(Box::new(f))
                        }
                        None => None,
                    };
                    let kind = ExprKind::Comprehension {
                        element: Box::new(first),
                        var,
                        source: Box::new(source),
                        filter,
                    };
                    return deeper(expr(kind), depth + 1);
                }
                let mut items = vec![first];
                for p in tail.into_inner() {
                    let (e, d) = self.lower_expr(p)?;
                    depth = depth.max(d);
                    items.push(e);
                }
                deeper(expr(ExprKind::List(items)), depth + 1)
            }
            Rule::record => {
                let mut fields = Vec::new();
                let mut depth = 0;
                for field in pair.into_inner() {
                    let mut parts = field.into_inner();
                    let name = self.ident(self.next(&mut parts)?);
                    let (value, d) = self.lower_expr(self.next(&mut parts)?)?;
                    depth = depth.max(d);
                    fields.push((name, value));
                }
                deeper(expr(ExprKind::Record(fields)), depth + 1)
            }
            Rule::quantifier => {
                let start = pair.as_span().start();
                let (quantifier, len) = match pair.as_str().as_bytes().get(..2) {
                    Some(b"al") => (Quantifier::All, 3),
                    Some(b"an") => (Quantifier::Any, 3),
                    Some(b"no") => (Quantifier::None, 4),
                    _ => (Quantifier::Count, 5),
                };
                let kind = Spanned::new(quantifier, self.span_at(start, start + len));
                let mut parts = pair.into_inner();
                let var = self.ident(self.next(&mut parts)?);
                let _in = self.next(&mut parts)?;
                let (source, sd) = self.lower_expr(self.next(&mut parts)?)?;
                let (body, bd) = self.lower_expr(self.next(&mut parts)?)?;
                // The pair runs on over the blanks after its body; end at the body.
                let span = kind.span.to(body.span);
                let expr = |kind| Expr { kind, span };
                let kind = ExprKind::Quantifier {
                    kind,
                    var,
                    source: Box::new(source),
                    body: Box::new(body),
                };
                deeper(expr(kind), sd.max(bd) + 1)
            }
            _ => Err(internal(self.file)),
        }
    }

    fn lower_postfix(&self, lhs: (Expr, u32), op: Pair<'_, Rule>) -> Lowered {
        let op_span = self.span_at(op.as_span().start(), postfix_end(&op));
        let is_test = !op.as_str().starts_with('.');
        let mut negated = false;
        let mut word = None;
        for p in op.into_inner() {
            match p.as_rule() {
                Rule::op_not => negated = true,
                _ => word = Some(self.ident(p)),
            }
        }
        let word = word.ok_or_else(|| internal(self.file))?;
        postfix_node(lhs, op_span, is_test, negated, word)
    }
}

/// A `prefix` pair's operator and the span of the operator alone (the pair also holds the
/// blanks after it).
fn prefix_op(pair: &Pair<'_, Rule>, lowerer: &Lowerer<'_>) -> (UnaryOp, Span) {
    let start = pair.as_span().start();
    if pair.as_str().starts_with('-') {
        (UnaryOp::Neg, lowerer.span_at(start, start + 1))
    } else {
        (UnaryOp::Not, lowerer.span_at(start, start + "not".len()))
    }
}

/// Where a `postfix` pair's operator ends: at its last name, before the blanks it also holds.
fn postfix_end(pair: &Pair<'_, Rule>) -> usize {
    pair.clone()
        .into_inner()
        .last()
        .map_or(pair.as_span().end(), |p| p.as_span().end())
}

// ---------------------------------------------------------------- pest errors to diagnostics

/// Our pest adapter: the exact position, what was found there and what was expected, in words.
fn syntax_error(err: &pest::error::Error<Rule>, text: &str, file: FileId, base: usize) -> Diag {
    let (start, end) = match err.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    let (found, found_end) = describe_found(text, start);
    let end = end.max(found_end);
    let mut expected: BTreeSet<&'static str> = BTreeSet::new();
    match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            for rule in positives {
                if let Some(words) = describe_rule(*rule) {
                    expected.insert(words);
                }
            }
        }
        ErrorVariant::CustomError { message } => {
            let span = Span::new(file, base + start, base + end);
            return Diag::error(codes::SYNTAX, message.clone()).label(span, "here");
        }
    }
    if let Some(attempts) = err.parse_attempts() {
        for token in attempts.expected_tokens() {
            // pest does not export the token type; its Display is the literal text.
            if let Some(words) = describe_token(&token.to_string()) {
                expected.insert(words);
            }
        }
    }
    let expected: Vec<&str> = expected.into_iter().collect();
    let wanted = join_or(&expected);
    let span = Span::new(file, base + start, base + end);
    let message = if wanted.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {wanted}, found {found}")
    };
    let mut diag = Diag::error(codes::SYNTAX, message).label(
        span,
        if wanted.is_empty() {
            "not valid here".to_string()
        } else {
            format!("expected {wanted}")
        },
    );
    if let Some(help) = syntax_help(text, start, &expected) {
        diag = diag.help(help);
    }
    diag
}

fn describe_found(text: &str, at: usize) -> (String, usize) {
    let rest = text.get(at..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("the end of the file".to_string(), at);
    };
    if first.is_alphanumeric() || first == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let len = word.len();
        return (format!("`{word}`"), at + len);
    }
    if first == '\n' || first == '\r' {
        return ("the end of the line".to_string(), at);
    }
    (format!("`{first}`"), at + first.len_utf8())
}

fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "the end of the file",
        Rule::pack_decl => "`pack`",
        Rule::fact_decl => "`fact`",
        Rule::let_decl => "`let`",
        Rule::input_decl => "`input`",
        Rule::rule_decl => "`rule`",
        Rule::title_clause => "`title`",
        Rule::severity_clause => "`severity`",
        Rule::controls_clause => "`controls`",
        Rule::tags_clause => "`tags`",
        Rule::help_clause => "`help`",
        Rule::docs_clause => "`docs`",
        Rule::when_clause => "`when`",
        Rule::require_clause => "`require`",
        Rule::else_clause => "`else`",
        Rule::comprehension => "`for`",
        Rule::list_filter => "`if`",
        Rule::params => "parameters",
        Rule::expr
        | Rule::template_expr
        | Rule::paren
        | Rule::list
        | Rule::record
        | Rule::boolean
        | Rule::integer
        | Rule::prefix
        | Rule::op_not => "an expression",
        Rule::quantifier => "a quantifier",
        Rule::string | Rule::string_inner | Rule::hole_string_inner => "a string",
        Rule::string_list => "a list of strings",
        Rule::ident | Rule::named_type => "a name",
        Rule::rule_name => "a rule name",
        Rule::dotted_name => "a fact path such as `exchange.stores`",
        Rule::list_type | Rule::record_type | Rule::field_type => "a type",
        Rule::postfix | Rule::infix | Rule::op_in => "an operator",
        _ => return None,
    })
}

fn describe_token(token: &str) -> Option<&'static str> {
    Some(match token {
        "}" => "`}`",
        "]" => "`]`",
        ")" => "`)`",
        "{" => "`{`",
        "[" => "`[`",
        "(" => "`(`",
        ":" => "`:`",
        "," => "`,`",
        "=" => "`=`",
        "\"" => "a string",
        _ => return None,
    })
}

fn syntax_help(text: &str, at: usize, expected: &[&str]) -> Option<String> {
    let rest = text.get(at..).unwrap_or("");
    if rest.starts_with('\'') {
        return Some("strings use double quotes: \"like this\"".to_string());
    }
    if rest.starts_with("&&") || rest.starts_with("||") {
        return Some("write `and` and `or` instead of `&&` and `||`".to_string());
    }
    if rest.starts_with('!') && !rest.starts_with("!=") {
        return Some("write `not x` instead of `!x`".to_string());
    }
    if rest.starts_with('=') && !rest.starts_with("==") && expected.contains(&"an operator") {
        return Some("compare with `==`; a single `=` only names a definition".to_string());
    }
    if expected.contains(&"`rule`") && rest.starts_with('}') {
        return Some("this `}` has no `{` to close".to_string());
    }
    None
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> File {
        match parse_file(text, FileId(0)) {
            Ok(f) => f,
            Err(e) => panic!("{e:#?}"),
        }
    }

    fn first_let(text: &str) -> Expr {
        match &parse(&format!("pack p\nlet x = {text}")).items[0] {
            Item::Let(l) => l.body.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence_binds_comparison_tighter_than_not_and_and() {
        let e = first_let("not a == 1 and b");
        let ExprKind::Logical {
            op: LogicalOp::And,
            operands,
        } = &e.kind
        else {
            panic!("{e:?}")
        };
        assert!(matches!(operands[0].kind, ExprKind::Unary { .. }));
    }

    #[test]
    fn chained_comparison_is_an_error() {
        let err = parse_file("pack p\nlet x = 1 < 2 < 3", FileId(0)).unwrap_err();
        assert_eq!(err[0].code, codes::CHAINED_OPERATOR);
    }

    #[test]
    fn operators_nested_without_brackets_are_refused_not_overflowed() {
        let text = format!("pack p\nlet x = 1{}", " + not 1".repeat(100_000));
        let err = parse_file(&text, FileId(0)).unwrap_err();
        assert_eq!(err[0].code, codes::TOO_DEEP);
    }

    #[test]
    fn quantifiers_nested_without_brackets_are_refused_not_overflowed() {
        let text = format!("pack p\nlet x = {}true", "all a in b: ".repeat(2_000));
        let err = parse_file(&text, FileId(0)).unwrap_err();
        assert_eq!(err[0].code, codes::TOO_DEEP, "{err:?}");
    }

    #[test]
    fn long_and_chains_stay_flat() {
        let chain = vec!["a"; 5000].join(" and ");
        let e = first_let(&chain);
        let ExprKind::Logical { operands, .. } = &e.kind else {
            panic!()
        };
        assert_eq!(operands.len(), 5000);
    }
}
