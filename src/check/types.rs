//! Static types of the language.

use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    Int,
    Str,
    Service,
    Range,
    List(Arc<Type>),
    /// Fields sorted by name; values are laid out in this order at run time.
    Record(Arc<[(String, Type)]>),
    /// The element type of `[]`: fits any type.
    Any,
    /// Left behind by an error already reported; fits anything so that one mistake is
    /// reported once.
    Error,
}

impl Type {
    pub fn list(elem: Type) -> Type {
        Type::List(Arc::new(elem))
    }

    pub fn record(mut fields: Vec<(String, Type)>) -> Type {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        Type::Record(fields.into())
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Type::Any | Type::Error)
    }

    pub fn elem(&self) -> Option<&Type> {
        match self {
            Type::List(t) => Some(t),
            _ => None,
        }
    }

    /// The type both fit, if they are compatible.
    pub fn unify(&self, other: &Type) -> Option<Type> {
        match (self, other) {
            (Type::Error, _) | (_, Type::Error) => Some(Type::Error),
            (Type::Any, t) | (t, Type::Any) => Some(t.clone()),
            (Type::List(a), Type::List(b)) => a.unify(b).map(Type::list),
            (Type::Record(a), Type::Record(b)) => {
                if a.len() != b.len() {
                    return None;
                }
                let mut fields = Vec::with_capacity(a.len());
                for ((na, ta), (nb, tb)) in a.iter().zip(b.iter()) {
                    if na != nb {
                        return None;
                    }
                    fields.push((na.clone(), ta.unify(tb)?));
                }
                Some(Type::Record(fields.into()))
            }
            (a, b) if a == b => Some(a.clone()),
            _ => None,
        }
    }

    pub fn fits(&self, expected: &Type) -> bool {
        self.unify(expected).is_some()
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Str => f.write_str("str"),
            Type::Service => f.write_str("service"),
            Type::Range => f.write_str("range"),
            Type::List(t) => write!(f, "[{t}]"),
            Type::Record(fields) => {
                f.write_str("{ ")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {ty}")?;
                }
                f.write_str(" }")
            }
            Type::Any => f.write_str("anything"),
            Type::Error => f.write_str("(error)"),
        }
    }
}
