//! The typed syntax tree. Every node carries its span; spans are ignored by equality.

pub use crate::source::{Span, Spanned};

pub type Ident = Spanned<String>;

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub pack: PackDecl,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PackDecl {
    pub name: Ident,
    pub description: Option<Spanned<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Fact(FactDecl),
    Input(InputDecl),
    Let(LetDecl),
    Rule(RuleDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Fact(f) => f.span,
            Item::Input(i) => i.span,
            Item::Let(l) => l.span,
            Item::Rule(r) => r.span,
        }
    }
}

/// `fact exchange.stores: [{ name: str }] = []`
#[derive(Debug, Clone, PartialEq)]
pub struct FactDecl {
    pub path: Spanned<Vec<String>>,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `input expect_ipsec: bool = false`: a site choice set with `--set` or `--inputs`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Expr,
    pub span: Span,
}

/// `let name = expr` or `let name(param: type, ...) = expr`
#[derive(Debug, Clone, PartialEq)]
pub struct LetDecl {
    pub name: Ident,
    pub params: Option<Vec<Param>>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecl {
    pub name: Spanned<String>,
    /// Clauses in source order, so that the formatter can keep the author's order.
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub kind: ClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClauseKind {
    Title(Spanned<String>),
    Severity(Ident),
    Controls(Vec<Spanned<String>>),
    Tags(Vec<Spanned<String>>),
    Help(Spanned<String>),
    Docs(Spanned<String>),
    When(Expr),
    Require {
        expr: Expr,
        message: Option<Template>,
    },
}

/// A message with `{expr}` holes: `"Microsoft Search is {msearch.state}"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeExprKind {
    /// `bool`, `int`, `str`, `service`
    Named(String),
    List(Box<TypeExpr>),
    Record(Vec<(Ident, TypeExpr)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Bool(bool),
    Int(i64),
    Str(String),
    Name(String),
    List(Vec<Expr>),
    Record(Vec<(Ident, Expr)>),
    /// `[element for var in source if filter]`
    Comprehension {
        element: Box<Expr>,
        var: Ident,
        source: Box<Expr>,
        filter: Option<Box<Expr>>,
    },
    /// `all s in services: body`
    Quantifier {
        kind: Spanned<Quantifier>,
        var: Ident,
        source: Box<Expr>,
        body: Box<Expr>,
    },
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    Field {
        base: Box<Expr>,
        field: Ident,
    },
    /// `svc is running`, `svc is not disabled`
    Is {
        base: Box<Expr>,
        negated: bool,
        word: Ident,
    },
    Unary {
        op: Spanned<UnaryOp>,
        operand: Box<Expr>,
    },
    Binary {
        op: Spanned<BinaryOp>,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `a and b and c` kept flat, so long chains do not nest deeply.
    Logical {
        op: LogicalOp,
        operands: Vec<Expr>,
    },
    Paren(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    All,
    Any,
    None,
    Count,
}

impl Quantifier {
    pub fn keyword(self) -> &'static str {
        match self {
            Quantifier::All => "all",
            Quantifier::Any => "any",
            Quantifier::None => "none",
            Quantifier::Count => "count",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalOp {
    And,
    Or,
}

impl LogicalOp {
    pub fn keyword(self) -> &'static str {
        match self {
            LogicalOp::And => "and",
            LogicalOp::Or => "or",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Implies,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    DependsOn,
    DependsDirectlyOn,
    StartsBefore,
    RunsAs,
    Range,
    RangeInclusive,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Implies => "implies",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::DependsOn => "depends on",
            BinaryOp::DependsDirectlyOn => "depends directly on",
            BinaryOp::StartsBefore => "starts before",
            BinaryOp::RunsAs => "runs as",
            BinaryOp::Range => "..",
            BinaryOp::RangeInclusive => "..=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }

    /// Operators at the comparison level, which do not chain (`a < b < c` is an error).
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::In
                | BinaryOp::NotIn
                | BinaryOp::DependsOn
                | BinaryOp::DependsDirectlyOn
                | BinaryOp::StartsBefore
                | BinaryOp::RunsAs
        )
    }

    pub fn is_range(self) -> bool {
        matches!(self, BinaryOp::Range | BinaryOp::RangeInclusive)
    }
}

impl Expr {
    /// Sees through parentheses.
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let ExprKind::Paren(inner) = &e.kind {
            e = inner;
        }
        e
    }
}
