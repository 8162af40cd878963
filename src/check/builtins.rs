//! The library of pure built-in functions: names, signatures and usage lines.

use super::ir::Builtin;
use super::types::Type;

pub const NAMES: [&str; 18] = [
    "service",
    "has_service",
    "lower",
    "upper",
    "len",
    "count",
    "starts_with",
    "ends_with",
    "contains",
    "join",
    "sort",
    "unique",
    "flatten",
    "min",
    "max",
    "sum",
    "dependency_cycles",
    "str",
];

pub fn lookup(name: &str) -> Option<Builtin> {
    Some(match name {
        "service" => Builtin::Service,
        "has_service" => Builtin::HasService,
        "lower" => Builtin::Lower,
        "upper" => Builtin::Upper,
        "len" | "count" => Builtin::Len,
        "starts_with" => Builtin::StartsWith,
        "ends_with" => Builtin::EndsWith,
        "contains" => Builtin::Contains,
        "join" => Builtin::Join,
        "sort" => Builtin::Sort,
        "unique" => Builtin::Unique,
        "flatten" => Builtin::Flatten,
        "min" => Builtin::Min,
        "max" => Builtin::Max,
        "sum" => Builtin::Sum,
        "dependency_cycles" => Builtin::DependencyCycles,
        "str" => Builtin::Str,
        _ => return None,
    })
}

pub fn usage(builtin: Builtin) -> &'static str {
    match builtin {
        Builtin::Service => "service(name: str) -> service",
        Builtin::HasService => "has_service(name: str) -> bool",
        Builtin::Lower => "lower(s: str) -> str",
        Builtin::Upper => "upper(s: str) -> str",
        Builtin::Len => "len(x: str or [T]) -> int  (also `count(xs)`)",
        Builtin::StartsWith => "starts_with(s: str, prefix: str) -> bool",
        Builtin::EndsWith => "ends_with(s: str, suffix: str) -> bool",
        Builtin::Contains => {
            "contains(s: str, part: str) -> bool, or contains(xs: [T], x: T) -> bool"
        }
        Builtin::Join => "join(xs: [str], separator: str) -> str",
        Builtin::Sort => "sort(xs: [int] or [str]) -> the same list, sorted",
        Builtin::Unique => "unique(xs: [T]) -> [T] without repeats, first occurrence kept",
        Builtin::Flatten => "flatten(xss: [[T]]) -> [T], the lists joined in order",
        Builtin::Min => "min(xs: [int]) -> int",
        Builtin::Max => "max(xs: [int]) -> int",
        Builtin::Sum => "sum(xs: [int]) -> int",
        Builtin::DependencyCycles => "dependency_cycles() -> [[str]]",
        Builtin::Str => "str(x) -> str",
    }
}

pub struct Problem {
    pub message: String,
    pub label: String,
    /// Which argument is wrong, if one is.
    pub argument: Option<usize>,
}

fn arity(types: &[Type], n: usize) -> Result<(), Problem> {
    if types.len() == n {
        Ok(())
    } else {
        Err(Problem {
            message: format!("expected {n} argument(s), found {}", types.len()),
            label: "wrong number of arguments".to_string(),
            argument: None,
        })
    }
}

fn want(types: &[Type], i: usize, expected: &Type) -> Result<(), Problem> {
    if types[i].fits(expected) {
        Ok(())
    } else {
        Err(Problem {
            message: format!("argument {} must be {expected}, found {}", i + 1, types[i]),
            label: format!("this is {}", types[i]),
            argument: Some(i),
        })
    }
}

fn want_list(types: &[Type], i: usize) -> Result<Type, Problem> {
    match &types[i] {
        Type::List(elem) => Ok((**elem).clone()),
        t if t.is_unknown() => Ok(Type::Error),
        other => Err(Problem {
            message: format!("argument {} must be a list, found {other}", i + 1),
            label: format!("this is {other}"),
            argument: Some(i),
        }),
    }
}

/// The result type of a call, or what is wrong with its arguments.
pub fn signature(builtin: Builtin, types: &[Type]) -> Result<Type, Problem> {
    match builtin {
        Builtin::Service => {
            arity(types, 1)?;
            want(types, 0, &Type::Str)?;
            Ok(Type::Service)
        }
        Builtin::HasService => {
            arity(types, 1)?;
            want(types, 0, &Type::Str)?;
            Ok(Type::Bool)
        }
        Builtin::Lower | Builtin::Upper => {
            arity(types, 1)?;
            want(types, 0, &Type::Str)?;
            Ok(Type::Str)
        }
        Builtin::Len => {
            arity(types, 1)?;
            if types[0].fits(&Type::Str) {
                return Ok(Type::Int);
            }
            want_list(types, 0)?;
            Ok(Type::Int)
        }
        Builtin::StartsWith | Builtin::EndsWith => {
            arity(types, 2)?;
            want(types, 0, &Type::Str)?;
            want(types, 1, &Type::Str)?;
            Ok(Type::Bool)
        }
        Builtin::Contains => {
            arity(types, 2)?;
            if types[0] == Type::Str {
                want(types, 1, &Type::Str)?;
                return Ok(Type::Bool);
            }
            let elem = want_list(types, 0)?;
            want(types, 1, &elem)?;
            Ok(Type::Bool)
        }
        Builtin::Join => {
            arity(types, 2)?;
            want(types, 0, &Type::list(Type::Str))?;
            want(types, 1, &Type::Str)?;
            Ok(Type::Str)
        }
        Builtin::Sort => {
            arity(types, 1)?;
            let elem = want_list(types, 0)?;
            if !(elem.fits(&Type::Int) || elem.fits(&Type::Str)) {
                return Err(Problem {
                    message: format!("only lists of int or str can be sorted, found [{elem}]"),
                    label: "cannot be sorted".to_string(),
                    argument: Some(0),
                });
            }
            Ok(types[0].clone())
        }
        Builtin::Unique => {
            arity(types, 1)?;
            want_list(types, 0)?;
            Ok(types[0].clone())
        }
        Builtin::Flatten => {
            arity(types, 1)?;
            match want_list(types, 0)? {
                Type::List(inner) => Ok(Type::List(inner)),
                t if t.is_unknown() => Ok(Type::list(Type::Any)),
                other => Err(Problem {
                    message: format!("argument 1 must be a list of lists, found [{other}]"),
                    label: format!("this is [{other}]"),
                    argument: Some(0),
                }),
            }
        }
        Builtin::Min | Builtin::Max | Builtin::Sum => {
            arity(types, 1)?;
            want(types, 0, &Type::list(Type::Int))?;
            Ok(Type::Int)
        }
        Builtin::DependencyCycles => {
            arity(types, 0)?;
            Ok(Type::list(Type::list(Type::Str)))
        }
        Builtin::Str => {
            arity(types, 1)?;
            Ok(Type::Str)
        }
    }
}
