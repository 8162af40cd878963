//! pest pairs to the typed AST, one `lower_*` function per grammar rule, operator precedence,
//! and our own pest → diagnostic adapter.

use std::collections::BTreeSet;
use std::iter::Peekable;

use pest::Parser;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};

use super::ast::*;
use super::{MAX_EXPR_DEPTH, check_nesting, codes};
use crate::diag::Diag;
use crate::source::{FileId, Span, Spanned};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/expolicy.pest"]
struct ExpolicyParser;

/// Prefix operators in a row beyond this are refused: each one nests the expression a level.
const MAX_PREFIX_RUN: usize = 32;
/// Operators that nest deeper than this while their operands are being read are refused before
/// the parser's recursion runs out of stack (`1 + not 1 + not 1 …` nests without brackets).
/// Each such level is a level of the tree, so anything this deep is over [`MAX_EXPR_DEPTH`]
/// anyway; the margin keeps the usual diagnostic, at the level that went over, for all but
/// absurd inputs.
const MAX_OPERATOR_NESTING: u32 = 2 * MAX_EXPR_DEPTH;

/// Binding powers, lowest first: `implies`, `or`, `and`, prefix `not`, comparisons, ranges,
/// `+ -`, `* / %`, prefix `-`, postfix `.field` and `is`. Every infix operator is
/// left-associative.
mod prec {
    pub const IMPLIES: u8 = 10;
    pub const OR: u8 = 20;
    pub const AND: u8 = 30;
    pub const NOT: u8 = 40;
    pub const COMPARE: u8 = 50;
    pub const RANGE: u8 = 60;
    pub const ADD: u8 = 70;
    pub const MUL: u8 = 80;
    pub const NEG: u8 = 90;
    pub const POSTFIX: u8 = 100;
}

/// What one `infix` token is.
#[derive(Clone, Copy)]
enum InfixOp {
    Logical(LogicalOp),
    Binary(BinaryOp),
}

impl InfixOp {
    /// Reads the operator from its text, which the grammar guarantees is one of them.
    fn of(text: &str) -> InfixOp {
        let b = text.as_bytes();
        let second = b.get(1).copied();
        InfixOp::Binary(match b.first().copied() {
            Some(b'=') => BinaryOp::Eq,
            Some(b'!') => BinaryOp::Ne,
            Some(b'<') if second == Some(b'=') => BinaryOp::Le,
            Some(b'<') => BinaryOp::Lt,
            Some(b'>') if second == Some(b'=') => BinaryOp::Ge,
            Some(b'>') => BinaryOp::Gt,
            Some(b'.') if b.len() == 3 => BinaryOp::RangeInclusive,
            Some(b'.') => BinaryOp::Range,
            Some(b'+') => BinaryOp::Add,
            Some(b'-') => BinaryOp::Sub,
            Some(b'*') => BinaryOp::Mul,
            Some(b'/') => BinaryOp::Div,
            Some(b'%') => BinaryOp::Mod,
            Some(b'a') => return InfixOp::Logical(LogicalOp::And),
            Some(b'o') => return InfixOp::Logical(LogicalOp::Or),
            Some(b'i') if second == Some(b'm') => BinaryOp::Implies,
            Some(b'i') => BinaryOp::In,
            Some(b'n') => BinaryOp::NotIn,
            Some(b'd') if skip_blanks(text, "depends".len()).starts_with("directly") => {
                BinaryOp::DependsDirectlyOn
            }
            Some(b'd') => BinaryOp::DependsOn,
            Some(b's') => BinaryOp::StartsBefore,
            _ => BinaryOp::RunsAs,
        })
    }

    fn prec(self) -> u8 {
        match self {
            InfixOp::Logical(LogicalOp::Or) => prec::OR,
            InfixOp::Logical(LogicalOp::And) => prec::AND,
            InfixOp::Binary(op) => match op {
                BinaryOp::Implies => prec::IMPLIES,
                BinaryOp::Range | BinaryOp::RangeInclusive => prec::RANGE,
                BinaryOp::Add | BinaryOp::Sub => prec::ADD,
                BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => prec::MUL,
                _ => prec::COMPARE,
            },
        }
    }
}

/// The rest of `text` from byte `from` on, after blanks and `#` comments.
fn skip_blanks(text: &str, from: usize) -> &str {
    let mut rest = text.get(from..).unwrap_or("");
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        match trimmed.strip_prefix('#') {
            Some(comment) => rest = comment.trim_start_matches(|c| c != '\n' && c != '\r'),
            None => return trimmed,
        }
    }
}

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
    fn span_at(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.base + start, self.base + end)
    }

    /// The span of a pair that ends at its last character (see the grammar's header).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        self.span_at(s.start(), s.end())
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
        let raw = inner.as_str();
        if !raw.contains('\\') {
            return Ok(Spanned::new(raw.to_string(), span));
        }
        let start = self.base + inner.as_span().start();
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
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
        let pairs = pair.into_inner();
        self.check_prefix_runs(pairs.clone())?;
        self.climb(&mut pairs.peekable(), 0, 0)
    }

    fn check_prefix_runs(&self, pairs: Pairs<'_, Rule>) -> Result<(), Diag> {
        let mut run = 0;
        for p in pairs {
            if p.as_rule() == Rule::prefix {
                run += 1;
                if run > MAX_PREFIX_RUN {
                    return Err(Diag::error(
                        codes::TOO_DEEP,
                        format!("more than {MAX_PREFIX_RUN} prefix operators in a row"),
                    )
                    .label(prefix_op(&p, self).1, "one too many")
                    .help("`not not x` is `x`: remove the pairs"));
                }
            } else {
                run = 0;
            }
        }
        Ok(())
    }

    /// Precedence climbing over one expression's run of operands and operators: an operand,
    /// then every operator that binds tighter than `min`, each with its right operand.
    fn climb<'i>(&self, pairs: &mut Peekable<Pairs<'i, Rule>>, min: u8, nesting: u32) -> Lowered {
        if nesting > MAX_OPERATOR_NESTING {
            let at = pairs
                .peek()
                .map_or(Span::new(self.file, 0, 0), |p| self.span(p));
            return Err(Diag::error(
                codes::TOO_DEEP,
                format!("expression nests more than {MAX_EXPR_DEPTH} levels deep"),
            )
            .label(at, "this expression is too deep")
            .help("split it into named `let` definitions"));
        }
        let mut lhs = self.operand(pairs, nesting)?;
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
                    let rhs = self.climb(pairs, prec, nesting + 1)?;
                    self.lower_infix(lhs, infix, self.span(&op), rhs)?
                }
            };
        }
    }

    /// One operand: its prefix operators (each applied to what binds tighter than itself) or
    /// its primary.
    fn operand<'i>(&self, pairs: &mut Peekable<Pairs<'i, Rule>>, nesting: u32) -> Lowered {
        let pair = pairs.next().ok_or_else(|| internal(self.file))?;
        match pair.as_rule() {
            Rule::prefix => {
                let (op, op_span) = prefix_op(&pair, self);
                let prec = match op {
                    UnaryOp::Not => prec::NOT,
                    UnaryOp::Neg => prec::NEG,
                };
                let (operand, depth) = self.climb(pairs, prec - 1, nesting + 1)?;
                let span = op_span.to(operand.span);
                let kind = ExprKind::Unary {
                    op: Spanned::new(op, op_span),
                    operand: Box::new(operand),
                };
                self.deeper(Expr { kind, span }, depth + 1)
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
                    self.deeper(Expr { kind, span }, depth + 1)
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
            Rule::paren => {
                let (e, d) = self.lower_expr(self.next(&mut pair.into_inner())?)?;
                self.deeper(expr(ExprKind::Paren(Box::new(e))), d + 1)
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
                    let name = self.ident(self.next(&mut parts)?);
                    let (value, d) = self.lower_expr(self.next(&mut parts)?)?;
                    depth = depth.max(d);
                    fields.push((name, value));
                }
                self.deeper(expr(ExprKind::Record(fields)), depth + 1)
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
                self.deeper(expr(kind), sd.max(bd) + 1)
            }
            _ => Err(internal(self.file)),
        }
    }

    fn lower_postfix(&self, lhs: (Expr, u32), op: Pair<'_, Rule>) -> Lowered {
        let (base, depth) = lhs;
        let op_span = self.span_at(op.as_span().start(), postfix_end(&op));
        let span = base.span.to(op_span);
        let field_access = op.as_str().starts_with('.');
        let mut negated = false;
        let mut word = None;
        for p in op.into_inner() {
            match p.as_rule() {
                Rule::op_not => negated = true,
                _ => word = Some(self.ident(p)),
            }
        }
        let word = word.ok_or_else(|| internal(self.file))?;
        let kind = if field_access {
            ExprKind::Field {
                base: Box::new(base),
                field: word,
            }
        } else {
            ExprKind::Is {
                base: Box::new(base),
                negated,
                word,
            }
        };
        self.deeper(Expr { kind, span }, depth + 1)
    }

    fn lower_infix(
        &self,
        lhs: (Expr, u32),
        op: InfixOp,
        op_span: Span,
        rhs: (Expr, u32),
    ) -> Lowered {
        let (lhs, ld) = lhs;
        let (rhs, rd) = rhs;
        let span = lhs.span.to(rhs.span);
        let op = match op {
            InfixOp::Logical(lop) => {
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
            InfixOp::Binary(op) => op,
        };
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
    fn long_and_chains_stay_flat() {
        let chain = vec!["a"; 5000].join(" and ");
        let e = first_let(&chain);
        let ExprKind::Logical { operands, .. } = &e.kind else {
            panic!()
        };
        assert_eq!(operands.len(), 5000);
    }
}
