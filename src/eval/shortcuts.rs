//! Shortcuts the evaluator takes when it is neither explaining nor tracing: conditions decided
//! without building a value per operand, and loop bodies compiled to a [`ServiceTest`] (see
//! `check::service_test`). Each gives the answer the general path gives, or `None` to send the
//! node down that path (tests/shortcuts.rs checks both ways agree).

use super::*;
use columns::Column;

impl<'a> Evaluator<'a> {
    /// The conditions rules are mostly made of (`and`, `or`, `not`, `is`, string equality),
    /// decided without building a [`Value`] for every operand: quantifier bodies over hundreds
    /// of services run through here. `None` sends the node down the general path, which gives
    /// the same answer (and the diagnostics when something is missing); so does tracing.
    pub(super) fn fast_bool(&mut self, node: &'a Node) -> Option<Result<bool, Box<Undecided>>> {
        match &node.kind {
            NodeKind::And(operands) | NodeKind::Or(operands) => {
                // `and` is decided by a false operand, `or` by a true one, even after an
                // undecided one.
                let deciding = matches!(node.kind, NodeKind::Or(_));
                if let Err(u) = self.enter(node.span) {
                    return Some(Err(u));
                }
                let mut pending = None;
                let mut decided = None;
                for operand in operands {
                    match self.eval_bool(operand) {
                        Ok(b) if b == deciding => {
                            decided = Some(b);
                            break;
                        }
                        Ok(_) => {}
                        Err(u) => {
                            pending.get_or_insert(u);
                        }
                    }
                }
                self.depth -= 1;
                Some(match decided {
                    Some(b) => Ok(b),
                    None => pending.map_or(Ok(!deciding), Err),
                })
            }
            NodeKind::Not(inner) => {
                if let Err(u) = self.enter(node.span) {
                    return Some(Err(u));
                }
                let result = self.eval_bool(inner).map(|b| !b);
                self.depth -= 1;
                Some(result)
            }
            NodeKind::Is {
                base,
                predicate,
                negated,
            } if self.trace.is_none() => {
                let svc = self.service(self.fast_service(base)?);
                let holds = match predicate {
                    Predicate::State(s) => svc.state()? == *s,
                    Predicate::StartType(t) => svc.start_type()? == *t,
                };
                Some(self.charge(1, node.span).map(|()| holds != *negated))
            }
            NodeKind::Compare(cmp @ (Compare::Eq | Compare::Ne), l, r) => {
                let (l, r) = (self.fast_str(l)?, self.fast_str(r)?);
                let work = 1 + l.len().min(r.len()) / BYTES_PER_STEP;
                Some(
                    self.charge(work, node.span)
                        .map(|()| (l == r) == (*cmp == Compare::Eq)),
                )
            }
            _ => None,
        }
    }

    /// `unique(flatten(xs.all_dependencies))`, everything a list of services starts through,
    /// as one pass over the graph's reach sets: the names in the order that expression gives
    /// them (each service's dependencies in name order, each name where it first appears).
    /// `None` sends the call down the general path, which gives the same answer and says what
    /// is missing.
    pub(super) fn dependency_union(&mut self, args: &'a [Node], span: Span) -> Option<Eval<'a>> {
        let [
            Node {
                kind: NodeKind::Builtin(Builtin::Flatten, inner),
                ..
            },
        ] = args
        else {
            return None;
        };
        let [
            Node {
                kind:
                    NodeKind::ServiceField {
                        base,
                        field: ServiceField::AllDependencies,
                        project: true,
                    },
                ..
            },
        ] = &inner[..]
        else {
            return None;
        };
        if self.explain.is_some() || self.trace.is_some() {
            return None;
        }
        let items = match self.eval_list(base) {
            Ok(items) => items,
            Err(u) => return Some(Err(u)),
        };
        let services = items
            .iter()
            .map(|item| match item {
                Value::Service(i) => Some(*i),
                _ => None,
            })
            .collect::<Option<Vec<u32>>>()?;
        let union = self.graph.dependency_union(&services);
        if let Err(u) = self.charge_graph(span) {
            return Some(Err(u));
        }
        let union = union?;
        let names: Rc<[Value<'a>]> = union.names.into_iter().map(Value::str).collect();
        // Which services the list names is known already: `s.name in <this list>` in a loop
        // over `services` reads it instead of looking each name up. A pack computes a few
        // such lists per host; one computing a union per item of a loop keeps only the first.
        if self.name_sets.len() < MAX_NAME_SETS {
            let named = Column::of(self.snapshot.services.len(), &union.services);
            self.name_sets.push((Rc::clone(&names), named));
        }
        Some(Ok(Value::List(names)))
    }

    /// A compiled loop body or filter; `None` when something it reads is missing (the body
    /// as written then says what).
    pub(super) fn run_test(&self, test: &'a ServiceTest, bound: Bound) -> Option<bool> {
        match test {
            ServiceTest::And(tests) => {
                for t in tests {
                    if !self.run_operand(t, bound)? {
                        return Some(false);
                    }
                }
                Some(true)
            }
            ServiceTest::Or(tests) => {
                for t in tests {
                    if self.run_operand(t, bound)? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            ServiceTest::Not(t) => Some(!self.run_operand(t, bound)?),
            _ => self.run_operand(test, bound),
        }
    }

    /// An operand of a [`ServiceTest`]: the comparisons are done in place, without another call.
    #[inline]
    pub(super) fn run_operand(&self, test: &'a ServiceTest, bound: Bound) -> Option<bool> {
        match test {
            ServiceTest::And(_) | ServiceTest::Or(_) | ServiceTest::Not(_) => {
                self.run_test(test, bound)
            }
            ServiceTest::Is {
                slot,
                predicate,
                negated,
            } => {
                let svc = self.service(self.test_service(*slot, bound)?);
                let holds = match predicate {
                    Predicate::State(s) => svc.state()? == *s,
                    Predicate::StartType(t) => svc.start_type()? == *t,
                };
                Some(holds != *negated)
            }
            ServiceTest::Equal {
                left,
                right,
                negated,
            } => {
                let same = self.text(left, bound)?.equals(&self.text(right, bound)?);
                Some(same != *negated)
            }
            ServiceTest::Text { op, text, part } => {
                let (text, part) = (self.text(text, bound)?, self.text(part, bound)?);
                Some(match op {
                    TextOp::StartsWith => text.starts_with(&part),
                    TextOp::EndsWith => text.ends_with(&part),
                    TextOp::Contains => text.contains(&part),
                })
            }
            ServiceTest::InGlobal {
                text,
                global,
                negated,
            } => {
                // Until the loop's body has computed the list, the body decides.
                let lookup = self.lookup(*global)?;
                let text = self.text(text, bound)?;
                let found = text.with_bytes(|wanted| lookup.contains(wanted));
                Some(found != *negated)
            }
            ServiceTest::Kept { test, .. } => self.run_test(test, bound),
            ServiceTest::HasMissingDependencies { slot, negated } => {
                // Until the edges are resolved (and charged), the body decides.
                let service = self.test_service(*slot, bound)?;
                Some(self.graph.has_missing_dependencies(service)? != *negated)
            }
            ServiceTest::RunsAs { slot, account } => {
                let actual = self.service(self.test_service(*slot, bound)?).account()?;
                Some(same_account(actual, &self.text(account, bound)?.to_str()))
            }
        }
    }

    /// The string a test reads.
    #[inline]
    fn text(&self, text: &'a TestText, bound: Bound) -> Option<Text<'a>> {
        Some(match text {
            TestText::Literal(s) => Text::Plain(s),
            TestText::Field { slot, field } => Text::Plain(field_text(
                self.service(self.test_service(*slot, bound)?),
                *field,
            )?),
            TestText::Cased { slot, field, upper } => {
                let raw = field_text(self.service(self.test_service(*slot, bound)?), *field)?;
                match (raw.is_ascii(), upper) {
                    (true, false) => Text::Lower(raw),
                    (true, true) => Text::Upper(raw),
                    (false, false) => Text::Owned(raw.to_lowercase()),
                    (false, true) => Text::Owned(raw.to_uppercase()),
                }
            }
        })
    }

    #[inline]
    fn test_service(&self, slot: u32, bound: Bound) -> Option<u32> {
        if slot == bound.slot {
            Some(bound.service)
        } else {
            self.local_service(slot)
        }
    }

    pub(super) fn local_service(&self, slot: u32) -> Option<u32> {
        match self.locals.get(self.frame + slot as usize)? {
            Value::Service(i) => Some(*i),
            _ => None,
        }
    }

    /// The service a loop variable or a literal `service("…")` holds, when that is all it takes.
    pub(super) fn fast_service(&self, node: &'a Node) -> Option<u32> {
        match node.kind {
            NodeKind::Local(slot) => self.local_service(slot),
            NodeKind::ServiceNamed(id) => self.named_service(id),
            // `let eventlog = service("Eventlog")`, computed or not: such a definition is the
            // service the name found when the evaluator started.
            NodeKind::Global(g) => match self.globals.get(g as usize)? {
                Some(Ok(Value::Service(i))) => Some(*i),
                Some(_) => None,
                None => match self.program.globals.get(g as usize)?.body.node.kind {
                    NodeKind::ServiceNamed(id) => self.named_service(id),
                    _ => None,
                },
            },
            _ => None,
        }
    }

    /// A string literal, or a string field of such a service (when it is there and no read
    /// needs recording).
    pub(super) fn fast_str(&self, node: &'a Node) -> Option<&'a str> {
        match &node.kind {
            NodeKind::Str(s) => Some(s),
            NodeKind::ServiceField {
                base,
                field,
                project: false,
            } if self.trace.is_none() => field_text(self.service(self.fast_service(base)?), *field),
            _ => None,
        }
    }
}

/// How many lists with known services an evaluator keeps (see `dependency_union`).
const MAX_NAME_SETS: usize = 16;

/// A string a [`ServiceTest`] compares: `lower`/`upper` of ASCII text (service names,
/// accounts) is compared byte by byte as changed, without being built.
enum Text<'a> {
    Plain(&'a str),
    Lower(&'a str),
    Upper(&'a str),
    /// Changed by Unicode's rules, as `lower`/`upper` change text that is not ASCII.
    Owned(String),
}

impl Text<'_> {
    /// The text's bytes as `lower`/`upper` would have built it, handed to `f` (changed in a
    /// buffer on the stack: no string is built).
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Text::Plain(s) => f(s.as_bytes()),
            Text::Owned(s) => f(s.as_bytes()),
            Text::Lower(s) => builtins::with_ascii_case(s, false, f),
            Text::Upper(s) => builtins::with_ascii_case(s, true, f),
        }
    }

    /// The bytes as read, and how `lower`/`upper` would change each of them.
    fn cased(&self) -> (&[u8], Case) {
        match self {
            Text::Plain(s) => (s.as_bytes(), Case::Kept),
            Text::Owned(s) => (s.as_bytes(), Case::Kept),
            Text::Lower(s) => (s.as_bytes(), Case::Lower),
            Text::Upper(s) => (s.as_bytes(), Case::Upper),
        }
    }

    /// Whether `part` is the whole text (`Whole`) or one end of it, compared byte by byte as
    /// changed: nothing is copied.
    fn matches(&self, part: &Text<'_>, at: Place) -> bool {
        let ((text, text_case), (part, part_case)) = (self.cased(), part.cased());
        let Some(start) = text.len().checked_sub(part.len()) else {
            return false;
        };
        let compared = match at {
            Place::Whole if start != 0 => return false,
            Place::Whole | Place::Start => &text[..part.len()],
            Place::End => &text[start..],
        };
        compared
            .iter()
            .zip(part)
            .all(|(&a, &b)| text_case.apply(a) == part_case.apply(b))
    }

    fn equals(&self, other: &Text<'_>) -> bool {
        self.matches(other, Place::Whole)
    }

    fn starts_with(&self, part: &Text<'_>) -> bool {
        self.matches(part, Place::Start)
    }

    fn ends_with(&self, part: &Text<'_>) -> bool {
        self.matches(part, Place::End)
    }

    fn contains(&self, part: &Text<'_>) -> bool {
        self.to_str().contains(&*part.to_str())
    }

    /// The text as `lower`/`upper` would have built it.
    fn to_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Text::Plain(s) => (*s).into(),
            Text::Owned(s) => s.as_str().into(),
            Text::Lower(s) => s.to_ascii_lowercase().into(),
            Text::Upper(s) => s.to_ascii_uppercase().into(),
        }
    }
}

/// What `lower`/`upper` do to each byte of an ASCII [`Text`].
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Case {
    Kept,
    Lower,
    Upper,
}

impl Case {
    fn apply(self, byte: u8) -> u8 {
        match self {
            Case::Kept => byte,
            Case::Lower => byte.to_ascii_lowercase(),
            Case::Upper => byte.to_ascii_uppercase(),
        }
    }
}

#[derive(Clone, Copy)]
enum Place {
    Whole,
    Start,
    End,
}

/// A string field of a service as `s.<field>` reads it; `None` when the snapshot does not give
/// it (or the field is not one string).
pub(super) fn field_text<'a>(svc: ServiceRef<'a>, field: ServiceField) -> Option<&'a str> {
    match field {
        ServiceField::Name => Some(svc.name()),
        ServiceField::DisplayName => svc.display_name(),
        ServiceField::Account => svc.account(),
        ServiceField::State => svc.state().map(|s| s.as_str()),
        ServiceField::StartType => svc.start_type().map(|t| t.as_str()),
        _ => None,
    }
}

/// The loop variable a [`ServiceTest`] is run for, handed over rather than stored in its slot.
#[derive(Clone, Copy)]
pub(super) struct Bound {
    pub(super) slot: u32,
    pub(super) service: u32,
}

impl Bound {
    /// For a test whose loop variables are all in their slots.
    pub(super) const NONE: Bound = Bound {
        slot: u32::MAX,
        service: 0,
    };
}
