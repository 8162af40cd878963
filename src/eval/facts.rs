//! Facts: read from the snapshot by their declared path, held to their declared type, or
//! their declared default when the snapshot lacks them.

use super::*;

impl<'a> Evaluator<'a> {
    pub(super) fn fact(&mut self, f: u32, span: Span) -> Eval<'a> {
        if let Some(cached) = &self.facts[f as usize] {
            let result = cached.clone();
            if let Ok(v) = &result {
                let fact = &self.program.facts[f as usize];
                self.record_read(|| (fact.dotted.clone(), fact_pointer(&fact.path)), v, span);
            }
            return result.map_err(|mut u| {
                u.span = span;
                u
            });
        }
        let program = self.program;
        let fact = &program.facts[f as usize];
        let mut json = &self.snapshot.snapshot.facts;
        let mut present = true;
        for segment in &fact.path {
            match json.get(segment) {
                Some(v) => json = v,
                None => {
                    present = false;
                    break;
                }
            }
        }
        let result = if present {
            let mut path = FactPath {
                segments: fact.path.iter().map(|s| Segment::Key(s)).collect(),
            };
            convert(json, &fact.ty, &mut path, span)
        } else if let Some(default) = &fact.default {
            self.fact_defaulted[f as usize] = true;
            let saved = self.frame;
            let base = self.locals.len();
            self.locals
                .resize(base + default.slots as usize, Value::Bool(false));
            self.frame = base;
            let value = self.eval(&default.node);
            self.frame = saved;
            self.locals.truncate(base);
            value
        } else {
            undecided(
                UndecidedKind::MissingFact {
                    path: fact.dotted.clone(),
                    pointer: fact_pointer(&fact.path),
                },
                span,
            )
        };
        if let Ok(v) = &result {
            self.record_read(|| (fact.dotted.clone(), fact_pointer(&fact.path)), v, span);
        }
        self.facts[f as usize] = Some(result.clone());
        result
    }
}

fn fact_pointer(path: &[String]) -> String {
    let mut out = String::from("/facts");
    for s in path {
        out.push('/');
        out.push_str(&crate::snapshot::locate::escape_segment(s));
    }
    out
}

enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

/// Where in a fact a conversion is, rendered only when something is wrong.
struct FactPath<'p> {
    segments: Vec<Segment<'p>>,
}

impl FactPath<'_> {
    fn dotted(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    fn pointer(&self) -> String {
        let mut out = String::from("/facts");
        for s in &self.segments {
            out.push('/');
            match s {
                Segment::Key(k) => out.push_str(&crate::snapshot::locate::escape_segment(k)),
                Segment::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }
}

fn json_kind(json: &serde_json::Value) -> String {
    match json {
        serde_json::Value::Null => "null".to_string(),
        serde_json::Value::Bool(b) => format!("a boolean ({b})"),
        serde_json::Value::Number(n) => format!("a number ({n})"),
        serde_json::Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            format!("a string ({short:?})")
        }
        serde_json::Value::Array(a) => format!("a list of {}", a.len()),
        serde_json::Value::Object(_) => "an object".to_string(),
    }
}

/// Holds a snapshot value to the type its fact declares.
fn convert<'a, 'p>(
    json: &'a serde_json::Value,
    ty: &'a Type,
    path: &mut FactPath<'p>,
    span: Span,
) -> Eval<'a>
where
    'a: 'p,
{
    let wrong = |path: &FactPath<'_>| {
        undecided(
            UndecidedKind::WrongType {
                path: path.dotted(),
                pointer: path.pointer(),
                expected: ty.to_string(),
                found: json_kind(json),
            },
            span,
        )
    };
    match (ty, json) {
        (Type::Bool, serde_json::Value::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Int, serde_json::Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(Value::Int(i)),
            None => wrong(path),
        },
        (Type::Str, serde_json::Value::String(s)) => Ok(Value::str(s)),
        (Type::List(elem), serde_json::Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.segments.push(Segment::Index(i));
                let v = convert(item, elem, path, span);
                path.segments.pop();
                out.push(v?);
            }
            Ok(Value::list(out))
        }
        (Type::Record(fields), serde_json::Value::Object(map)) => {
            let mut values = Vec::with_capacity(fields.len());
            for (name, fty) in fields.iter() {
                path.segments.push(Segment::Key(name));
                let v = match map.get(name) {
                    Some(field) => convert(field, fty, path, span),
                    None => undecided(
                        UndecidedKind::MissingFact {
                            path: path.dotted(),
                            pointer: path.pointer(),
                        },
                        span,
                    ),
                };
                path.segments.pop();
                values.push(v?);
            }
            Ok(Value::Record(Rc::new(RecordValue {
                fields: &fields[..],
                values,
            })))
        }
        _ => wrong(path),
    }
}
