//! Run-time values. Strings borrow from the snapshot or the program where they can; lists and
//! records are shared with `Rc`, so copying a value never copies its contents.

use std::fmt;
use std::rc::Rc;

use smol_str::SmolStr;

use crate::check::types::Type;

#[derive(Debug, Clone)]
pub enum Str<'a> {
    Borrowed(&'a str),
    /// Built during evaluation (`lower`, `+`, `join`…): kept inline when short (most service
    /// names are), shared when long, so building and copying one rarely allocates.
    Owned(SmolStr),
}

impl Str<'_> {
    #[inline]
    pub fn as_str(&self) -> &str {
        match self {
            Str::Borrowed(s) => s,
            Str::Owned(s) => s,
        }
    }
}

#[derive(Debug)]
pub struct RecordValue<'a> {
    /// The record type's fields (sorted by name); `values` follow the same order.
    pub fields: &'a [(String, Type)],
    pub values: Vec<Value<'a>>,
}

#[derive(Debug, Clone)]
pub enum Value<'a> {
    Bool(bool),
    Int(i64),
    Str(Str<'a>),
    List(Rc<[Value<'a>]>),
    Record(Rc<RecordValue<'a>>),
    /// An index into the snapshot's services.
    Service(u32),
    /// Inclusive bounds; empty when `low > high`.
    Range(i64, i64),
}

impl<'a> Value<'a> {
    pub fn str(s: &'a str) -> Value<'a> {
        Value::Str(Str::Borrowed(s))
    }

    pub fn owned_str(s: impl Into<SmolStr>) -> Value<'a> {
        Value::Str(Str::Owned(s.into()))
    }

    pub fn list(items: Vec<Value<'a>>) -> Value<'a> {
        Value::List(items.into())
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// Structural equality; services are equal when they are the same record.
    pub fn equals(&self, other: &Value<'_>) -> bool {
        match (self, other) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a.as_str() == b.as_str(),
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.equals(y))
            }
            (Value::Record(a), Value::Record(b)) => {
                a.values.len() == b.values.len()
                    && a.values
                        .iter()
                        .zip(b.values.iter())
                        .all(|(x, y)| x.equals(y))
            }
            (Value::Service(a), Value::Service(b)) => a == b,
            (Value::Range(a, b), Value::Range(c, d)) => a == c && b == d,
            _ => false,
        }
    }
}

/// A value as a set key: equal when [`Value::equals`] says so, and hashed to agree.
pub struct Distinct<'v, 'a>(pub &'v Value<'a>);

impl PartialEq for Distinct<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.equals(other.0)
    }
}

impl Eq for Distinct<'_, '_> {}

impl std::hash::Hash for Distinct<'_, '_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.0 {
            Value::Bool(b) => (0u8, b).hash(state),
            Value::Int(i) => (1u8, i).hash(state),
            Value::Str(s) => (2u8, s.as_str()).hash(state),
            Value::List(items) => {
                (3u8, items.len()).hash(state);
                items.iter().for_each(|v| Distinct(v).hash(state));
            }
            Value::Record(r) => {
                (4u8, r.values.len()).hash(state);
                r.values.iter().for_each(|v| Distinct(v).hash(state));
            }
            Value::Service(i) => (5u8, i).hash(state),
            Value::Range(a, b) => (6u8, a, b).hash(state),
        }
    }
}

/// Shows a value as a message shows it: strings bare, lists joined with commas. Services need
/// the snapshot for their names, so the evaluator renders those (see `Evaluator::display`).
pub struct Display<'v, 'a, F: Fn(u32) -> &'a str> {
    pub value: &'v Value<'a>,
    pub service_name: F,
    /// Inside a list or record, strings are quoted so that the structure stays readable.
    pub nested: bool,
}

impl<'a, F: Fn(u32) -> &'a str + Copy> fmt::Display for Display<'_, 'a, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = |value| Display {
            value,
            service_name: self.service_name,
            nested: true,
        };
        match self.value {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) if self.nested => write!(f, "{:?}", s.as_str()),
            Value::Str(s) => f.write_str(s.as_str()),
            Value::Service(i) => f.write_str((self.service_name)(*i)),
            Value::Range(lo, hi) => write!(f, "{lo}..={hi}"),
            Value::List(items) if items.is_empty() => {
                f.write_str(if self.nested { "[]" } else { "(none)" })
            }
            Value::List(items) => {
                if self.nested {
                    f.write_str("[")?;
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if self.nested || matches!(item, Value::List(_) | Value::Record(_)) {
                        write!(f, "{}", inner(item))?;
                    } else {
                        write!(
                            f,
                            "{}",
                            Display {
                                value: item,
                                service_name: self.service_name,
                                nested: false
                            }
                        )?;
                    }
                }
                if self.nested {
                    f.write_str("]")?;
                }
                Ok(())
            }
            Value::Record(record) => {
                f.write_str("{ ")?;
                for (i, ((name, _), value)) in
                    record.fields.iter().zip(record.values.iter()).enumerate()
                {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {}", inner(value))?;
                }
                f.write_str(" }")
            }
        }
    }
}
