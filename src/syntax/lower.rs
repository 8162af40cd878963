//! pest pairs to the typed AST, one `lower_*` function per grammar rule, and our own pest →
//! diagnostic adapter.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::{MAX_EXPR_DEPTH, check_nesting, codes};
use crate::diag::Diag;
use crate::source::{FileId, Span, Spanned};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/expolicy.pest"]
struct ExpolicyParser;

/// Every operator level, lowest precedence first.
static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_implies, Assoc::Left))
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_in, Assoc::Left)
            | Op::infix(Rule::op_not_in, Assoc::Left)
            | Op::infix(Rule::op_depends_on, Assoc::Left)
            | Op::infix(Rule::op_depends_directly_on, Assoc::Left)
            | Op::infix(Rule::op_starts_before, Assoc::Left)
            | Op::infix(Rule::op_runs_as, Assoc::Left))
        .op(Op::infix(Rule::op_range, Assoc::Left) | Op::infix(Rule::op_range_incl, Assoc::Left))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left)
            | Op::infix(Rule::op_div, Assoc::Left)
            | Op::infix(Rule::op_mod, Assoc::Left))
        .op(Op::prefix(Rule::op_neg))
        .op(Op::postfix(Rule::field_access) | Op::postfix(Rule::is_test))
});

/// Prefix operators in a row beyond this are refused: pest's Pratt parser recurses on each.
const MAX_PREFIX_RUN: usize = 32;

/// Parses one policy file. Lowering keeps going after an error in one item, so that every
/// problem in the file is reported in one run.
pub fn parse_file(text: &str, file: FileId) -> Result<File, Vec<Diag>> {
    check_nesting(text, file).map_err(|d| vec![d])?;
    let mut pairs =
        parse_rule(Rule::file, text).map_err(|e| vec![syntax_error(&e, text, file, 0)])?;
    let lowerer = Lowerer {
        file,
        base: 0,
        text,
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
    let lowerer = Lowerer { file, base, text };
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

type Lowered = Result<(Expr, u32), Diag>;

struct Lowerer<'t> {
    file: FileId,
    /// Byte offset of the parsed text within the file (non-zero for template holes).
    base: usize,
    /// The whole file, for template holes that need their surroundings.
    text: &'t str,
}

impl<'t> Lowerer<'t> {
    /// The pair's span without the whitespace and comments pest skipped at its end (pest keeps
    /// them when a trailing `x*` or `x?` matched nothing).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let (start, end) = (s.start(), s.end());
        let last_child_end = pair
            .clone()
            .into_inner()
            .last()
            .map_or(start, |p| p.as_span().end());
        let text = s.get_input().as_bytes();
        let mut i = last_child_end.max(start);
        let mut content_end = i;
        while i < end {
            match text[i] {
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b'#' => {
                    while i < end && text[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => {
                    i += 1;
                    content_end = i;
                }
            }
        }
        Span::new(self.file, self.base + start, self.base + content_end)
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Spanned::new(pair.as_str().to_string(), self.span(&pair))
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
        let span = self.span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_pack);
        let name = self.ident(inner.next().ok_or_else(|| internal(self.file))?);
        let description = inner.next().map(|s| self.lower_string(s)).transpose()?;
        Ok(PackDecl {
            name,
            description,
            span,
        })
    }

    fn lower_fact(&self, pair: Pair<'_, Rule>) -> Result<FactDecl, Diag> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_fact);
        let path_pair = inner.next().ok_or_else(|| internal(self.file))?;
        let path = Spanned::new(
            path_pair.as_str().split('.').map(str::to_string).collect(),
            self.span(&path_pair),
        );
        let ty = self.lower_type(inner.next().ok_or_else(|| internal(self.file))?)?;
        let default = inner.next().map(|p| self.lower_expr(p)).transpose()?;
        Ok(FactDecl {
            path,
            ty,
            default: default.map(|(e, _)| e),
            span,
        })
    }

    fn lower_input(&self, pair: Pair<'_, Rule>) -> Result<InputDecl, Diag> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().filter(|p| p.as_rule() != Rule::kw_input);
        let name = self.ident(inner.next().ok_or_else(|| internal(self.file))?);
        let ty = self.lower_type(inner.next().ok_or_else(|| internal(self.file))?)?;
        let default = self
            .lower_expr(inner.next().ok_or_else(|| internal(self.file))?)?
            .0;
        Ok(InputDecl {
            name,
            ty,
            default,
            span,
        })
    }

    fn lower_let(&self, pair: Pair<'_, Rule>) -> Result<LetDecl, Diag> {
        let span = self.span(&pair);
        let mut name = None;
        let mut params = None;
        let mut body = None;
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::ident => name = Some(self.ident(child)),
                Rule::params => {
                    let mut list = Vec::new();
                    for param in child.into_inner() {
                        let mut parts = param.into_inner();
                        let pname = self.ident(parts.next().ok_or_else(|| internal(self.file))?);
                        let ty =
                            self.lower_type(parts.next().ok_or_else(|| internal(self.file))?)?;
                        list.push(Param { name: pname, ty });
                    }
                    params = Some(list);
                }
                Rule::expr => body = Some(self.lower_expr(child)?.0),
                _ => {}
            }
        }
        match (name, body) {
            (Some(name), Some(body)) => Ok(LetDecl {
                name,
                params,
                body,
                span,
            }),
            _ => Err(internal(self.file)),
        }
    }

    fn lower_rule(&self, pair: Pair<'_, Rule>) -> Result<RuleDecl, Vec<Diag>> {
        let span = self.span(&pair);
        let mut name = None;
        let mut clauses = Vec::new();
        let mut errors = Vec::new();
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::kw_rule => {}
                Rule::rule_name => {
                    name = Some(Spanned::new(child.as_str().to_string(), self.span(&child)))
                }
                _ => match self.lower_clause(child) {
                    Ok(c) => clauses.push(c),
                    Err(e) => errors.push(e),
                },
            }
        }
        match name {
            Some(name) if errors.is_empty() => Ok(RuleDecl {
                name,
                clauses,
                span,
            }),
            _ => {
                if errors.is_empty() {
                    errors.push(internal(self.file));
                }
                Err(errors)
            }
        }
    }

    fn lower_clause(&self, pair: Pair<'_, Rule>) -> Result<Clause, Diag> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        // The first child is always the clause keyword.
        let mut inner = pair.into_inner().skip(1);
        let mut next = || inner.next().ok_or_else(|| internal(self.file));
        let kind = match rule {
            Rule::title_clause => ClauseKind::Title(self.lower_string(next()?)?),
            Rule::severity_clause => ClauseKind::Severity(self.ident(next()?)),
            Rule::controls_clause => ClauseKind::Controls(self.lower_string_list(next()?)?),
            Rule::tags_clause => ClauseKind::Tags(self.lower_string_list(next()?)?),
            Rule::help_clause => ClauseKind::Help(self.lower_string(next()?)?),
            Rule::docs_clause => ClauseKind::Docs(self.lower_string(next()?)?),
            Rule::when_clause => ClauseKind::When(self.lower_expr(next()?)?.0),
            Rule::require_clause => {
                let expr = self.lower_expr(next()?)?.0;
                let message = match inner.next() {
                    // skip `else`
                    Some(_) => {
                        let s = inner.next().ok_or_else(|| internal(self.file))?;
                        Some(self.lower_template(s)?)
                    }
                    None => None,
                };
                ClauseKind::Require { expr, message }
            }
            _ => return Err(internal(self.file)),
        };
        Ok(Clause { kind, span })
    }

    fn lower_string_list(&self, pair: Pair<'_, Rule>) -> Result<Vec<Spanned<String>>, Diag> {
        pair.into_inner().map(|s| self.lower_string(s)).collect()
    }

    /// A string literal, with its escapes resolved.
    fn lower_string(&self, pair: Pair<'_, Rule>) -> Result<Spanned<String>, Diag> {
        let span = self.span(&pair);
        let inner = pair
            .into_inner()
            .next()
            .ok_or_else(|| internal(self.file))?;
        if inner.as_rule() == Rule::hole_string_inner {
            return Ok(Spanned::new(inner.as_str().to_string(), span));
        }
        let start = self.base + inner.as_span().start();
        let mut out = String::with_capacity(inner.as_str().len());
        let mut chars = inner.as_str().char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let (_, escaped) = chars.next().unwrap_or((i + 1, '\\'));
            out.push(self.unescape(escaped, start + i)?);
        }
        Ok(Spanned::new(out, span))
    }

    /// The character that `\` + `escaped` stands for; `at` is the byte of the backslash.
    fn unescape(&self, escaped: char, at: usize) -> Result<char, Diag> {
        match escaped {
            'n' => Ok('\n'),
            't' => Ok('\t'),
            'r' => Ok('\r'),
            '"' | '\\' | '{' | '}' => Ok(escaped),
            other => Err(
                Diag::error(codes::BAD_ESCAPE, format!("unknown escape `\\{other}`"))
                    .label(
                        Span::new(self.file, at, at + 1 + other.len_utf8()),
                        "not a known escape",
                    )
                    .help(r#"the escapes are \" \\ \n \t \r \{ and \}"#),
            ),
        }
    }

    /// A message template: text with `{expr}` holes; `{{` and `}}` stand for braces.
    fn lower_template(&self, pair: Pair<'_, Rule>) -> Result<Template, Diag> {
        let span = self.span(&pair);
        let inner = pair
            .into_inner()
            .next()
            .ok_or_else(|| internal(self.file))?;
        let start = self.base + inner.as_span().start();
        let raw = inner.as_str();
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        let bytes = raw.as_bytes();
        while i < raw.len() {
            let c = bytes[i];
            match c {
                b'\\' => {
                    let escaped = raw[i + 1..].chars().next().unwrap_or('\\');
                    text.push(self.unescape(escaped, start + i)?);
                    i += 1 + escaped.len_utf8();
                }
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    text.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    text.push('}');
                    i += 2;
                }
                b'{' => {
                    let close = find_hole_end(raw, i).ok_or_else(|| {
                        Diag::error(
                            codes::BAD_TEMPLATE,
                            "this `{` opens a hole that is never closed",
                        )
                        .label(
                            Span::new(self.file, start + i, start + i + 1),
                            "unclosed `{`",
                        )
                        .help("close the hole with `}`, or write `{{` for a literal brace")
                    })?;
                    let hole = &raw[i + 1..close];
                    if hole.trim().is_empty() {
                        return Err(Diag::error(codes::BAD_TEMPLATE, "empty `{}` in a message")
                            .label(Span::new(self.file, start + i, start + close + 1), "nothing to show here")
                            .help("put an expression inside, such as `{svc.state}`, or write `{{}}` for braces"));
                    }
                    if !text.is_empty() {
                        parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                    }
                    let expr = parse_template_expr(self.text, hole, self.file, start + i + 1)?;
                    parts.push(TemplatePart::Expr(expr));
                    i = close + 1;
                }
                b'}' => {
                    return Err(Diag::error(codes::BAD_TEMPLATE, "a lone `}` in a message")
                        .label(
                            Span::new(self.file, start + i, start + i + 1),
                            "no hole to close",
                        )
                        .help("write `}}` for a literal brace"));
                }
                _ => {
                    let ch = raw[i..].chars().next().unwrap_or(' ');
                    text.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        if !text.is_empty() {
            parts.push(TemplatePart::Text(text));
        }
        Ok(Template { parts, span })
    }

    fn lower_type(&self, pair: Pair<'_, Rule>) -> Result<TypeExpr, Diag> {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::named_type => {
                let name = pair
                    .into_inner()
                    .next()
                    .ok_or_else(|| internal(self.file))?;
                TypeExprKind::Named(name.as_str().to_string())
            }
            Rule::list_type => {
                let elem = pair
                    .into_inner()
                    .next()
                    .ok_or_else(|| internal(self.file))?;
                TypeExprKind::List(Box::new(self.lower_type(elem)?))
            }
            Rule::record_type => {
                let mut fields = Vec::new();
                for field in pair.into_inner() {
                    let mut parts = field.into_inner();
                    let name = self.ident(parts.next().ok_or_else(|| internal(self.file))?);
                    let ty = self.lower_type(parts.next().ok_or_else(|| internal(self.file))?)?;
                    fields.push((name, ty));
                }
                TypeExprKind::Record(fields)
            }
            _ => return Err(internal(self.file)),
        };
        Ok(TypeExpr { kind, span })
    }

    fn lower_expr(&self, pair: Pair<'_, Rule>) -> Lowered {
        let pairs = pair.into_inner();
        self.check_prefix_runs(pairs.clone())?;
        PRATT
            .map_primary(|p| self.lower_primary(p))
            .map_prefix(|op, rhs| self.lower_prefix(op, rhs))
            .map_postfix(|lhs, op| self.lower_postfix(lhs, op))
            .map_infix(|lhs, op, rhs| self.lower_infix(lhs, op, rhs))
            .parse(pairs)
    }

    fn check_prefix_runs(&self, pairs: Pairs<'_, Rule>) -> Result<(), Diag> {
        let mut run = 0;
        for p in pairs {
            if matches!(p.as_rule(), Rule::op_not | Rule::op_neg) {
                run += 1;
                if run > MAX_PREFIX_RUN {
                    return Err(Diag::error(
                        codes::TOO_DEEP,
                        format!("more than {MAX_PREFIX_RUN} prefix operators in a row"),
                    )
                    .label(self.span(&p), "one too many")
                    .help("`not not x` is `x`: remove the pairs"));
                }
            } else {
                run = 0;
            }
        }
        Ok(())
    }

    fn deeper(&self, expr: Expr, depth: u32) -> Lowered {
        if depth > MAX_EXPR_DEPTH {
            return Err(Diag::error(
                codes::TOO_DEEP,
                format!("expression nests more than {MAX_EXPR_DEPTH} levels deep"),
            )
            .label(expr.span, "this expression is too deep")
            .help("split it into named `let` definitions"));
        }
        Ok((expr, depth))
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
            Rule::ident => Ok((expr(ExprKind::Name(pair.as_str().to_string())), 1)),
            Rule::paren => {
                let inner = pair
                    .into_inner()
                    .next()
                    .ok_or_else(|| internal(self.file))?;
                let (e, d) = self.lower_expr(inner)?;
                self.deeper(expr(ExprKind::Paren(Box::new(e))), d + 1)
            }
            Rule::list => {
                let mut inner = pair.into_inner();
                let Some(first) = inner.next() else {
                    return Ok((expr(ExprKind::List(Vec::new())), 1));
                };
                let (first, mut depth) = self.lower_expr(first)?;
                let tail = inner.next().ok_or_else(|| internal(self.file))?;
                if tail.as_rule() == Rule::comprehension {
                    let mut parts = tail.into_inner().filter(|p| {
                        !matches!(p.as_rule(), Rule::kw_for | Rule::op_in | Rule::kw_if)
                    });
                    let var = self.ident(parts.next().ok_or_else(|| internal(self.file))?);
                    let (source, sd) =
                        self.lower_expr(parts.next().ok_or_else(|| internal(self.file))?)?;
                    depth = depth.max(sd);
                    let filter = match parts.next() {
                        Some(f) => {
                            let (f, fd) = self.lower_expr(f)?;
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
                    return self.deeper(expr(kind), depth + 1);
                }
                let mut items = vec![first];
                for p in tail.into_inner() {
                    let (e, d) = self.lower_expr(p)?;
                    depth = depth.max(d);
                    items.push(e);
                }
                self.deeper(expr(ExprKind::List(items)), depth + 1)
            }
            Rule::record => {
                let mut fields = Vec::new();
                let mut depth = 0;
                for field in pair.into_inner() {
                    let mut parts = field.into_inner();
                    let name = self.ident(parts.next().ok_or_else(|| internal(self.file))?);
                    let (value, d) =
                        self.lower_expr(parts.next().ok_or_else(|| internal(self.file))?)?;
                    depth = depth.max(d);
                    fields.push((name, value));
                }
                self.deeper(expr(ExprKind::Record(fields)), depth + 1)
            }
            Rule::quantifier => {
                let mut parts = pair.into_inner().filter(|p| p.as_rule() != Rule::op_in);
                let kw = parts.next().ok_or_else(|| internal(self.file))?;
                let kind = Spanned::new(
                    match kw.as_str() {
                        "all" => Quantifier::All,
                        "any" => Quantifier::Any,
                        "none" => Quantifier::None,
                        _ => Quantifier::Count,
                    },
                    self.span(&kw),
                );
                let var = self.ident(parts.next().ok_or_else(|| internal(self.file))?);
                let (source, sd) =
                    self.lower_expr(parts.next().ok_or_else(|| internal(self.file))?)?;
                let (body, bd) =
                    self.lower_expr(parts.next().ok_or_else(|| internal(self.file))?)?;
                // The pair runs on over the whitespace after its body; end at the body.
                let span = kind.span.to(body.span);
                let expr = |kind| Expr { kind, span };
                let kind = ExprKind::Quantifier {
                    kind,
                    var,
                    source: Box::new(source),
                    body: Box::new(body),
                };
                self.deeper(expr(kind), sd.max(bd) + 1)
            }
            Rule::call => {
                let mut parts = pair.into_inner();
                let func = self.ident(parts.next().ok_or_else(|| internal(self.file))?);
                let mut args = Vec::new();
                let mut depth = 0;
                for p in parts {
                    let (e, d) = self.lower_expr(p)?;
                    depth = depth.max(d);
                    args.push(e);
                }
                self.deeper(expr(ExprKind::Call { func, args }), depth + 1)
            }
            _ => Err(internal(self.file)),
        }
    }

    fn lower_prefix(&self, op: Pair<'_, Rule>, rhs: Lowered) -> Lowered {
        let (operand, depth) = rhs?;
        let op_span = self.span(&op);
        let op = match op.as_rule() {
            Rule::op_not => UnaryOp::Not,
            _ => UnaryOp::Neg,
        };
        let span = op_span.to(operand.span);
        let kind = ExprKind::Unary {
            op: Spanned::new(op, op_span),
            operand: Box::new(operand),
        };
        self.deeper(Expr { kind, span }, depth + 1)
    }

    fn lower_postfix(&self, lhs: Lowered, op: Pair<'_, Rule>) -> Lowered {
        let (base, depth) = lhs?;
        let op_span = self.span(&op);
        let span = base.span.to(op_span);
        let kind = match op.as_rule() {
            Rule::field_access => {
                let field = op.into_inner().next().ok_or_else(|| internal(self.file))?;
                ExprKind::Field {
                    base: Box::new(base),
                    field: self.ident(field),
                }
            }
            _ => {
                let mut negated = false;
                let mut word = None;
                for p in op.into_inner() {
                    match p.as_rule() {
                        Rule::op_not => negated = true,
                        Rule::ident => word = Some(self.ident(p)),
                        _ => {}
                    }
                }
                ExprKind::Is {
                    base: Box::new(base),
                    negated,
                    word: word.ok_or_else(|| internal(self.file))?,
                }
            }
        };
        self.deeper(Expr { kind, span }, depth + 1)
    }

    fn lower_infix(&self, lhs: Lowered, op: Pair<'_, Rule>, rhs: Lowered) -> Lowered {
        let (lhs, ld) = lhs?;
        let (rhs, rd) = rhs?;
        let op_span = self.span(&op);
        let span = lhs.span.to(rhs.span);
        let logical = match op.as_rule() {
            Rule::op_and => Some(LogicalOp::And),
            Rule::op_or => Some(LogicalOp::Or),
            _ => None,
        };
        if let Some(lop) = logical {
            // Flatten `a and b and c` so that long chains stay shallow.
            return match lhs.kind {
                ExprKind::Logical { op, mut operands } if op == lop => {
                    operands.push(rhs);
                    self.deeper(
                        Expr {
                            kind: ExprKind::Logical { op, operands },
                            span,
                        },
                        ld.max(rd + 1),
                    )
                }
                kind => self.deeper(
                    Expr {
                        kind: ExprKind::Logical {
                            op: lop,
                            operands: vec![
                                Expr {
                                    kind,
                                    span: lhs.span,
                                },
                                rhs,
                            ],
                        },
                        span,
                    },
                    ld.max(rd) + 1,
                ),
            };
        }
        let op = binary_op(op.as_rule()).ok_or_else(|| internal(self.file))?;
        if let ExprKind::Binary { op: inner, .. } = &lhs.kind {
            let chained = (op == BinaryOp::Implies && inner.node == BinaryOp::Implies)
                || (op.is_comparison() && inner.node.is_comparison())
                || (op.is_range() && inner.node.is_range());
            if chained {
                return Err(Diag::error(
                    codes::CHAINED_OPERATOR,
                    format!(
                        "`{}` cannot follow `{}` without parentheses",
                        op.symbol(),
                        inner.node.symbol()
                    ),
                )
                .label(op_span, "second operator here")
                .label(inner.span, "first operator here")
                .help(format!(
                    "say which comes first: `(a {} b) {} c` or `a {} (b {} c)`",
                    inner.node.symbol(),
                    op.symbol(),
                    inner.node.symbol(),
                    op.symbol()
                )));
            }
        }
        let kind = ExprKind::Binary {
            op: Spanned::new(op, op_span),
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        self.deeper(Expr { kind, span }, ld.max(rd) + 1)
    }
}

fn binary_op(rule: Rule) -> Option<BinaryOp> {
    Some(match rule {
        Rule::op_implies => BinaryOp::Implies,
        Rule::op_eq => BinaryOp::Eq,
        Rule::op_ne => BinaryOp::Ne,
        Rule::op_lt => BinaryOp::Lt,
        Rule::op_le => BinaryOp::Le,
        Rule::op_gt => BinaryOp::Gt,
        Rule::op_ge => BinaryOp::Ge,
        Rule::op_in => BinaryOp::In,
        Rule::op_not_in => BinaryOp::NotIn,
        Rule::op_depends_on => BinaryOp::DependsOn,
        Rule::op_depends_directly_on => BinaryOp::DependsDirectlyOn,
        Rule::op_starts_before => BinaryOp::StartsBefore,
        Rule::op_runs_as => BinaryOp::RunsAs,
        Rule::op_range => BinaryOp::Range,
        Rule::op_range_incl => BinaryOp::RangeInclusive,
        Rule::op_add => BinaryOp::Add,
        Rule::op_sub => BinaryOp::Sub,
        Rule::op_mul => BinaryOp::Mul,
        Rule::op_div => BinaryOp::Div,
        Rule::op_mod => BinaryOp::Mod,
        _ => return None,
    })
}

/// The byte index of the `}` that closes the hole opened at `open`, counting nested braces.
fn find_hole_end(raw: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in raw.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
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
        Rule::pack_decl | Rule::kw_pack => "`pack`",
        Rule::fact_decl | Rule::kw_fact => "`fact`",
        Rule::let_decl | Rule::kw_let => "`let`",
        Rule::input_decl | Rule::kw_input => "`input`",
        Rule::rule_decl | Rule::kw_rule => "`rule`",
        Rule::title_clause | Rule::kw_title => "`title`",
        Rule::severity_clause | Rule::kw_severity => "`severity`",
        Rule::controls_clause | Rule::kw_controls => "`controls`",
        Rule::tags_clause | Rule::kw_tags => "`tags`",
        Rule::help_clause | Rule::kw_help => "`help`",
        Rule::docs_clause | Rule::kw_docs => "`docs`",
        Rule::when_clause | Rule::kw_when => "`when`",
        Rule::require_clause | Rule::kw_require => "`require`",
        Rule::kw_else => "`else`",
        Rule::comprehension | Rule::kw_for => "`for`",
        Rule::kw_if => "`if`",
        Rule::params => "parameters",
        Rule::expr
        | Rule::template_expr
        | Rule::paren
        | Rule::list
        | Rule::record
        | Rule::quantifier
        | Rule::call
        | Rule::boolean
        | Rule::integer
        | Rule::op_not
        | Rule::op_neg => "an expression",
        Rule::string | Rule::string_inner | Rule::hole_string_inner => "a string",
        Rule::string_list => "a list of strings",
        Rule::ident | Rule::named_type => "a name",
        Rule::rule_name => "a rule name",
        Rule::dotted_name => "a fact path such as `exchange.stores`",
        Rule::list_type | Rule::record_type | Rule::field_type => "a type",
        Rule::quantifier_kw => "a quantifier",
        Rule::field_access | Rule::is_test => "an operator",
        r if binary_op(r).is_some() || matches!(r, Rule::op_and | Rule::op_or) => "an operator",
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
    fn long_and_chains_stay_flat() {
        let chain = vec!["a"; 5000].join(" and ");
        let e = first_let(&chain);
        let ExprKind::Logical { operands, .. } = &e.kind else {
            panic!()
        };
        assert_eq!(operands.len(), 5000);
    }
}
