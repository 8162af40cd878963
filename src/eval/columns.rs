//! A quantifier over `services` whose body compiled to a [`ServiceTest`] on its own variable is
//! decided a column at a time: the test's value for every service at once, as bit sets, with
//! the column of each `is` predicate computed once per host and shared by every rule that asks.
//! `count s in services: s is running and s.name != "X"` in 200 rules reads the states once and
//! compares names 200 times, instead of running 200 loops over every service.
//!
//! Each service's answer is true, false or unknown (data missing). Unknown answers are combined
//! as the evaluator combines undecided operands (`and` is false if any operand is, `or` true if
//! any is); when any service's answer stays unknown, the quantifier runs item by item instead,
//! so that the undecided item is reported exactly as evaluating the body would report it.

use super::Evaluator;
use super::shortcuts::{Bound, Case};
use super::value::Value;
use crate::check::ir::{
    KeptBy, Predicate, ServiceField, ServiceTest, TestText, literal_service_name,
};
use crate::source::Span;
use std::rc::Rc;

/// The answers of one test for every service: bit `i` is service `i`. A service is true when
/// its bit is set in `value`, unknown when set in `unknown`, and false otherwise.
#[derive(Debug, Clone)]
pub(super) struct Column {
    value: Vec<u64>,
    unknown: Vec<u64>,
}

impl Column {
    fn new(services: usize) -> Column {
        let words = services.div_ceil(64);
        Column {
            value: vec![0; words],
            unknown: vec![0; words],
        }
    }

    /// True for the given services, false for the rest.
    pub(super) fn of(services: usize, members: &[u32]) -> Column {
        let mut column = Column::new(services);
        for &i in members {
            column.set(i as usize, Some(true));
        }
        column
    }

    fn set(&mut self, service: usize, answer: Option<bool>) {
        let (word, bit) = (service / 64, 1u64 << (service % 64));
        match answer {
            Some(true) => self.value[word] |= bit,
            Some(false) => {}
            None => self.unknown[word] |= bit,
        }
    }

    /// Swaps true and false; unknown stays unknown.
    fn not(mut self, services: usize) -> Column {
        for (word, (v, u)) in self.value.iter_mut().zip(&self.unknown).enumerate() {
            *v = !*v & !*u & mask(word, services);
        }
        self
    }

    /// `and` (`all = true`) or `or` (`all = false`) of the operands' columns.
    fn combine(columns: Vec<Column>, all: bool, services: usize) -> Column {
        let mut out = Column::new(services);
        for word in 0..out.value.len() {
            let live = mask(word, services);
            let (mut any_true, mut all_true, mut any_false, mut any_unknown) = (0, live, 0, 0);
            for c in &columns {
                let (v, u) = (c.value[word], c.unknown[word]);
                any_true |= v;
                all_true &= v;
                any_false |= !v & !u & live;
                any_unknown |= u;
            }
            if all {
                out.value[word] = all_true;
                out.unknown[word] = any_unknown & !any_false;
            } else {
                out.value[word] = any_true;
                out.unknown[word] = any_unknown & !any_true;
            }
        }
        out
    }

    pub(super) fn has_unknown(&self) -> bool {
        self.unknown.iter().any(|&u| u != 0)
    }

    /// The services the test holds for, in order.
    pub(super) fn members(&self) -> impl Iterator<Item = u32> + '_ {
        self.value.iter().enumerate().flat_map(|(word, &bits)| {
            let base = u32::try_from(word * 64).unwrap_or(u32::MAX);
            (0..64u32)
                .filter(move |bit| bits & (1u64 << bit) != 0)
                .map(move |bit| base.saturating_add(bit))
        })
    }

    /// How many services the test holds for.
    pub(super) fn count(&self) -> u32 {
        self.value.iter().map(|v| v.count_ones()).sum()
    }
}

/// The bits of word `word` that stand for services.
fn mask(word: usize, services: usize) -> u64 {
    let first = word * 64;
    match services.saturating_sub(first) {
        n if n >= 64 => u64::MAX,
        n => (1u64 << n) - 1,
    }
}

impl<'a> Evaluator<'a> {
    /// The test's column over every service, for a loop whose variable is `slot`; `None` when
    /// the test reads another loop's variable. Graph work is charged to `span`, the loop body's.
    pub(super) fn column(
        &mut self,
        test: &'a ServiceTest,
        slot: u32,
        span: Span,
    ) -> Option<Column> {
        let services = self.snapshot.services.len();
        Some(match test {
            ServiceTest::And(tests) | ServiceTest::Or(tests) => {
                let columns = tests
                    .iter()
                    .map(|t| self.column(t, slot, span))
                    .collect::<Option<Vec<_>>>()?;
                Column::combine(columns, matches!(test, ServiceTest::And(_)), services)
            }
            ServiceTest::Not(t) => self.column(t, slot, span)?.not(services),
            ServiceTest::Is {
                slot: reads,
                predicate,
                negated,
            } => {
                if *reads != slot {
                    return None;
                }
                let column = self.predicate_column(*predicate);
                if *negated {
                    column.not(services)
                } else {
                    column
                }
            }
            ServiceTest::Equal {
                left,
                right,
                negated,
            } if test.reads_only(slot) && literal_service_name(left, right).is_some() => {
                let mut column = Column::new(services);
                // Service names are unique without regard to case (the snapshot loader refuses
                // two that differ only in case), so at most the one service the index finds
                // can carry exactly this name.
                if let Some(name) = literal_service_name(left, right) {
                    if let Some(i) = self.snapshot.services.get(name) {
                        if self.snapshot.services.service(i).name() == name {
                            column.set(i as usize, Some(true));
                        }
                    }
                }
                if *negated {
                    column.not(services)
                } else {
                    column
                }
            }
            ServiceTest::Kept { by, test } => {
                if !test.reads_only(slot) {
                    return None;
                }
                let key = ColumnKey::Kept(*by);
                if let Some(column) = self.kept_column(key) {
                    return Some(column);
                }
                let column = self.column(test, slot, span)?;
                self.columns.push((key, column.clone()));
                column
            }
            leaf => {
                if !leaf.reads_only(slot) {
                    return None;
                }
                // The list a membership test reads, computed now (if that fails, the loop runs
                // item by item and its body says why where it matters).
                match leaf {
                    ServiceTest::InGlobal {
                        text,
                        global,
                        negated,
                    } => {
                        let items = self.global(*global).ok()?;
                        if let Some(column) = self.joined_column(leaf, text, &items, slot) {
                            return Some(if *negated {
                                column.not(services)
                            } else {
                                column
                            });
                        }
                    }
                    ServiceTest::HasMissingDependencies { .. } => {
                        self.graph.resolve();
                        self.charge_graph(span).ok()?;
                    }
                    _ => {}
                }
                let mut column = Column::new(services);
                for i in 0..services {
                    let service = u32::try_from(i).unwrap_or(u32::MAX);
                    column.set(i, self.run_operand(leaf, Bound { slot, service }));
                }
                column
            }
        })
    }

    /// `s.name in xs` (or `lower(s.name) in xs`, `upper(…)`) for every service at once, by
    /// finding each item of `xs` in the service index rather than each service's name in `xs`:
    /// a list of a dozen names costs a dozen lookups, however many services the host has.
    /// `None` for any other text.
    fn joined_column(
        &self,
        leaf: &'a ServiceTest,
        text: &TestText,
        items: &Value<'a>,
        slot: u32,
    ) -> Option<Column> {
        let case = match *text {
            TestText::Field {
                slot: reads,
                field: ServiceField::Name,
            } if reads == slot => Case::Kept,
            TestText::Cased {
                slot: reads,
                field: ServiceField::Name,
                upper,
            } if reads == slot => {
                if upper {
                    Case::Upper
                } else {
                    Case::Lower
                }
            }
            _ => return None,
        };
        let Value::List(items) = items else {
            return None;
        };
        if case == Case::Kept {
            // A list whose services are known (a dependency union) needs no lookups.
            if let Some((_, named)) = self.name_sets.iter().find(|(l, _)| Rc::ptr_eq(l, items)) {
                return Some(named.clone());
            }
        }
        let index = &self.snapshot.services;
        let mut column = Column::new(index.len());
        for wanted in items.iter().filter_map(Value::as_str) {
            // The index matches without regard to ASCII case, and names are unique that way,
            // so this is the only service whose name can be `wanted`, as written or as
            // changed to one case.
            let Some(i) = index.get(wanted) else {
                continue;
            };
            let name = index.service(i).name();
            let holds = match case {
                Case::Kept => name == wanted,
                // `lower(name)` is `wanted` when `wanted` has no upper-case letter; names that
                // are not ASCII are asked one by one below.
                Case::Lower => name.is_ascii() && !wanted.bytes().any(|b| b.is_ascii_uppercase()),
                Case::Upper => name.is_ascii() && !wanted.bytes().any(|b| b.is_ascii_lowercase()),
            };
            if holds {
                column.set(i as usize, Some(true));
            }
        }
        if case != Case::Kept {
            for &service in index.names_not_ascii() {
                column.set(
                    service as usize,
                    self.run_operand(leaf, Bound { slot, service }),
                );
            }
        }
        Some(column)
    }

    /// The column of `is <predicate>`, computed once per host.
    fn predicate_column(&mut self, predicate: Predicate) -> Column {
        let key = ColumnKey::Predicate(predicate);
        if let Some(column) = self.kept_column(key) {
            return column;
        }
        let services = self.snapshot.services.len();
        let mut column = Column::new(services);
        for (i, svc) in self.snapshot.services.iter().enumerate() {
            let answer = match predicate {
                Predicate::State(s) => svc.state().map(|actual| actual == s),
                Predicate::StartType(t) => svc.start_type().map(|actual| actual == t),
            };
            column.set(i, answer);
        }
        self.columns.push((key, column.clone()));
        column
    }

    /// A column computed earlier on this host.
    fn kept_column(&self, key: ColumnKey) -> Option<Column> {
        let (_, column) = self.columns.iter().find(|(k, _)| *k == key)?;
        Some(column.clone())
    }
}

/// What a column is kept by, once per host: it depends on nothing but the host's services.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ColumnKey {
    /// `is <predicate>`, shared by every rule that asks.
    Predicate(Predicate),
    /// A [`ServiceTest::Kept`]: a function of one service whose body compiled, or a condition
    /// several loops ask.
    Kept(KeptBy),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(answers: &[Option<bool>]) -> Column {
        let mut c = Column::new(answers.len());
        for (i, a) in answers.iter().enumerate() {
            c.set(i, *a);
        }
        c
    }

    fn answers(c: &Column, n: usize) -> Vec<Option<bool>> {
        (0..n)
            .map(|i| {
                let (word, bit) = (i / 64, 1u64 << (i % 64));
                if c.unknown[word] & bit != 0 {
                    None
                } else {
                    Some(c.value[word] & bit != 0)
                }
            })
            .collect()
    }

    #[test]
    fn three_valued_logic_matches_the_evaluator() {
        // Every pair of answers, as `and` and `or` decide them with an undecided operand.
        let all = [Some(true), Some(false), None];
        let mut left = Vec::new();
        let mut right = Vec::new();
        for a in all {
            for b in all {
                left.push(a);
                right.push(b);
            }
        }
        let n = left.len();
        let and = Column::combine(vec![column(&left), column(&right)], true, n);
        let or = Column::combine(vec![column(&left), column(&right)], false, n);
        let not = column(&left).not(n);
        for i in 0..n {
            let (a, b) = (left[i], right[i]);
            let expected_and = match (a, b) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            let expected_or = match (a, b) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
            assert_eq!(answers(&and, n)[i], expected_and, "{a:?} and {b:?}");
            assert_eq!(answers(&or, n)[i], expected_or, "{a:?} or {b:?}");
            assert_eq!(answers(&not, n)[i], a.map(|x| !x), "not {a:?}");
        }
    }

    #[test]
    fn bits_past_the_last_service_stay_clear() {
        for n in [1, 63, 64, 65, 130] {
            let c = column(&vec![Some(false); n]).not(n);
            assert_eq!(c.count() as usize, n);
            assert!(!c.has_unknown());
        }
    }
}
