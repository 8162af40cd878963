//! A direct parser for the usual case, a policy file without errors. pest spends most of its
//! time on the bookkeeping of its combinators (issue 7: most of the 1,000-rule compile), so a
//! file is first read here, in one pass over its bytes, into the same tree, spans included, that
//! pest and `lower.rs` build.
//!
//! This parser follows grammar/expolicy.pest alternative by alternative, and answers only for a
//! file that parses and lowers without a diagnostic. For anything else (a syntax error, an
//! integer out of range, a bad escape or template, an expression too deep) it gives up, and
//! `lower.rs` parses the file with pest, which explains the problem in the usual words. So the
//! grammar stays the definition of the language: in debug builds every answer given here is
//! checked against pest's, which makes every test and fuzz run a check that the two agree.

use super::MAX_NESTING;
use super::ast::*;
use super::build::{
    InfixOp, MAX_PREFIX_RUN, MAX_READ_NESTING, deeper, infix_node, postfix_node, prec, prefix_node,
    template_parts, unescape_string,
};
use crate::diag::Diag;
use crate::source::{FileId, Span, Spanned};

/// Why a parse stopped.
enum Stop {
    /// This alternative does not match here; the grammar may try the next one.
    Mismatch,
    /// The file has a problem for pest and `lower.rs` to explain.
    GiveUp,
}

impl From<Diag> for Stop {
    fn from(_: Diag) -> Stop {
        Stop::GiveUp
    }
}

type Parsed<T> = Result<T, Stop>;

/// The tree of a file without errors, or `None` for pest to parse it.
pub(super) fn parse_file(text: &str, file: FileId) -> Option<File> {
    Quick::new(text, file, 0).file().ok()
}

/// The expression in the `{…}` hole `hole` of a message template, at file byte `base`.
fn parse_hole(hole: &str, file: FileId, base: usize) -> Option<Expr> {
    let mut q = Quick::new(hole, file, base);
    q.ws();
    let ((expr, _), _) = q.expr().ok()?;
    (q.pos == hole.len()).then_some(expr)
}

/// The grammar's `reserved` words, which are not names.
const RESERVED: [&str; 11] = [
    "and", "or", "not", "implies", "in", "is", "for", "if", "else", "true", "false",
];

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// An expression's operator after an operand.
enum Operator {
    /// `.field`, or `is` when true.
    Postfix(bool),
    /// An infix operator ending at this byte.
    Infix(InfixOp, usize),
}

/// What one `expr` has read so far.
#[derive(Default)]
struct ExprState {
    /// An infix operator was read.
    infix: bool,
    /// The end of the last postfix operator's name, if the last thing read was one.
    postfix_end: Option<usize>,
    /// Prefix operators read in a row.
    prefix_run: usize,
}

struct Quick<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    file: FileId,
    /// Byte offset of `text` within the file (non-zero for template holes).
    base: usize,
    /// Brackets open (a rule's braces too, as `check_nesting` counts them).
    brackets: usize,
    /// How deep the expression being read nests so far (see [`MAX_READ_NESTING`]).
    nesting: u32,
}

impl<'t> Quick<'t> {
    fn new(text: &'t str, file: FileId, base: usize) -> Self {
        Quick {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            file,
            base,
            brackets: 0,
            nesting: 0,
        }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, self.base + start, self.base + end)
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn peek(&self) -> Option<u8> {
        self.byte(self.pos)
    }

    fn expect(&mut self, b: u8) -> Parsed<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Stop::Mismatch)
        }
    }

    /// Reads opening bracket `b`. A file that nests brackets deeper than [`MAX_NESTING`] is
    /// left to pest, after `check_nesting`. That check skips at least the grammar's strings and
    /// comments, so it never counts more brackets open than this parser does: a file read here
    /// would pass it.
    fn open(&mut self, b: u8) -> Parsed<()> {
        self.expect(b)?;
        self.brackets += 1;
        if self.brackets > MAX_NESTING {
            return Err(Stop::GiveUp);
        }
        Ok(())
    }

    fn close(&mut self, b: u8) -> Parsed<()> {
        self.expect(b)?;
        self.brackets -= 1;
        Ok(())
    }

    /// Items separated by commas, a trailing comma allowed, up to (not past) `close`: the
    /// grammar's `(item ~ ("," ~ item)* ~ ","?)?` before a closing bracket.
    fn separated<T>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Parsed<T>,
    ) -> Parsed<Vec<T>> {
        let mut items = Vec::new();
        if self.peek() == Some(close) {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if self.peek() != Some(b',') {
                return Ok(items);
            }
            self.pos += 1;
            self.ws();
            if self.peek() == Some(close) {
                return Ok(items);
            }
        }
    }

    /// Reads one level deeper into an expression (see [`MAX_READ_NESTING`]).
    fn nested<T>(&mut self, read: impl FnOnce(&mut Self) -> Parsed<T>) -> Parsed<T> {
        if self.nesting >= MAX_READ_NESTING {
            return Err(Stop::GiveUp);
        }
        self.nesting += 1;
        let read = read(self);
        self.nesting -= 1;
        read
    }

    /// The grammar's `ws`: blanks and `#` comments, from byte `at`; returns where they end.
    fn blanks_from(&self, mut at: usize) -> usize {
        loop {
            match self.byte(at) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => at += 1,
                Some(b'#') => {
                    at += 1;
                    while let Some(b) = self.byte(at) {
                        if b == b'\n' || b == b'\r' {
                            break;
                        }
                        at += 1;
                    }
                }
                _ => return at,
            }
        }
    }

    fn ws(&mut self) {
        self.pos = self.blanks_from(self.pos);
    }

    /// The grammar's `kw_end` at byte `at`.
    fn word_ends_at(&self, at: usize) -> bool {
        !self.byte(at).is_some_and(is_word_byte)
    }

    /// Whether keyword `kw` (followed by `kw_end`) starts at byte `at`.
    fn keyword_at(&self, at: usize, kw: &str) -> bool {
        self.bytes
            .get(at..)
            .is_some_and(|rest| rest.starts_with(kw.as_bytes()))
            && self.word_ends_at(at + kw.len())
    }

    /// Reads keyword `kw` if it is next.
    fn keyword(&mut self, kw: &str) -> bool {
        let found = self.keyword_at(self.pos, kw);
        if found {
            self.pos += kw.len();
        }
        found
    }

    fn word_end(&self, mut at: usize) -> usize {
        while self.byte(at).is_some_and(is_word_byte) {
            at += 1;
        }
        at
    }

    fn ident(&mut self) -> Parsed<Ident> {
        let start = self.pos;
        if !self
            .peek()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            return Err(Stop::Mismatch);
        }
        let end = self.word_end(start);
        let word = &self.text[start..end];
        if RESERVED.contains(&word) {
            return Err(Stop::Mismatch);
        }
        self.pos = end;
        Ok(Spanned::new(word.to_string(), self.span(start, end)))
    }

    // ------------------------------------------------------------ files and items

    fn file(&mut self) -> Parsed<File> {
        self.ws();
        let pack = self.pack_decl()?;
        self.ws();
        let mut items = Vec::new();
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let item = if self.keyword("rule") {
                Item::Rule(self.rule_decl(start)?)
            } else if self.keyword("let") {
                Item::Let(self.let_decl(start)?)
            } else if self.keyword("fact") {
                Item::Fact(self.fact_decl(start)?)
            } else if self.keyword("input") {
                Item::Input(self.input_decl(start)?)
            } else {
                return Err(Stop::Mismatch);
            };
            items.push(item);
            self.ws();
        }
        Ok(File { pack, items })
    }

    fn pack_decl(&mut self) -> Parsed<PackDecl> {
        let start = self.pos;
        if !self.keyword("pack") {
            return Err(Stop::Mismatch);
        }
        self.ws();
        let name = self.ident()?;
        let name_end = self.pos;
        self.ws();
        let description = if self.at_string() {
            Some(self.string()?)
        } else {
            self.pos = name_end;
            None
        };
        Ok(PackDecl {
            name,
            description,
            span: self.span(start, self.pos),
        })
    }

    fn fact_decl(&mut self, start: usize) -> Parsed<FactDecl> {
        self.ws();
        let path_start = self.pos;
        let mut path = vec![self.ident()?.node];
        while self.peek() == Some(b'.') {
            self.pos += 1;
            path.push(self.ident()?.node);
        }
        let path = Spanned::new(path, self.span(path_start, self.pos));
        self.ws();
        self.expect(b':')?;
        self.ws();
        let ty = self.type_expr()?;
        let mut end = self.pos;
        self.ws();
        let default = if self.peek() == Some(b'=') {
            self.pos += 1;
            self.ws();
            let (default, default_end) = self.expr()?;
            end = default_end;
            Some(default.0)
        } else {
            self.pos = end;
            None
        };
        Ok(FactDecl {
            path,
            ty,
            default,
            span: self.span(start, end),
        })
    }

    fn input_decl(&mut self, start: usize) -> Parsed<InputDecl> {
        self.ws();
        let name = self.ident()?;
        self.ws();
        self.expect(b':')?;
        self.ws();
        let ty = self.type_expr()?;
        self.ws();
        self.expect(b'=')?;
        self.ws();
        let ((default, _), end) = self.expr()?;
        Ok(InputDecl {
            name,
            ty,
            default,
            span: self.span(start, end),
        })
    }

    fn let_decl(&mut self, start: usize) -> Parsed<LetDecl> {
        self.ws();
        let name = self.ident()?;
        self.ws();
        let params = if self.peek() == Some(b'(') {
            let params = self.params()?;
            self.ws();
            Some(params)
        } else {
            None
        };
        self.expect(b'=')?;
        self.ws();
        let ((body, _), end) = self.expr()?;
        Ok(LetDecl {
            name,
            params,
            body,
            span: self.span(start, end),
        })
    }

    fn params(&mut self) -> Parsed<Vec<Param>> {
        self.open(b'(')?;
        self.ws();
        let params = self.separated(b')', Self::param)?;
        self.close(b')')?;
        Ok(params)
    }

    fn param(&mut self) -> Parsed<Param> {
        let name = self.ident()?;
        self.ws();
        self.expect(b':')?;
        self.ws();
        let ty = self.type_expr()?;
        self.ws();
        Ok(Param { name, ty })
    }

    fn rule_decl(&mut self, start: usize) -> Parsed<RuleDecl> {
        self.ws();
        let name_start = self.pos;
        if !self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            return Err(Stop::Mismatch);
        }
        while self.peek().is_some_and(|b| is_word_byte(b) || b == b'-') {
            self.pos += 1;
        }
        let name = Spanned::new(
            self.text[name_start..self.pos].to_string(),
            self.span(name_start, self.pos),
        );
        self.ws();
        self.open(b'{')?;
        self.ws();
        let mut clauses = Vec::new();
        while let Some(clause) = self.clause()? {
            clauses.push(clause);
        }
        self.close(b'}')?;
        Ok(RuleDecl {
            name,
            clauses,
            span: self.span(start, self.pos),
        })
    }

    /// One clause and the blanks after it, or `None` at something else.
    fn clause(&mut self) -> Parsed<Option<Clause>> {
        let start = self.pos;
        let kind = if self.keyword("require") {
            self.ws();
            let ((expr, _), mut end) = self.expr()?;
            let message = if self.keyword("else") {
                self.ws();
                let message = self.template()?;
                end = self.pos;
                self.ws();
                Some(message)
            } else {
                None
            };
            return Ok(Some(Clause {
                kind: ClauseKind::Require { expr, message },
                span: self.span(start, end),
            }));
        } else if self.keyword("when") {
            self.ws();
            let ((expr, _), end) = self.expr()?;
            return Ok(Some(Clause {
                kind: ClauseKind::When(expr),
                span: self.span(start, end),
            }));
        } else if self.keyword("title") {
            self.ws();
            ClauseKind::Title(self.string()?)
        } else if self.keyword("severity") {
            self.ws();
            ClauseKind::Severity(self.ident()?)
        } else if self.keyword("controls") {
            self.ws();
            ClauseKind::Controls(self.string_list()?)
        } else if self.keyword("tags") {
            self.ws();
            ClauseKind::Tags(self.string_list()?)
        } else if self.keyword("help") {
            self.ws();
            ClauseKind::Help(self.string()?)
        } else if self.keyword("docs") {
            self.ws();
            ClauseKind::Docs(self.string()?)
        } else {
            return Ok(None);
        };
        let span = self.span(start, self.pos);
        self.ws();
        Ok(Some(Clause { kind, span }))
    }

    fn string_list(&mut self) -> Parsed<Vec<Spanned<String>>> {
        self.open(b'[')?;
        self.ws();
        let mut list = Vec::new();
        if self.at_string() {
            list.push(self.string()?);
            self.ws();
            while self.peek() == Some(b',') {
                self.pos += 1;
                self.ws();
                if !self.at_string() {
                    break;
                }
                list.push(self.string()?);
                self.ws();
            }
        }
        self.close(b']')?;
        Ok(list)
    }

    // ------------------------------------------------------------ strings

    fn at_string(&self) -> bool {
        match self.peek() {
            Some(b'"') => true,
            Some(b'\\') => self.byte(self.pos + 1) == Some(b'"'),
            _ => false,
        }
    }

    /// Reads a string literal; returns where the text between its quotes starts and ends, and
    /// whether it is written `\"…\"` (inside a template hole).
    fn scan_string(&mut self) -> Parsed<(usize, usize, bool)> {
        if self.peek() == Some(b'"') {
            let inner = self.pos + 1;
            let mut at = inner;
            loop {
                match self.byte(at) {
                    Some(b'"') => break,
                    Some(b'\\') => match self.byte(at + 1) {
                        None | Some(b'\n' | b'\r') => return Err(Stop::Mismatch),
                        Some(_) => at += 2,
                    },
                    None | Some(b'\n' | b'\r') => return Err(Stop::Mismatch),
                    Some(_) => at += 1,
                }
            }
            self.pos = at + 1;
            return Ok((inner, at, false));
        }
        if self.at_string() {
            let inner = self.pos + 2;
            let mut at = inner;
            loop {
                match self.byte(at) {
                    Some(b'\\') if self.byte(at + 1) == Some(b'"') => break,
                    None | Some(b'\n' | b'\r') => return Err(Stop::Mismatch),
                    Some(_) => at += 1,
                }
            }
            self.pos = at + 2;
            return Ok((inner, at, true));
        }
        Err(Stop::Mismatch)
    }

    fn string(&mut self) -> Parsed<Spanned<String>> {
        let start = self.pos;
        let (inner, inner_end, hole_form) = self.scan_string()?;
        let raw = &self.text[inner..inner_end];
        let value = if hole_form {
            raw.to_string()
        } else {
            unescape_string(self.file, raw, self.base + inner)?
        };
        Ok(Spanned::new(value, self.span(start, self.pos)))
    }

    fn template(&mut self) -> Parsed<Template> {
        let start = self.pos;
        let (inner, inner_end, _) = self.scan_string()?;
        let file = self.file;
        let parts = template_parts(
            file,
            &self.text[inner..inner_end],
            self.base + inner,
            |hole, at| parse_hole(hole, file, at).ok_or_else(|| Diag::error("", "")),
        )?;
        Ok(Template {
            parts,
            span: self.span(start, self.pos),
        })
    }

    // ------------------------------------------------------------ types

    fn type_expr(&mut self) -> Parsed<TypeExpr> {
        let start = self.pos;
        let kind = match self.peek() {
            Some(b'[') => {
                self.open(b'[')?;
                self.ws();
                let element = self.type_expr()?;
                self.ws();
                self.close(b']')?;
                TypeExprKind::List(Box::new(element))
            }
            Some(b'{') => {
                self.open(b'{')?;
                self.ws();
                let fields = self.separated(b'}', Self::field_type)?;
                self.close(b'}')?;
                TypeExprKind::Record(fields)
            }
            _ => TypeExprKind::Named(self.ident()?.node),
        };
        Ok(TypeExpr {
            kind,
            span: self.span(start, self.pos),
        })
    }

    fn field_type(&mut self) -> Parsed<(Ident, TypeExpr)> {
        let name = self.ident()?;
        self.ws();
        self.expect(b':')?;
        self.ws();
        let ty = self.type_expr()?;
        self.ws();
        Ok((name, ty))
    }

    // ------------------------------------------------------------ expressions

    /// The grammar's `expr`, with the blanks after it. Also returns where a declaration or
    /// clause that ends with it ends (see `Lowerer::expr_end` in lower.rs).
    fn expr(&mut self) -> Parsed<((Expr, u32), usize)> {
        let mut state = ExprState::default();
        let expr = self.nested(|q| q.climb(0, &mut state))?;
        let end = match state.postfix_end {
            Some(end) if state.infix => end,
            _ => self.pos,
        };
        Ok((expr, end))
    }

    /// Precedence climbing as in `Lowerer::climb`: an operand, then every operator that binds
    /// tighter than `min`, each with its right operand.
    fn climb(&mut self, min: u8, state: &mut ExprState) -> Parsed<(Expr, u32)> {
        let mut lhs = self.operand(state)?;
        loop {
            let Some(op) = self.operator() else {
                return Ok(lhs);
            };
            let binds = match op {
                Operator::Postfix(_) => prec::POSTFIX,
                Operator::Infix(op, _) => op.prec(),
            };
            if binds <= min {
                return Ok(lhs);
            }
            lhs = match op {
                Operator::Postfix(is_test) => self.postfix(lhs, is_test, state)?,
                Operator::Infix(op, end) => {
                    let op_span = self.span(self.pos, end);
                    self.pos = end;
                    self.ws();
                    state.infix = true;
                    let rhs = self.nested(|q| q.climb(binds, state))?;
                    infix_node(lhs, op, op_span, rhs)?
                }
            };
        }
    }

    /// Prefix operators (each applied to what binds tighter than itself) and a primary, with
    /// the blanks after them.
    fn operand(&mut self, state: &mut ExprState) -> Parsed<(Expr, u32)> {
        let start = self.pos;
        let prefix = if self.keyword_at(start, "not") {
            Some((UnaryOp::Not, "not".len(), prec::NOT))
        } else if self.peek() == Some(b'-') {
            Some((UnaryOp::Neg, 1, prec::NEG))
        } else {
            None
        };
        if let Some((op, len, binds)) = prefix {
            state.prefix_run += 1;
            if state.prefix_run > MAX_PREFIX_RUN {
                return Err(Stop::GiveUp);
            }
            self.pos += len;
            self.ws();
            let operand = self.nested(|q| q.climb(binds - 1, state))?;
            return Ok(prefix_node(op, self.span(start, start + len), operand)?);
        }
        state.prefix_run = 0;
        state.postfix_end = None;
        let primary = self.primary()?;
        self.ws();
        Ok(primary)
    }

    /// The operator after an operand, if there is one, without reading it. Postfix operators
    /// come first, then the infix ones in the grammar's order.
    fn operator(&self) -> Option<Operator> {
        let at = self.pos;
        let rest = self.bytes.get(at..)?;
        match rest.first() {
            Some(b'.') if rest.get(1) != Some(&b'.') => return Some(Operator::Postfix(false)),
            Some(b'i') if self.keyword_at(at, "is") => return Some(Operator::Postfix(true)),
            _ => {}
        }
        let symbol = [
            "==", "!=", "<=", ">=", "..=", "..", "<", ">", "*", "+", "-", "/", "%",
        ]
        .into_iter()
        .find(|s| rest.starts_with(s.as_bytes()));
        let end = match symbol {
            Some(s) => at + s.len(),
            None => self.word_operator_end(at)?,
        };
        Some(Operator::Infix(InfixOp::of(&self.text[at..end]), end))
    }

    /// Where a word operator starting at byte `at` ends.
    fn word_operator_end(&self, at: usize) -> Option<usize> {
        if let Some(word) = ["and", "or", "implies", "in"]
            .into_iter()
            .find(|w| self.keyword_at(at, w))
        {
            return Some(at + word.len());
        }
        if self.bytes.get(at..)?.starts_with(b"not") {
            // `not` and `in` are parted by blanks only, not comments.
            let mut next = at + "not".len();
            while matches!(self.byte(next), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                next += 1;
            }
            return (next > at + "not".len() && self.keyword_at(next, "in"))
                .then_some(next + "in".len());
        }
        let (first, rest): (&str, &[&str]) = if self.keyword_at(at, "depends") {
            ("depends", &["directly", "on"])
        } else if self.keyword_at(at, "starts") {
            ("starts", &["before"])
        } else if self.keyword_at(at, "runs") {
            ("runs", &["as"])
        } else {
            return None;
        };
        let mut next = self.blanks_from(at + first.len());
        if first == "depends" && self.keyword_at(next, "directly") {
            next = self.blanks_from(next + "directly".len());
        }
        let last = rest[rest.len() - 1];
        self.keyword_at(next, last).then_some(next + last.len())
    }

    fn postfix(
        &mut self,
        base: (Expr, u32),
        is_test: bool,
        state: &mut ExprState,
    ) -> Parsed<(Expr, u32)> {
        let start = self.pos;
        let mut negated = false;
        if is_test {
            self.pos += "is".len();
            self.ws();
            if self.keyword("not") {
                negated = true;
                self.ws();
            }
        } else {
            self.pos += 1;
        }
        let word = self.ident()?;
        let end = self.pos;
        self.ws();
        state.postfix_end = Some(end);
        Ok(postfix_node(
            base,
            self.span(start, end),
            is_test,
            negated,
            word,
        )?)
    }

    fn primary(&mut self) -> Parsed<(Expr, u32)> {
        let start = self.pos;
        let leaf = |q: &Self, kind| {
            Ok((
                Expr {
                    kind,
                    span: q.span(start, q.pos),
                },
                1,
            ))
        };
        match self.peek() {
            _ if self.at_string() => {
                let value = self.string()?;
                leaf(self, ExprKind::Str(value.node))
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.word_primary(),
            Some(b) if b.is_ascii_digit() => {
                let end = self.word_end(start);
                if !self.bytes[start..end].iter().all(u8::is_ascii_digit) {
                    return Err(Stop::Mismatch);
                }
                let Ok(n) = self.text[start..end].parse::<i64>() else {
                    return Err(Stop::GiveUp);
                };
                self.pos = end;
                leaf(self, ExprKind::Int(n))
            }
            Some(b'(') => {
                self.open(b'(')?;
                self.ws();
                let ((inner, depth), _) = self.expr()?;
                self.close(b')')?;
                let span = self.span(start, self.pos);
                Ok(deeper(
                    Expr {
                        kind: ExprKind::Paren(Box::new(inner)),
                        span,
                    },
                    depth + 1,
                )?)
            }
            Some(b'[') => self.list(start),
            Some(b'{') => self.record(start),
            _ => Err(Stop::Mismatch),
        }
    }

    /// A quantifier, a name, a call or a boolean.
    fn word_primary(&mut self) -> Parsed<(Expr, u32)> {
        let start = self.pos;
        let end = self.word_end(start);
        let word = &self.text[start..end];
        let quantifier = match word {
            "all" => Some(Quantifier::All),
            "any" => Some(Quantifier::Any),
            "none" => Some(Quantifier::None),
            "count" => Some(Quantifier::Count),
            _ => None,
        };
        if let Some(kind) = quantifier {
            let (brackets, nesting) = (self.brackets, self.nesting);
            match self.quantifier(kind, end) {
                // Not a quantifier after all, as in `count(xs)`: the grammar tries a name next.
                Err(Stop::Mismatch) => {
                    self.pos = start;
                    self.brackets = brackets;
                    self.nesting = nesting;
                }
                done => return done,
            }
        }
        if let Some(value) = match word {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        } {
            self.pos = end;
            let span = self.span(start, end);
            return Ok((
                Expr {
                    kind: ExprKind::Bool(value),
                    span,
                },
                1,
            ));
        }
        let func = self.ident()?;
        self.ws();
        if self.peek() != Some(b'(') {
            let span = func.span;
            return Ok((
                Expr {
                    kind: ExprKind::Name(func.node),
                    span,
                },
                1,
            ));
        }
        self.open(b'(')?;
        self.ws();
        let read = self.separated(b')', |q| Ok(q.expr()?.0))?;
        let depth = read.iter().map(|(_, d)| *d).max().unwrap_or(0);
        let args = read.into_iter().map(|(arg, _)| arg).collect();
        self.close(b')')?;
        let span = self.span(start, self.pos);
        Ok(deeper(
            Expr {
                kind: ExprKind::Call { func, args },
                span,
            },
            depth + 1,
        )?)
    }

    fn quantifier(&mut self, kind: Quantifier, word_end: usize) -> Parsed<(Expr, u32)> {
        let kind = Spanned::new(kind, self.span(self.pos, word_end));
        self.pos = word_end;
        self.ws();
        let var = self.ident()?;
        self.ws();
        if !self.keyword("in") {
            return Err(Stop::Mismatch);
        }
        self.ws();
        let ((source, source_depth), _) = self.expr()?;
        self.expect(b':')?;
        self.ws();
        let ((body, body_depth), _) = self.expr()?;
        let span = kind.span.to(body.span);
        let expr = Expr {
            kind: ExprKind::Quantifier {
                kind,
                var,
                source: Box::new(source),
                body: Box::new(body),
            },
            span,
        };
        Ok(deeper(expr, source_depth.max(body_depth) + 1)?)
    }

    fn list(&mut self, start: usize) -> Parsed<(Expr, u32)> {
        self.open(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.close(b']')?;
            let span = self.span(start, self.pos);
            return Ok((
                Expr {
                    kind: ExprKind::List(Vec::new()),
                    span,
                },
                1,
            ));
        }
        let ((first, mut depth), _) = self.expr()?;
        if self.keyword("for") {
            self.ws();
            let var = self.ident()?;
            self.ws();
            if !self.keyword("in") {
                return Err(Stop::Mismatch);
            }
            self.ws();
            let ((source, source_depth), _) = self.expr()?;
            depth = depth.max(source_depth);
            let filter = if self.keyword("if") {
                self.ws();
                let ((filter, filter_depth), _) = self.expr()?;
                depth = depth.max(filter_depth);
                Some(Box::new(filter))
            } else {
                None
            };
            self.close(b']')?;
            let kind = ExprKind::Comprehension {
                element: Box::new(first),
                var,
                source: Box::new(source),
                filter,
            };
            let span = self.span(start, self.pos);
            return Ok(deeper(Expr { kind, span }, depth + 1)?);
        }
        let mut items = vec![first];
        while self.peek() == Some(b',') {
            self.pos += 1;
            self.ws();
            if self.peek() == Some(b']') {
                break;
            }
            let ((item, d), _) = self.expr()?;
            depth = depth.max(d);
            items.push(item);
        }
        self.close(b']')?;
        let span = self.span(start, self.pos);
        Ok(deeper(
            Expr {
                kind: ExprKind::List(items),
                span,
            },
            depth + 1,
        )?)
    }

    fn record(&mut self, start: usize) -> Parsed<(Expr, u32)> {
        self.open(b'{')?;
        self.ws();
        let read = self.separated(b'}', |q| {
            let name = q.ident()?;
            q.ws();
            q.expect(b':')?;
            q.ws();
            let ((value, d), _) = q.expr()?;
            Ok(((name, value), d))
        })?;
        let depth = read.iter().map(|(_, d)| *d).max().unwrap_or(0);
        let fields = read.into_iter().map(|(field, _)| field).collect();
        self.close(b'}')?;
        let span = self.span(start, self.pos);
        Ok(deeper(
            Expr {
                kind: ExprKind::Record(fields),
                span,
            },
            depth + 1,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::lower::parse_with_pest;
    use super::*;

    /// The quick parse of `text`, which must agree with pest's.
    fn quick(text: &str) -> Option<File> {
        let quick = parse_file(text, FileId(0));
        if let Some(tree) = &quick {
            let slow = parse_with_pest(text, FileId(0));
            assert_eq!(
                slow.map(|s| format!("{s:?}")).ok(),
                Some(format!("{tree:?}")),
                "{text}"
            );
        }
        quick
    }

    fn policies(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                policies(&path, out);
            } else if path.extension().is_some_and(|e| e == "xpol") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_policy_pest_reads_is_read_here_the_same() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["policies", "examples", "benches", "tests", "fuzz"] {
            policies(&root.join(dir), &mut files);
        }
        let mut read = 0;
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if parse_with_pest(&text, FileId(0)).is_ok() {
                assert!(quick(&text).is_some(), "{}", path.display());
                read += 1;
            }
        }
        assert!(read >= 40, "{read}");
    }

    #[test]
    fn the_corners_of_the_language_are_read_here_the_same() {
        let corners = [
            "# leading comment\npack p \"desc\" # trailing\n",
            "pack p\r\nrule r {\r\n  require a and\r\n b\r\n}\r\n",
            "pack p\nfact a.b: [{ x: int, y: [str], }] = [] # c\ninput i: bool = not true",
            "pack p\nlet f(x: int, y: str,) = x + 1 * 2 - 3 / 4 % 5 # c\nlet g=-  -3",
            "pack p\nlet g = a depends # c\n   directly on b\nlet h = a depends on b",
            "pack p\nlet h = c starts before d and e runs as \"x\" implies f or g",
            "pack p\nlet k = x not\tin y and x in [1, 2, 3,] and 1..=3 == 1..2",
            "pack p\nlet l = [x.y for x in xs if x is not running]\nlet m = { a: 1, b: \"s\\\"q\\\\n\", }",
            "pack p\nlet n = all x in xs: any y in x.ys: none z in y: count w in z: w.v > 0",
            "pack p\nlet o = -x.y is running\nlet p = not a == b and not c\nlet q = (a)\n .b\n # c\n .c is\n not d",
            "pack p\nlet x = count(xs) + all(x) + any + none.y",
            "pack p\nlet x = index + notx + order + isx + andy + true1 + _x",
            "pack p\nlet x = \\\"raw\\\" + \"é\" + 007",
            "pack p\nrule r-1_x {\n  title \"t\" # c\n  severity warning\n  controls [\"a\", \"b\",]\n  tags []\n  help \"h\"\n  docs \"d\"\n  when a # c\n  require b else \"msg {a.b} {{x}} {f(\\\"q\\\")} {{\" # c\n  require c\n}\nrule r2 { require true }",
            "pack p\nlet a = 1 + b.c # ends at c\nlet d = e.f + 1\nlet g = h.i\nlet j = k + l.m  \n\n",
        ];
        for text in corners {
            assert!(quick(text).is_some(), "{text}");
        }
    }

    #[test]
    fn problems_are_left_to_pest() {
        let problems = [
            "pack p\nlet x = 1 +",
            "pack p\nlet x = 99999999999999999999",
            "pack p\nlet x = \"\\q\"",
            "pack p\nlet x = 1 < 2 < 3",
            "pack p\nrule r { require x else \"{\" }",
            "pack p\nrule r { require x else \"{y +}\" }",
            "pack p\nlet and = 1",
            "pack p\nlet x = a.and",
            "pack p\nlet x = \"a\rb\"",
            "pack p\nrule r { titel \"t\" }",
            "pack p\nlet y = f(1)(2)",
        ];
        for text in problems {
            assert!(quick(text).is_none(), "{text}");
        }
        let deep = format!("pack p\nlet x = {}1{}", "(".repeat(65), ")".repeat(65));
        assert!(quick(&deep).is_none());
        let shallow = format!("pack p\nlet x = {}1{}", "(".repeat(63), ")".repeat(63));
        assert!(quick(&shallow).is_some());
        let chain = format!("pack p\nlet x = 1{}", " + not 1".repeat(10_000));
        assert!(quick(&chain).is_none());
        let quantifiers = format!("pack p\nlet x = {}true", "all a in b: ".repeat(10_000));
        assert!(quick(&quantifiers).is_none());
    }
}
