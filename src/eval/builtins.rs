//! The builtin functions (`lower`, `join`, `dependency_cycles`…), each charged to the step
//! budget for the work it does.

use smol_str::SmolStr;

use super::*;

impl<'a> Evaluator<'a> {
    pub(super) fn builtin(&mut self, builtin: Builtin, args: &'a [Node], span: Span) -> Eval<'a> {
        if builtin == Builtin::Unique {
            if let Some(union) = self.dependency_union(args, span) {
                return union;
            }
        }
        // No builtin takes more than two arguments (the checker holds calls to that).
        let mut argument_values = [Value::Bool(false), Value::Bool(false)];
        for (value, arg) in argument_values.iter_mut().zip(args) {
            *value = self.eval(arg)?;
        }
        let values = &mut argument_values[..args.len().min(2)];
        let work = match builtin {
            // Sorting costs n log n comparisons; the rest walk their arguments once.
            Builtin::Sort => values.first().map_or(0, |v| {
                let n = weight(v);
                n.saturating_mul(n.max(2).ilog2() as usize)
            }),
            Builtin::Len | Builtin::StartsWith | Builtin::EndsWith => 0,
            _ => values.iter().map(weight).sum(),
        };
        self.charge(work, span)?;
        let text = |i: usize| values.get(i).and_then(|v| v.as_str()).unwrap_or("");
        Ok(match builtin {
            Builtin::Service => match self.snapshot.services.get(text(0)) {
                Some(i) => Value::Service(i),
                None => {
                    return undecided(
                        UndecidedKind::MissingService {
                            name: text(0).to_string(),
                        },
                        span,
                    );
                }
            },
            Builtin::HasService => Value::Bool(self.snapshot.services.get(text(0)).is_some()),
            // Already lower case (the usual SCM name compared to a literal): shared, not copied.
            Builtin::Lower
                if matches!(values.first(), Some(Value::Str(_)))
                    && text(0)
                        .bytes()
                        .all(|b| b.is_ascii() && !b.is_ascii_uppercase()) =>
            {
                std::mem::replace(&mut values[0], Value::Bool(false))
            }
            Builtin::Lower => Value::owned_str(change_case(text(0), false)),
            Builtin::Upper => Value::owned_str(change_case(text(0), true)),
            Builtin::Len => {
                let n = match &values[0] {
                    Value::Str(s) => s.as_str().chars().count(),
                    Value::List(items) => items.len(),
                    _ => 0,
                };
                Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }
            Builtin::StartsWith => Value::Bool(text(0).starts_with(text(1))),
            Builtin::EndsWith => Value::Bool(text(0).ends_with(text(1))),
            Builtin::Contains => match &values[0] {
                Value::List(items) => Value::Bool(items.iter().any(|v| v.equals(&values[1]))),
                _ => Value::Bool(text(0).contains(text(1))),
            },
            Builtin::Join => {
                let items = values[0].as_list().unwrap_or(&[]);
                let parts: Vec<&str> = items.iter().filter_map(|v| v.as_str()).collect();
                let built = parts.iter().map(|p| p.len()).sum::<usize>()
                    + text(1).len().saturating_mul(parts.len());
                self.charge(built / BYTES_PER_STEP, span)?;
                Value::owned_str(parts.join(text(1)))
            }
            Builtin::Sort => {
                let mut items: Vec<Value<'a>> = values[0].as_list().unwrap_or(&[]).to_vec();
                items.sort_by(|a, b| match (a, b) {
                    (Value::Int(x), Value::Int(y)) => x.cmp(y),
                    _ => a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")),
                });
                Value::list(items)
            }
            Builtin::Unique => {
                let items = values[0].as_list().unwrap_or(&[]);
                let mut seen = std::collections::HashSet::with_capacity_and_hasher(
                    items.len(),
                    foldhash::fast::FixedState::default(),
                );
                let out: Vec<Value<'a>> = items
                    .iter()
                    .filter(|v| seen.insert(value::Distinct(v)))
                    .cloned()
                    .collect();
                Value::list(out)
            }
            Builtin::Flatten => {
                let lists = values[0].as_list().unwrap_or(&[]);
                let mut out: Vec<Value<'a>> = Vec::new();
                for list in lists {
                    let items = list.as_list().unwrap_or(&[]);
                    self.charge(items.len(), span)?;
                    out.extend(items.iter().cloned());
                }
                Value::list(out)
            }
            Builtin::Min | Builtin::Max => {
                let ints = values[0]
                    .as_list()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(Value::as_int);
                let found = if builtin == Builtin::Min {
                    ints.min()
                } else {
                    ints.max()
                };
                match found {
                    Some(i) => Value::Int(i),
                    None => {
                        let name = if builtin == Builtin::Min {
                            "min"
                        } else {
                            "max"
                        };
                        return runtime(format!("{name}() of an empty list"), span);
                    }
                }
            }
            Builtin::Sum => {
                let mut total: i64 = 0;
                for i in values[0]
                    .as_list()
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(Value::as_int)
                {
                    total = match total.checked_add(i) {
                        Some(t) => t,
                        None => return runtime("sum() overflows", span),
                    };
                }
                Value::Int(total)
            }
            Builtin::DependencyCycles => {
                let cycles = self.graph.cycles();
                self.charge_graph(span)?;
                let cycles = cycles.map_err(|m| self.missing_depends_on(m, span))?;
                Value::list(
                    cycles
                        .into_iter()
                        .map(|c| Value::list(c.into_iter().map(Value::str).collect()))
                        .collect(),
                )
            }
            Builtin::Str => {
                let shown = self.display(&values[0]);
                self.charge(shown.len() / BYTES_PER_STEP, span)?;
                Value::owned_str(shown)
            }
        })
    }
}

/// `lower`/`upper`: see [`with_case`].
fn change_case(text: &str, upper: bool) -> SmolStr {
    with_case(text, upper, |changed| SmolStr::new(changed))
}

/// `lower`/`upper` of `text`, handed to `f`: ASCII text (service names, accounts) is changed
/// byte by byte (see [`with_ascii_case`]), anything else by Unicode's rules.
pub(super) fn with_case<R>(text: &str, upper: bool, f: impl FnOnce(&str) -> R) -> R {
    if text.is_ascii() {
        with_ascii_case(text, upper, |bytes| {
            f(std::str::from_utf8(bytes).unwrap_or_default())
        })
    } else if upper {
        f(&text.to_uppercase())
    } else {
        f(&text.to_lowercase())
    }
}

/// `text` with its ASCII letters in upper or lower case, handed to `f` as bytes: changed in a
/// buffer on the stack when short, so that nothing is allocated (and, as bytes, nothing needs
/// checking for UTF-8 again).
pub(super) fn with_ascii_case<R>(text: &str, upper: bool, f: impl FnOnce(&[u8]) -> R) -> R {
    let change = if upper {
        crate::snapshot::ascii_uppercase
    } else {
        crate::snapshot::ascii_lowercase
    };
    let mut buffer = [0u8; 64];
    let Some(bytes) = buffer.get_mut(..text.len()) else {
        let mut long = text.as_bytes().to_vec();
        if upper {
            long.make_ascii_uppercase();
        } else {
            long.make_ascii_lowercase();
        }
        return f(&long);
    };
    bytes.copy_from_slice(text.as_bytes());
    // Sixteen bytes at a time; the zeros past the text stay zeros.
    for word in buffer.chunks_exact_mut(16).take(text.len().div_ceil(16)) {
        let changed = change(crate::snapshot::word_of(word));
        word.copy_from_slice(&changed.to_le_bytes());
    }
    f(&buffer[..text.len()])
}

#[cfg(test)]
mod tests {
    use super::with_ascii_case;

    #[test]
    fn case_changes_as_the_standard_library_does_at_every_length() {
        let pattern = "MSExchange-ÜberWächter_az@[`{AZ";
        for length in 0..=140 {
            let text: String = pattern.chars().cycle().take(length).collect();
            for upper in [false, true] {
                let expected = if upper {
                    text.to_ascii_uppercase()
                } else {
                    text.to_ascii_lowercase()
                };
                with_ascii_case(&text, upper, |bytes| {
                    assert_eq!(bytes, expected.as_bytes(), "{text:?}, upper: {upper}");
                });
            }
        }
    }
}
