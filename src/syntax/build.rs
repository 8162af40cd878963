//! Tree building shared by the two ways a policy is parsed: operator precedence, the nodes that
//! operators make (with their depth limit and the chained-operator check), string escapes and
//! message templates. `lower.rs` builds from pest's pairs, `quick.rs` from the text directly;
//! both must build the same tree.

use super::ast::*;
use super::{MAX_EXPR_DEPTH, codes};
use crate::diag::Diag;
use crate::source::{FileId, Span, Spanned};

/// An expression lowered, with its depth.
pub type Lowered = Result<(Expr, u32), Diag>;

/// Prefix operators in a row beyond this are refused: each one nests the expression a level.
pub const MAX_PREFIX_RUN: usize = 32;
/// Operators and expressions that nest deeper than this while an expression is read (the right
/// operand of `1 + not 1 + not 1 …`, a quantifier's body) are refused before the recursion that
/// reads them runs out of stack. Each such level is a level of the tree, so anything this deep
/// is over [`MAX_EXPR_DEPTH`] anyway; the margin keeps the usual diagnostic, at the level that
/// went over, for all but absurd inputs.
pub const MAX_READ_NESTING: u32 = 2 * MAX_EXPR_DEPTH;

/// Binding powers, lowest first: `implies`, `or`, `and`, prefix `not`, comparisons, ranges,
/// `+ -`, `* / %`, prefix `-`, postfix `.field` and `is`. Every infix operator is
/// left-associative.
pub mod prec {
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

/// What one infix operator is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfixOp {
    Logical(LogicalOp),
    Binary(BinaryOp),
}

impl InfixOp {
    /// Reads the operator from its text, which the grammar's `infix` rule has matched.
    pub fn of(text: &str) -> InfixOp {
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

    pub fn prec(self) -> u8 {
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
pub fn skip_blanks(text: &str, from: usize) -> &str {
    let mut rest = text.get(from..).unwrap_or("");
    loop {
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        match trimmed.strip_prefix('#') {
            Some(comment) => rest = comment.trim_start_matches(|c| c != '\n' && c != '\r'),
            None => return trimmed,
        }
    }
}

pub fn too_deep(at: Span) -> Diag {
    Diag::error(
        codes::TOO_DEEP,
        format!("expression nests more than {MAX_EXPR_DEPTH} levels deep"),
    )
    .label(at, "this expression is too deep")
    .help("split it into named `let` definitions")
}

pub fn too_many_prefixes(at: Span) -> Diag {
    Diag::error(
        codes::TOO_DEEP,
        format!("more than {MAX_PREFIX_RUN} prefix operators in a row"),
    )
    .label(at, "one too many")
    .help("`not not x` is `x`: remove the pairs")
}

pub fn deeper(expr: Expr, depth: u32) -> Lowered {
    if depth > MAX_EXPR_DEPTH {
        return Err(too_deep(expr.span));
    }
    Ok((expr, depth))
}

pub fn prefix_node(op: UnaryOp, op_span: Span, (operand, depth): (Expr, u32)) -> Lowered {
    let span = op_span.to(operand.span);
    let kind = ExprKind::Unary {
        op: Spanned::new(op, op_span),
        operand: Box::new(operand),
    };
    deeper(Expr { kind, span }, depth + 1)
}

/// `base.word`, or `base is [not] word` when `is_test`.
pub fn postfix_node(
    (base, depth): (Expr, u32),
    op_span: Span,
    is_test: bool,
    negated: bool,
    word: Ident,
) -> Lowered {
    let span = base.span.to(op_span);
    let kind = if is_test {
        ExprKind::Is {
            base: Box::new(base),
            negated,
            word,
        }
    } else {
        ExprKind::Field {
            base: Box::new(base),
            field: word,
        }
    };
    deeper(Expr { kind, span }, depth + 1)
}

pub fn infix_node(
    (lhs, ld): (Expr, u32),
    op: InfixOp,
    op_span: Span,
    (rhs, rd): (Expr, u32),
) -> Lowered {
    let span = lhs.span.to(rhs.span);
    let op = match op {
        InfixOp::Logical(lop) => {
            // Flatten `a and b and c` so that long chains stay shallow.
            return match lhs.kind {
                ExprKind::Logical { op, mut operands } if op == lop => {
                    operands.push(rhs);
                    deeper(
                        Expr {
                            kind: ExprKind::Logical { op, operands },
                            span,
                        },
                        ld.max(rd + 1),
                    )
                }
                kind => deeper(
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
    deeper(Expr { kind, span }, ld.max(rd) + 1)
}

/// The character that `\` + `escaped` stands for; `at` is the file byte of the backslash.
pub fn unescape(file: FileId, escaped: char, at: usize) -> Result<char, Diag> {
    match escaped {
        'n' => Ok('\n'),
        't' => Ok('\t'),
        'r' => Ok('\r'),
        '"' | '\\' | '{' | '}' => Ok(escaped),
        other => Err(
            Diag::error(codes::BAD_ESCAPE, format!("unknown escape `\\{other}`"))
                .label(
                    Span::new(file, at, at + 1 + other.len_utf8()),
                    "not a known escape",
                )
                .help(r#"the escapes are \" \\ \n \t \r \{ and \}"#),
        ),
    }
}

/// The value of a string literal whose text between the quotes is `raw`, at file byte `start`.
pub fn unescape_string(file: FileId, raw: &str, start: usize) -> Result<String, Diag> {
    if !raw.contains('\\') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let (_, escaped) = chars.next().unwrap_or((i + 1, '\\'));
        out.push(unescape(file, escaped, start + i)?);
    }
    Ok(out)
}

/// The parts of a message template whose text between the quotes is `raw`, at file byte
/// `start`: text with `{expr}` holes, where `{{` and `}}` stand for braces. `parse_hole` parses
/// the text of one hole, given the file byte where it starts.
pub fn template_parts(
    file: FileId,
    raw: &str,
    start: usize,
    mut parse_hole: impl FnMut(&str, usize) -> Result<Expr, Diag>,
) -> Result<Vec<TemplatePart>, Diag> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    let bytes = raw.as_bytes();
    while i < raw.len() {
        match bytes[i] {
            b'\\' => {
                let escaped = raw[i + 1..].chars().next().unwrap_or('\\');
                text.push(unescape(file, escaped, start + i)?);
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
                    .label(Span::new(file, start + i, start + i + 1), "unclosed `{`")
                    .help("close the hole with `}`, or write `{{` for a literal brace")
                })?;
                let hole = &raw[i + 1..close];
                if hole.trim().is_empty() {
                    return Err(Diag::error(codes::BAD_TEMPLATE, "empty `{}` in a message")
                        .label(
                            Span::new(file, start + i, start + close + 1),
                            "nothing to show here",
                        )
                        .help(
                            "put an expression inside, such as `{svc.state}`, or write `{{}}` \
                             for braces",
                        ));
                }
                if !text.is_empty() {
                    parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                }
                parts.push(TemplatePart::Expr(parse_hole(hole, start + i + 1)?));
                i = close + 1;
            }
            b'}' => {
                return Err(Diag::error(codes::BAD_TEMPLATE, "a lone `}` in a message")
                    .label(
                        Span::new(file, start + i, start + i + 1),
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
    Ok(parts)
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
