//! Shortcuts the evaluator takes when it is neither explaining nor tracing: conditions decided
//! without building a value per operand, and loop bodies compiled to a [`ServiceTest`] (see
//! `check::service_test`). Each gives the answer the general path gives, or `None` to send the
//! node down that path (tests/shortcuts.rs checks both ways agree).

use super::*;

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
    fn run_operand(&self, test: &'a ServiceTest, bound: Bound) -> Option<bool> {
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
                let same = self.test_text(left, bound)? == self.test_text(right, bound)?;
                Some(same != *negated)
            }
        }
    }

    #[inline]
    fn test_text(&self, text: &'a TestText, bound: Bound) -> Option<&'a str> {
        match text {
            TestText::Literal(s) => Some(s),
            TestText::Field { slot, field } => {
                let svc = self.service(self.test_service(*slot, bound)?);
                match field {
                    ServiceField::Name => Some(svc.name()),
                    ServiceField::Account => svc.account(),
                    ServiceField::DisplayName => svc.display_name(),
                    _ => None,
                }
            }
        }
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
            NodeKind::ServiceNamed(id) => *self.named_services.get(id as usize)?,
            // `let eventlog = service("Eventlog")`, once computed.
            NodeKind::Global(g) => match self.globals.get(g as usize)? {
                Some(Ok(Value::Service(i))) => Some(*i),
                _ => None,
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
            } if self.trace.is_none() => {
                let svc = self.service(self.fast_service(base)?);
                match field {
                    ServiceField::Name => Some(svc.name()),
                    ServiceField::Account => svc.account(),
                    ServiceField::DisplayName => svc.display_name(),
                    _ => None,
                }
            }
            _ => None,
        }
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
