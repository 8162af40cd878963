//! The canonical formatter behind `expolicy fmt`.
//!
//! The AST is turned into a small pretty-printing document (text, line breaks that are spaces
//! when their group fits on one line, groups, indentation), which is then laid out at
//! [`WIDTH`] columns. Comments are silent in the grammar, so they are recovered from the source
//! text: every `#` outside a string literal is a comment, and each is emitted at the first
//! node (in source order) that starts after it. A comment that followed code on its line stays
//! at the end of a line; one that stood on its own line stays on its own line. The result is
//! verified before it is returned: if it does not parse back to the same tree with the same
//! comments, the source is returned unchanged (see [`Formatted::verbatim`]).

use super::ast::*;
use crate::diag::Diag;
use crate::source::FileId;

/// The line width the formatter aims for.
pub const WIDTH: usize = 100;
const INDENT: usize = 2;

/// One `#` comment found in a policy's source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of the `#`.
    pub start: usize,
    /// The comment, from `#` to the end of its line, trailing blanks removed.
    pub text: String,
    /// Nothing but blanks precedes it on its line.
    pub own_line: bool,
    /// The line above it is blank.
    pub blank_before: bool,
}

/// Every comment in `text`, in order. Strings are skipped exactly as the grammar reads them.
pub fn comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'#' => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                out.push(Comment {
                    start,
                    text: text[start..i].trim_end().to_string(),
                    own_line: first_on_line(text, start),
                    blank_before: blank_line_before(text, start),
                });
            }
            _ => i += 1,
        }
    }
    out
}

/// Whether only blanks precede `pos` on its line.
fn first_on_line(text: &str, pos: usize) -> bool {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..pos].trim().is_empty()
}

/// Whether `pos` starts its line and the line above it is blank.
fn blank_line_before(text: &str, pos: usize) -> bool {
    if !first_on_line(text, pos) {
        return false;
    }
    let Some(nl) = text[..pos].rfind('\n') else {
        return false;
    };
    let above_start = text[..nl].rfind('\n').map_or(0, |i| i + 1);
    text[above_start..nl].trim().is_empty()
}

/// The result of formatting one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatted {
    pub text: String,
    /// The canonical layout could not be verified (it would have changed the tree or lost a
    /// comment), so the source was kept as it was.
    pub verbatim: bool,
}

/// Formats one policy file. Syntax errors are returned as diagnostics (the file is not
/// changed); the output always parses back to the same tree and keeps every comment.
pub fn format_source(text: &str, file: FileId) -> Result<Formatted, Vec<Diag>> {
    let ast = super::parse_file(text, file)?;
    let formatted = format_file(&ast, text);
    let same_tree = super::parse_file(&formatted, file).is_ok_and(|again| same_tree(&again, &ast));
    let same_comments = comment_texts(&formatted) == comment_texts(text);
    if same_tree && same_comments {
        Ok(Formatted {
            text: formatted,
            verbatim: false,
        })
    } else {
        Ok(Formatted {
            text: text.to_string(),
            verbatim: true,
        })
    }
}

/// Whether two parsed files are the same tree, positions aside. (The derived `PartialEq`
/// ignores [`Spanned`] positions but not the `span` fields of nodes.)
pub fn same_tree(a: &File, b: &File) -> bool {
    without_spans(&format!("{a:?}")) == without_spans(&format!("{b:?}"))
}

/// The `Debug` text of a tree with every `Span { … }` removed.
pub fn without_spans(debug: &str) -> String {
    const OPEN: &str = "Span { file: ";
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match rest.find('}') {
            Some(j) => rest = &rest[j + 1..],
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// The texts of every comment, in order.
pub fn comment_texts(text: &str) -> Vec<String> {
    comments(text).into_iter().map(|c| c.text).collect()
}

/// Lays out a parsed file in the canonical style. `text` is the source the file was parsed
/// from (for string literals, verbatim, and comments).
pub fn format_file(file: &File, text: &str) -> String {
    let mut builder = Builder {
        src: text,
        comments: comments(text),
        next: 0,
    };
    let doc = builder.file(file);
    let mut printer = Printer::default();
    printer.print(&doc);
    printer.finish()
}

// ---------------------------------------------------------------- the document

#[derive(Debug, Clone)]
enum Doc {
    Text(String),
    /// A space, or a line break when the enclosing group is broken.
    Line,
    /// Nothing, or a line break when the enclosing group is broken.
    SoftLine,
    /// Always a line break.
    HardLine,
    /// Makes the line above the next text blank.
    Blank,
    Concat(Vec<Doc>),
    /// Laid out on one line if it fits and holds no forced break; the flag records the latter.
    Group(Vec<Doc>, bool),
    Indent(Vec<Doc>),
    /// Text only when the enclosing group is broken (trailing commas).
    IfBreak(&'static str),
    /// A comment at the end of the current line.
    Trailing(String),
    /// A comment on a line of its own; the flag keeps a blank line above it.
    OwnLine(String, bool),
    /// Items separated by `Line`s that break only where the next item would not fit:
    /// `[item, Line, item, Line, item]`.
    Fill(Vec<Doc>),
}

fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

fn group(docs: Vec<Doc>) -> Doc {
    let forced = docs.iter().any(forces_break);
    Doc::Group(docs, forced)
}

fn forces_break(doc: &Doc) -> bool {
    match doc {
        Doc::HardLine | Doc::Blank | Doc::Trailing(_) | Doc::OwnLine(..) => true,
        Doc::Group(_, forced) => *forced,
        Doc::Concat(docs) | Doc::Indent(docs) | Doc::Fill(docs) => docs.iter().any(forces_break),
        Doc::Text(_) | Doc::Line | Doc::SoftLine | Doc::IfBreak(_) => false,
    }
}

/// A literal or a name: what long lists pack several to a line.
fn is_atom(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Str(_) | ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Name(_)
    )
}

fn is_empty(doc: &Doc) -> bool {
    matches!(doc, Doc::Concat(d) if d.iter().all(is_empty))
}

// ---------------------------------------------------------------- AST to document

struct Builder<'s> {
    src: &'s str,
    comments: Vec<Comment>,
    /// The first comment not yet emitted.
    next: usize,
}

impl Builder<'_> {
    fn slice(&self, span: Span) -> &str {
        self.src.get(span.range()).unwrap_or("")
    }

    fn pending_before(&self, pos: usize) -> bool {
        self.comments.get(self.next).is_some_and(|c| c.start < pos)
    }

    /// Every comment not yet emitted that starts before `pos`.
    fn comments_before(&mut self, pos: usize) -> Doc {
        let mut docs = Vec::new();
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pos {
                break;
            }
            docs.push(if c.own_line {
                Doc::OwnLine(c.text.clone(), false)
            } else {
                Doc::Trailing(c.text.clone())
            });
            self.next += 1;
        }
        Doc::Concat(docs)
    }

    /// The next comment, if it starts before `pos` and followed code on its line.
    fn trailing_before(&mut self, pos: usize) -> Doc {
        match self.comments.get(self.next) {
            Some(c) if c.start < pos && !c.own_line => {
                self.next += 1;
                Doc::Trailing(c.text.clone())
            }
            _ => Doc::Concat(Vec::new()),
        }
    }

    /// A break before the node at `pos`: a comment that ended the previous line stays there,
    /// comments on lines of their own go after the break.
    fn sep(&mut self, line: Doc, pos: usize) -> Doc {
        let trailing = self.trailing_before(pos);
        let rest = self.comments_before(pos);
        Doc::Concat(vec![trailing, line, rest])
    }

    fn file(&mut self, file: &File) -> Doc {
        let mut docs = Vec::new();
        // Comments above the `pack` line.
        let pack_start = file.pack.span.start as usize;
        let mut first = true;
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pack_start {
                break;
            }
            docs.push(Doc::OwnLine(c.text.clone(), c.blank_before && !first));
            first = false;
            self.next += 1;
        }
        if !first && blank_line_before(self.src, pack_start) {
            docs.push(Doc::Blank);
        }
        docs.push(self.pack(&file.pack));
        let mut prev_end = file.pack.span.end as usize;
        let mut prev_is_rule = true;
        for item in &file.items {
            let start = item.span().start as usize;
            let is_rule = matches!(item, Item::Rule(_));
            docs.push(self.gap(prev_end, start, prev_is_rule || is_rule));
            docs.push(self.item(item));
            prev_end = item.span().end as usize;
            prev_is_rule = is_rule;
        }
        // Comments after the last item.
        docs.push(self.trailing_before(usize::MAX));
        while let Some(c) = self.comments.get(self.next) {
            docs.push(Doc::OwnLine(c.text.clone(), c.blank_before));
            self.next += 1;
        }
        Doc::Concat(docs)
    }

    /// What goes between two top-level items: the line break, a blank line where one is
    /// required or the author left one, and the comments in between.
    fn gap(&mut self, _prev_end: usize, next: usize, force_blank: bool) -> Doc {
        let mut docs = vec![self.trailing_before(next), Doc::HardLine];
        let first_start = match self.comments.get(self.next) {
            Some(c) if c.start < next => c.start,
            _ => next,
        };
        if force_blank || blank_line_before(self.src, first_start) {
            docs.push(Doc::Blank);
        }
        let mut any = false;
        let mut first = true;
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= next {
                break;
            }
            docs.push(Doc::OwnLine(c.text.clone(), c.blank_before && !first));
            first = false;
            any = true;
            self.next += 1;
        }
        if any && blank_line_before(self.src, next) {
            docs.push(Doc::Blank);
        }
        Doc::Concat(docs)
    }

    fn pack(&mut self, pack: &PackDecl) -> Doc {
        let mut docs = vec![text("pack "), text(&pack.name.node)];
        if let Some(d) = &pack.description {
            docs.push(self.comments_before(d.span.start as usize));
            docs.push(text(" "));
            docs.push(text(self.slice(d.span)));
        }
        Doc::Concat(docs)
    }

    fn item(&mut self, item: &Item) -> Doc {
        match item {
            Item::Fact(f) => {
                let mut docs = vec![text("fact "), text(f.path.node.join(".")), text(": ")];
                docs.push(self.ty(&f.ty));
                if let Some(d) = &f.default {
                    docs.push(self.assigned(d));
                }
                Doc::Concat(docs)
            }
            Item::Input(i) => {
                let ty = self.ty(&i.ty);
                let default = self.expr(&i.default);
                Doc::Concat(vec![
                    text("input "),
                    text(&i.name.node),
                    text(": "),
                    ty,
                    text(" = "),
                    default,
                ])
            }
            Item::Let(l) => {
                let mut docs = vec![text("let "), text(&l.name.node)];
                if let Some(params) = &l.params {
                    let end = params
                        .last()
                        .map_or(l.name.span.end, |p| p.ty.span.end)
                        .max(l.name.span.end) as usize;
                    // The `)` follows the last parameter; comments before it belong inside.
                    let close = self.src[end..].find(')').map_or(end, |i| end + i + 1);
                    docs.push(self.seq(
                        "(",
                        ")",
                        false,
                        false,
                        params,
                        |p| p.name.span,
                        |b, p| {
                            let ty = b.ty(&p.ty);
                            Doc::Concat(vec![text(&p.name.node), text(": "), ty])
                        },
                        close,
                    ));
                }
                docs.push(self.assigned(&l.body));
                Doc::Concat(docs)
            }
            Item::Rule(r) => self.rule(r),
        }
    }

    /// ` = value`: a chain of operators that does not fit moves to the next line, indented;
    /// anything else starts on the same line (brackets break inside).
    fn assigned(&mut self, value: &Expr) -> Doc {
        let chain = matches!(
            value.kind,
            ExprKind::Logical { .. } | ExprKind::Binary { .. } | ExprKind::Quantifier { .. }
        );
        if chain {
            let brk = self.sep(Doc::Line, value.span.start as usize);
            let value = self.expr(value);
            group(vec![text(" ="), Doc::Indent(vec![brk, value])])
        } else {
            Doc::Concat(vec![text(" = "), self.expr(value)])
        }
    }

    fn rule(&mut self, rule: &RuleDecl) -> Doc {
        let end = rule.span.end as usize;
        let head = Doc::Concat(vec![text("rule "), text(&rule.name.node), text(" {")]);
        if rule.clauses.is_empty() && !self.pending_before(end) {
            return Doc::Concat(vec![head, text("}")]);
        }
        let mut body = Vec::new();
        for clause in &rule.clauses {
            body.push(self.sep(Doc::HardLine, clause.span.start as usize));
            body.push(self.clause(clause));
        }
        body.push(self.sep(Doc::Concat(Vec::new()), end));
        Doc::Concat(vec![head, Doc::Indent(body), Doc::HardLine, text("}")])
    }

    fn clause(&mut self, clause: &Clause) -> Doc {
        let string = |b: &mut Self, s: &Spanned<String>| {
            let lead = b.comments_before(s.span.start as usize);
            Doc::Concat(vec![lead, text(b.slice(s.span))])
        };
        match &clause.kind {
            ClauseKind::Title(s) => Doc::Concat(vec![text("title    "), string(self, s)]),
            ClauseKind::Help(s) => Doc::Concat(vec![text("help     "), string(self, s)]),
            ClauseKind::Docs(s) => Doc::Concat(vec![text("docs     "), string(self, s)]),
            ClauseKind::Severity(s) => {
                let lead = self.comments_before(s.span.start as usize);
                Doc::Concat(vec![text("severity "), lead, text(&s.node)])
            }
            ClauseKind::Controls(list) | ClauseKind::Tags(list) => {
                let keyword = match &clause.kind {
                    ClauseKind::Controls(_) => "controls ",
                    _ => "tags     ",
                };
                let list = self.seq(
                    "[",
                    "]",
                    false,
                    true,
                    list,
                    |s| s.span,
                    string,
                    clause.span.end as usize,
                );
                Doc::Concat(vec![text(keyword), list])
            }
            ClauseKind::When(e) => Doc::Concat(vec![text("when "), self.expr(e)]),
            ClauseKind::Require { expr, message } => {
                let mut docs = vec![text("require "), self.expr(expr)];
                if let Some(t) = message {
                    let start = t.span.start as usize;
                    let brk = self.sep(Doc::HardLine, start);
                    docs.push(Doc::Indent(vec![
                        brk,
                        text("else "),
                        text(self.slice(t.span)),
                    ]));
                }
                Doc::Concat(docs)
            }
        }
    }

    /// A bracketed, comma-separated sequence: on one line if it fits, otherwise one element
    /// per line with a trailing comma. `end` is the byte just after the closing bracket.
    #[allow(
        clippy::too_many_arguments,
        reason = "one helper for every bracketed sequence"
    )]
    fn seq<T>(
        &mut self,
        open: &'static str,
        close: &'static str,
        spaced: bool,
        fill: bool,
        items: &[T],
        span_of: impl Fn(&T) -> Span,
        mut item: impl FnMut(&mut Self, &T) -> Doc,
        end: usize,
    ) -> Doc {
        if items.is_empty() && !self.pending_before(end) {
            return text(format!("{open}{close}"));
        }
        let line = || if spaced { Doc::Line } else { Doc::SoftLine };
        if fill && !items.is_empty() && !self.pending_before(end) {
            // Short atoms, no comments: as many per line as fit.
            let mut cells = Vec::new();
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    cells.push(Doc::Line);
                }
                let comma = if i + 1 < items.len() { "," } else { "" };
                cells.push(Doc::Concat(vec![item(self, it), text(comma)]));
            }
            return group(vec![
                text(open),
                Doc::Indent(vec![line(), Doc::Fill(cells), Doc::IfBreak(",")]),
                line(),
                text(close),
            ]);
        }
        let mut inner = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let start = span_of(it).start as usize;
            if i == 0 {
                inner.push(line());
                inner.push(self.comments_before(start));
            } else {
                inner.push(text(","));
                inner.push(self.sep(Doc::Line, start));
            }
            inner.push(item(self, it));
        }
        if items.is_empty() {
            inner.push(self.comments_before(end));
        } else {
            inner.push(Doc::IfBreak(","));
            inner.push(self.trailing_before(end));
            inner.push(self.comments_before(end));
        }
        group(vec![text(open), Doc::Indent(inner), line(), text(close)])
    }

    fn ty(&mut self, ty: &TypeExpr) -> Doc {
        let lead = self.comments_before(ty.span.start as usize);
        let end = ty.span.end as usize;
        let body = match &ty.kind {
            TypeExprKind::Named(n) => text(n),
            TypeExprKind::List(elem) => {
                let elem = self.ty(elem);
                let tail = self.comments_before(end);
                Doc::Concat(vec![text("["), elem, tail, text("]")])
            }
            TypeExprKind::Record(fields) => self.seq(
                "{",
                "}",
                true,
                false,
                fields,
                |(name, _)| name.span,
                |b, (name, t)| {
                    let t = b.ty(t);
                    Doc::Concat(vec![text(&name.node), text(": "), t])
                },
                end,
            ),
        };
        Doc::Concat(vec![lead, body])
    }

    fn expr(&mut self, e: &Expr) -> Doc {
        let lead = self.comments_before(e.span.start as usize);
        let end = e.span.end as usize;
        let body = match &e.kind {
            ExprKind::Bool(b) => text(if *b { "true" } else { "false" }),
            ExprKind::Int(n) => text(n.to_string()),
            ExprKind::Str(_) => text(self.slice(e.span)),
            ExprKind::Name(n) => text(n),
            ExprKind::List(items) => {
                let fill = items.iter().all(is_atom);
                self.seq(
                    "[",
                    "]",
                    false,
                    fill,
                    items,
                    |x| x.span,
                    |b, x| b.expr(x),
                    end,
                )
            }
            ExprKind::Record(fields) => self.seq(
                "{",
                "}",
                true,
                false,
                fields,
                |(name, _)| name.span,
                |b, (name, value)| {
                    let value = b.expr(value);
                    Doc::Concat(vec![text(&name.node), text(": "), value])
                },
                end,
            ),
            ExprKind::Comprehension {
                element,
                var,
                source,
                filter,
            } => {
                let mut inner = vec![Doc::SoftLine, self.expr(element)];
                inner.push(self.sep(Doc::Line, var.span.start as usize));
                inner.push(text(format!("for {} in ", var.node)));
                inner.push(self.expr(source));
                if let Some(f) = filter {
                    inner.push(self.sep(Doc::Line, f.span.start as usize));
                    inner.push(text("if "));
                    inner.push(self.expr(f));
                }
                inner.push(self.trailing_before(end));
                inner.push(self.comments_before(end));
                group(vec![
                    text("["),
                    Doc::Indent(inner),
                    Doc::SoftLine,
                    text("]"),
                ])
            }
            ExprKind::Quantifier {
                kind,
                var,
                source,
                body,
            } => {
                let source = self.expr(source);
                let brk = self.sep(Doc::Line, body.span.start as usize);
                let body = self.expr(body);
                group(vec![
                    text(format!("{} {} in ", kind.node.keyword(), var.node)),
                    source,
                    text(":"),
                    Doc::Indent(vec![brk, body]),
                ])
            }
            ExprKind::Call { func, args } => {
                let args = self.seq(
                    "(",
                    ")",
                    false,
                    false,
                    args,
                    |x| x.span,
                    |b, x| b.expr(x),
                    end,
                );
                Doc::Concat(vec![text(&func.node), args])
            }
            ExprKind::Field { base, field } => {
                let base = self.expr(base);
                let lead = self.comments_before(field.span.start as usize);
                Doc::Concat(vec![base, lead, text("."), text(&field.node)])
            }
            ExprKind::Is {
                base,
                negated,
                word,
            } => {
                let base = self.expr(base);
                let lead = self.comments_before(word.span.start as usize);
                let is = if *negated { " is not " } else { " is " };
                Doc::Concat(vec![base, lead, text(is), text(&word.node)])
            }
            ExprKind::Unary { op, operand } => {
                let op = match op.node {
                    UnaryOp::Not => "not ",
                    UnaryOp::Neg => "-",
                };
                Doc::Concat(vec![text(op), self.expr(operand)])
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let lhs = self.expr(lhs);
                if op.node.is_range() {
                    let rhs = self.expr(rhs);
                    Doc::Concat(vec![lhs, text(op.node.symbol()), rhs])
                } else {
                    let before_op = self.comments_before(op.span.start as usize);
                    let brk = self.sep(Doc::Line, rhs.span.start as usize);
                    let rhs = self.expr(rhs);
                    group(vec![
                        lhs,
                        before_op,
                        text(format!(" {}", op.node.symbol())),
                        Doc::Indent(vec![brk, rhs]),
                    ])
                }
            }
            ExprKind::Logical { op, operands } => {
                let mut docs = Vec::new();
                let mut rest = Vec::new();
                for (i, operand) in operands.iter().enumerate() {
                    if i == 0 {
                        docs.push(self.expr(operand));
                    } else {
                        rest.push(self.sep(Doc::Line, operand.span.start as usize));
                        rest.push(text(format!("{} ", op.keyword())));
                        rest.push(self.expr(operand));
                    }
                }
                docs.push(Doc::Indent(rest));
                group(docs)
            }
            ExprKind::Paren(inner) => {
                let inner_doc = self.expr(inner);
                let trailing = self.trailing_before(end);
                let tail = self.comments_before(end);
                group(vec![
                    text("("),
                    Doc::Indent(vec![Doc::SoftLine, inner_doc, trailing, tail]),
                    Doc::SoftLine,
                    text(")"),
                ])
            }
        };
        if is_empty(&lead) {
            body
        } else {
            Doc::Concat(vec![lead, body])
        }
    }
}

// ---------------------------------------------------------------- layout

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

#[derive(Default)]
struct Printer {
    out: String,
    /// Characters on the current line.
    column: usize,
    /// Comments to put at the end of the current line.
    suffix: Vec<String>,
    /// A comment ended the line: the next text must start a new one.
    need_newline: bool,
}

impl Printer {
    fn print(&mut self, doc: &Doc) {
        let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
        while let Some((indent, mode, doc)) = stack.pop() {
            match doc {
                Doc::Text(s) => self.text(s, indent),
                Doc::Line => match mode {
                    Mode::Break => self.newline(indent),
                    Mode::Flat => self.text(" ", indent),
                },
                Doc::SoftLine => {
                    if mode == Mode::Break {
                        self.newline(indent);
                    }
                }
                Doc::HardLine => self.newline(indent),
                Doc::Blank => {
                    if !self.at_line_start() {
                        self.newline(indent);
                    }
                    self.make_blank_above(indent);
                }
                Doc::IfBreak(s) => {
                    if mode == Mode::Break {
                        self.text(s, indent);
                    }
                }
                Doc::Concat(docs) => stack.extend(docs.iter().rev().map(|d| (indent, mode, d))),
                Doc::Indent(docs) => {
                    stack.extend(docs.iter().rev().map(|d| (indent + INDENT, mode, d)))
                }
                Doc::Group(docs, forced) => {
                    let mode = if *forced {
                        Mode::Break
                    } else if mode == Mode::Flat
                        || fits(docs, indent, &stack, WIDTH.saturating_sub(self.column))
                    {
                        Mode::Flat
                    } else {
                        Mode::Break
                    };
                    stack.extend(docs.iter().rev().map(|d| (indent, mode, d)));
                }
                Doc::Trailing(c) => {
                    if !self.suffix.is_empty() || self.need_newline {
                        // A comment already ends this line.
                        self.newline(indent);
                        self.own_line(c, false, indent);
                    } else if self.at_line_start() {
                        self.own_line(c, false, indent);
                    } else {
                        self.suffix.push(c.clone());
                    }
                }
                Doc::OwnLine(c, blank) => self.own_line(c, *blank, indent),
                Doc::Fill(docs) => {
                    // Lay out the items now, each separator breaking only when needed.
                    let mut items = docs.iter();
                    if let Some(first) = items.next() {
                        self.print_flat(first, indent);
                    }
                    while let (Some(_sep), Some(item)) = (items.next(), items.next()) {
                        let width = flat_width(item) + 1;
                        if mode == Mode::Flat || self.column + width <= WIDTH {
                            self.text(" ", indent);
                        } else {
                            self.newline(indent);
                        }
                        self.print_flat(item, indent);
                    }
                }
            }
        }
    }

    fn print_flat(&mut self, doc: &Doc, indent: usize) {
        let mut stack = vec![doc];
        while let Some(d) = stack.pop() {
            match d {
                Doc::Text(t) => self.text(t, indent),
                Doc::Line => self.text(" ", indent),
                Doc::Concat(ds) | Doc::Indent(ds) | Doc::Group(ds, _) | Doc::Fill(ds) => {
                    stack.extend(ds.iter().rev());
                }
                _ => {}
            }
        }
    }

    fn at_line_start(&self) -> bool {
        let line = self
            .out
            .rfind('\n')
            .map_or(&self.out[..], |i| &self.out[i + 1..]);
        line.trim().is_empty() && self.suffix.is_empty()
    }

    fn text(&mut self, s: &str, indent: usize) {
        if s.is_empty() {
            return;
        }
        let mut s = s;
        if self.need_newline || !self.suffix.is_empty() {
            self.newline(indent);
            s = s.trim_start();
            if s.is_empty() {
                return;
            }
        }
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn newline(&mut self, indent: usize) {
        self.trim_line_end();
        for c in std::mem::take(&mut self.suffix) {
            self.out.push(' ');
            self.out.push_str(&c);
        }
        self.trim_line_end();
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.column = indent;
        self.need_newline = false;
    }

    fn trim_line_end(&mut self) {
        let trimmed = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(trimmed);
    }

    /// At the start of a line: makes sure the line above is empty (not at the top of the file).
    fn make_blank_above(&mut self, indent: usize) {
        self.trim_line_end();
        if self.out.trim().is_empty() || self.out.ends_with("\n\n") {
            self.out.extend(std::iter::repeat_n(' ', indent));
            return;
        }
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', indent));
        self.column = indent;
    }

    fn own_line(&mut self, comment: &str, blank: bool, indent: usize) {
        if !self.at_line_start() {
            self.newline(indent);
        }
        if blank {
            self.make_blank_above(indent);
        }
        self.out.push_str(comment);
        self.column += comment.chars().count();
        self.need_newline = true;
    }

    fn finish(mut self) -> String {
        for c in std::mem::take(&mut self.suffix) {
            self.out.push(' ');
            self.out.push_str(&c);
        }
        let mut out = self
            .out
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n");
        let trimmed = out.trim_start_matches('\n').len();
        out.drain(..out.len() - trimmed);
        let end = out.trim_end().len();
        out.truncate(end);
        out.push('\n');
        out
    }
}

/// The width of a comment-free document laid out on one line.
fn flat_width(doc: &Doc) -> usize {
    match doc {
        Doc::Text(t) => t.chars().count(),
        Doc::Line => 1,
        Doc::Concat(ds) | Doc::Indent(ds) | Doc::Group(ds, _) | Doc::Fill(ds) => {
            ds.iter().map(flat_width).sum()
        }
        _ => 0,
    }
}

/// Whether `docs`, laid out flat from the current column, fit in `width` before the next
/// possible line break of what follows.
fn fits(docs: &[Doc], indent: usize, rest: &[(usize, Mode, &Doc)], width: usize) -> bool {
    let mut width = isize::try_from(width).unwrap_or(isize::MAX);
    let mut stack: Vec<(Mode, &Doc)> = docs.iter().rev().map(|d| (Mode::Flat, d)).collect();
    let mut rest_index = rest.len();
    let _ = indent;
    loop {
        if width < 0 {
            return false;
        }
        let (mode, doc) = match stack.pop() {
            Some(x) => x,
            None => {
                if rest_index == 0 {
                    return true;
                }
                rest_index -= 1;
                let (_, mode, doc) = rest[rest_index];
                (mode, doc)
            }
        };
        match doc {
            Doc::Text(s) => width -= isize::try_from(s.chars().count()).unwrap_or(isize::MAX),
            Doc::Line => match mode {
                Mode::Flat => width -= 1,
                Mode::Break => return true,
            },
            Doc::SoftLine => {
                if mode == Mode::Break {
                    return true;
                }
            }
            Doc::HardLine | Doc::Blank | Doc::Trailing(_) | Doc::OwnLine(..) => return true,
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    width -= isize::try_from(s.len()).unwrap_or(isize::MAX);
                }
            }
            Doc::Concat(d) | Doc::Indent(d) | Doc::Fill(d) => {
                stack.extend(d.iter().rev().map(|x| (mode, x)));
            }
            Doc::Group(d, forced) => {
                let m = if *forced { Mode::Break } else { mode };
                stack.extend(d.iter().rev().map(|x| (m, x)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        let ast = match crate::syntax::parse_file(text, FileId(0)) {
            Ok(a) => a,
            Err(e) => panic!("{e:#?}"),
        };
        format_file(&ast, text)
    }

    #[test]
    fn comments_skip_strings() {
        let cs = comments("let a = \"# not\" # yes\n# own\n");
        assert_eq!(
            cs.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
            ["# yes", "# own"]
        );
        assert!(!cs[0].own_line);
        assert!(cs[1].own_line);
    }

    #[test]
    fn trailing_comment_stays_on_its_line() {
        let out = fmt("pack p\nlet a = f(1, # one\n 2)\n");
        assert_eq!(out, "pack p\n\nlet a = f(\n  1, # one\n  2,\n)\n");
    }

    #[test]
    fn short_rule_layout() {
        let out = fmt("pack p rule r { title \"T\" severity   error require a==1 else \"m\" }");
        assert_eq!(
            out,
            "pack p\n\nrule r {\n  title    \"T\"\n  severity error\n  require a == 1\n    else \"m\"\n}\n"
        );
    }
}
