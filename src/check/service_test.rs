//! Loop bodies and filters made only of `and`, `or`, `not`, `is` on a service and string
//! (in)equality of literals and service fields (`s is running and s.name != "EventLog"`) are
//! also compiled to a [`ServiceTest`], which the evaluator runs without building a value per
//! operand. Such loops over all services are most of the work of large packs.

use super::hoist::children;
use super::ir::*;

/// Wraps every loop body and filter that compiles in a [`NodeKind::Tested`].
pub fn compile(program: &mut Program) {
    let mut compiler = Compiler {
        functions: function_tests(program),
        looked_up: Vec::new(),
    };
    program.for_each_root(|node, _| compiler.walk(node));
    for g in compiler.looked_up {
        if let Some(global) = program.globals.get_mut(g as usize) {
            global.looked_up = true;
        }
    }
    keep_repeated(program);
}

/// Marks each condition that loops over `services` ask in more than one place (whatever their
/// variables are called) as [`KeptBy::Repeated`], so that its column is computed once per host.
fn keep_repeated(program: &mut Program) {
    let mut asked: std::collections::HashMap<ServiceTest, (u32, u32)> = Default::default();
    program.for_each_root(|node, _| {
        for_each_column_leaf(node, &mut |leaf| {
            let next = u32::try_from(asked.len()).unwrap_or(u32::MAX);
            asked.entry(unbound(leaf)).or_insert((next, 0)).1 += 1;
        });
    });
    program.for_each_root(|node, _| {
        for_each_column_leaf(node, &mut |leaf| {
            if let Some(&(number, times)) = asked.get(&unbound(leaf)) {
                if times > 1 {
                    let test = std::mem::replace(leaf, ServiceTest::And(Vec::new()));
                    *leaf = ServiceTest::Kept {
                        by: KeptBy::Repeated(number),
                        test: Box::new(test),
                    };
                }
            }
        });
    });
}

/// The test as if its loop variable were in slot 0.
fn unbound(test: &ServiceTest) -> ServiceTest {
    let mut test = test.clone();
    test.rebind(0);
    test
}

/// Calls `f` with each leaf of the tests that loops over `services` are decided by a column at
/// a time (see `eval::columns`), except those already kept some other way: `is` predicates,
/// `s.name == "literal"` (found through the service index) and calls of functions.
fn for_each_column_leaf(node: &mut Node, f: &mut impl FnMut(&mut ServiceTest)) {
    for child in children(&mut node.kind) {
        for_each_column_leaf(child, f);
    }
    if let Some((NodeKind::Services, NodeKind::Tested { test, .. })) =
        loop_condition(&mut node.kind).map(|(source, condition)| (source, &mut condition.kind))
    {
        visit_leaves(test, f);
    }
}

/// The source of a loop, and the condition it tests each item with: a comprehension's filter,
/// a quantifier's body.
fn loop_condition(kind: &mut NodeKind) -> Option<(&NodeKind, &mut Node)> {
    match kind {
        NodeKind::Comprehension {
            source,
            filter: Some(condition),
            ..
        }
        | NodeKind::Quantifier {
            source,
            body: condition,
            ..
        } => Some((&source.kind, condition)),
        _ => None,
    }
}

fn visit_leaves(test: &mut ServiceTest, f: &mut impl FnMut(&mut ServiceTest)) {
    match test {
        ServiceTest::And(tests) | ServiceTest::Or(tests) => {
            tests.iter_mut().for_each(|t| visit_leaves(t, f));
        }
        ServiceTest::Not(t) => visit_leaves(t, f),
        ServiceTest::Is { .. } | ServiceTest::Kept { .. } => {}
        ServiceTest::Equal { left, right, .. } if literal_service_name(left, right).is_some() => {}
        leaf => f(leaf),
    }
}

/// The test each function of one service compiles to, on its parameter (slot 0), so that a
/// call such as `is_exchange(s)` in a loop becomes part of the loop's test.
fn function_tests(program: &Program) -> Vec<Option<ServiceTest>> {
    let mut compiler = Compiler {
        functions: vec![None; program.functions.len()],
        looked_up: Vec::new(),
    };
    // A function may call one declared after it: a few passes settle the usual chains, and a
    // function left out is only evaluated as written.
    for _ in 0..3 {
        let mut settled = true;
        for (i, function) in program.functions.iter().enumerate() {
            if function.arity != 1 || compiler.functions[i].is_some() {
                continue;
            }
            if let Some(test) = compiler.test(&function.body.node) {
                if test.reads_only(0) {
                    compiler.functions[i] = Some(test);
                    settled = false;
                }
            }
        }
        if settled {
            break;
        }
    }
    compiler.functions
}

struct Compiler {
    functions: Vec<Option<ServiceTest>>,
    /// The globals that compiled tests look strings up in.
    looked_up: Vec<u32>,
}

impl Compiler {
    fn walk(&mut self, node: &mut Node) {
        for child in children(&mut node.kind) {
            self.walk(child);
        }
        if let Some((_, condition)) = loop_condition(&mut node.kind) {
            self.wrap(condition);
        }
    }

    fn wrap(&mut self, node: &mut Node) {
        let Some(test) = self.test(node) else {
            return;
        };
        test.globals_looked_up(&mut self.looked_up);
        let inner = std::mem::replace(&mut node.kind, NodeKind::Bool(false));
        node.kind = NodeKind::Tested {
            test,
            node: Box::new(Node {
                kind: inner,
                span: node.span,
            }),
        };
    }

    fn test(&self, node: &Node) -> Option<ServiceTest> {
        Some(match &node.kind {
            NodeKind::And(operands) => ServiceTest::And(
                operands
                    .iter()
                    .map(|o| self.test(o))
                    .collect::<Option<_>>()?,
            ),
            NodeKind::Or(operands) => ServiceTest::Or(
                operands
                    .iter()
                    .map(|o| self.test(o))
                    .collect::<Option<_>>()?,
            ),
            NodeKind::Not(inner) => ServiceTest::Not(Box::new(self.test(inner)?)),
            NodeKind::Is {
                base,
                predicate,
                negated,
            } => ServiceTest::Is {
                slot: local(base)?,
                predicate: *predicate,
                negated: *negated,
            },
            NodeKind::Compare(cmp @ (Compare::Eq | Compare::Ne), left, right)
                if missing_count(left, right).is_none() =>
            {
                ServiceTest::Equal {
                    left: text(left)?,
                    right: text(right)?,
                    negated: *cmp == Compare::Ne,
                }
            }
            NodeKind::Compare(cmp, left, right) => {
                let (slot, number, counted_left) = missing_count(left, right)?;
                // A count is never negative, and a comparison with a fixed number answers the
                // same for every count from the one up to the largest, or for none: it then
                // asks only whether there are any.
                let holds = |count: i64| {
                    let (l, r) = if counted_left {
                        (count, number)
                    } else {
                        (number, count)
                    };
                    cmp.holds(l.cmp(&r))
                };
                let (when_none, when_some) = (holds(0), holds(1));
                if when_none == when_some || holds(i64::MAX) != when_some {
                    return None;
                }
                ServiceTest::HasMissingDependencies {
                    slot,
                    negated: when_none,
                }
            }
            NodeKind::Builtin(
                builtin @ (Builtin::StartsWith | Builtin::EndsWith | Builtin::Contains),
                args,
            ) => {
                let [text_arg, part] = &args[..] else {
                    return None;
                };
                ServiceTest::Text {
                    op: match builtin {
                        Builtin::StartsWith => TextOp::StartsWith,
                        Builtin::EndsWith => TextOp::EndsWith,
                        _ => TextOp::Contains,
                    },
                    text: text(text_arg)?,
                    part: text(part)?,
                }
            }
            NodeKind::In {
                kind: Membership::List,
                needle,
                haystack,
                negated,
            } => match haystack.kind {
                NodeKind::Global(global) => ServiceTest::InGlobal {
                    text: text(needle)?,
                    global,
                    negated: *negated,
                },
                _ => return None,
            },
            NodeKind::RunsAs(service, account) => ServiceTest::RunsAs {
                slot: local(service)?,
                account: text(account)?,
            },
            NodeKind::Call(function, args) => {
                let [arg] = &args[..] else {
                    return None;
                };
                let slot = local(arg)?;
                let mut test = self.functions.get(*function as usize)?.clone()?;
                test.rebind(slot);
                ServiceTest::Kept {
                    by: KeptBy::Function(*function),
                    test: Box::new(test),
                }
            }
            _ => return None,
        })
    }
}

/// For `count(s.missing_dependencies)` compared with an integer literal (either way round):
/// the loop variable, the number, and whether the count is on the left.
fn missing_count(left: &Node, right: &Node) -> Option<(u32, i64, bool)> {
    let counted = |node: &Node| match &node.kind {
        NodeKind::Builtin(Builtin::Len, args) => match &args[..] {
            [
                Node {
                    kind:
                        NodeKind::ServiceField {
                            base,
                            field: ServiceField::MissingDependencies,
                            project: false,
                        },
                    ..
                },
            ] => local(base),
            _ => None,
        },
        _ => None,
    };
    match (&left.kind, &right.kind) {
        (_, NodeKind::Int(n)) => Some((counted(left)?, *n, true)),
        (NodeKind::Int(n), _) => Some((counted(right)?, *n, false)),
        _ => None,
    }
}

fn local(node: &Node) -> Option<u32> {
    match node.kind {
        NodeKind::Local(slot) => Some(slot),
        _ => None,
    }
}

fn text(node: &Node) -> Option<TestText> {
    match &node.kind {
        NodeKind::Str(s) => Some(TestText::Literal(s.clone())),
        NodeKind::ServiceField {
            base,
            field,
            project: false,
        } if field.is_text() => Some(TestText::Field {
            slot: local(base)?,
            field: *field,
        }),
        NodeKind::Builtin(builtin @ (Builtin::Lower | Builtin::Upper), args) => {
            match text(args.first()?)? {
                TestText::Field { slot, field } => Some(TestText::Cased {
                    slot,
                    field,
                    upper: *builtin == Builtin::Upper,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    /// Whether the body of the quantifier each rule requires was compiled to a test.
    fn compiled(requirements: &[&str]) -> Vec<bool> {
        compiled_in("pack p\n", requirements)
    }

    /// The same, with definitions (`prelude`, starting with the `pack` line) before the rule.
    fn compiled_in(prelude: &str, requirements: &[&str]) -> Vec<bool> {
        bodies(prelude, requirements, |body| {
            matches!(body.kind, NodeKind::Tested { .. })
        })
    }

    /// What `look` sees in the body of the quantifier each requirement of one rule is.
    fn bodies<T>(prelude: &str, requirements: &[&str], look: impl Fn(&Node) -> T) -> Vec<T> {
        let mut text = format!("{prelude}rule r {{\n  title \"t\"\n  severity info\n");
        for r in requirements {
            text.push_str(&format!("  require {r}\n"));
        }
        text.push_str("}\n");
        let mut sources = SourceMap::new();
        let pack = vec![("p.xpol".to_string(), text.into_bytes())];
        let program = crate::policy::load_bytes(&[pack], &mut sources)
            .program
            .expect("the policy checks");
        program.rules[0]
            .requires
            .iter()
            .map(|r| match &r.node.kind {
                NodeKind::Quantifier { body, .. } => look(body),
                other => panic!("not a quantifier: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn conditions_on_loop_services_compile() {
        assert_eq!(
            compiled(&[
                r#"all s in services: s is running and s.name != "EventLog""#,
                r#"any s in services: not (s is disabled) or s.account == "LocalSystem""#,
                r#"none s in services: s.display_name == s.name"#,
            ]),
            [true, true, true]
        );
    }

    #[test]
    fn string_builtins_membership_accounts_and_functions_compile() {
        let mut text = String::from(
            "pack p\nlet names = [\"a\", \"b\"]\nlet is_mail(s: service) = starts_with(lower(s.name), \"msexchange\") or lower(s.name) in names\n",
        );
        text.push_str("let wrapped(s: service) = is_mail(s) and s is running\n");
        let requirements = [
            r#"all s in services: lower(s.name) != "x""#,
            r#"all s in services: s runs as "LocalSystem""#,
            r#"all s in services: s.state == "running""#,
            r#"all s in services: ends_with(upper(s.account), "$") or contains(s.display_name, "Exchange")"#,
            r#"all s in services: s.name not in names"#,
            r#"all s in services: wrapped(s)"#,
        ];
        assert_eq!(compiled_in(&text, &requirements), [true; 6]);
    }

    #[test]
    fn counts_of_missing_dependencies_compared_with_a_number_compile() {
        let compiles = [
            "count(s.missing_dependencies) > 0",
            "count(s.missing_dependencies) == 0",
            "count(s.missing_dependencies) != 0",
            "count(s.missing_dependencies) >= 1",
            "0 < count(s.missing_dependencies)",
            "1 > count(s.missing_dependencies)",
        ];
        // These ask more than whether there are any, or nothing at all.
        let stays = [
            "count(s.missing_dependencies) > 1",
            "count(s.missing_dependencies) == 2",
            "count(s.missing_dependencies) >= 0",
            "count(s.depends_on) > 0",
        ];
        let all: Vec<String> = compiles
            .iter()
            .chain(&stays)
            .map(|c| format!("all s in services: {c}"))
            .collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let expected: Vec<bool> = compiles
            .iter()
            .map(|_| true)
            .chain(stays.iter().map(|_| false))
            .collect();
        assert_eq!(compiled(&all), expected);
    }

    /// The numbers of the repeated conditions in each requirement's quantifier body, in order.
    fn repeated_in(prelude: &str, requirements: &[&str]) -> Vec<Vec<u32>> {
        fn numbers(test: &ServiceTest, out: &mut Vec<u32>) {
            match test {
                ServiceTest::And(tests) | ServiceTest::Or(tests) => {
                    tests.iter().for_each(|t| numbers(t, out));
                }
                ServiceTest::Not(t) => numbers(t, out),
                ServiceTest::Kept {
                    by: KeptBy::Repeated(n),
                    ..
                } => out.push(*n),
                _ => {}
            }
        }
        bodies(prelude, requirements, |body| {
            let mut out = Vec::new();
            if let NodeKind::Tested { test, .. } = &body.kind {
                numbers(test, &mut out);
            }
            out
        })
    }

    #[test]
    fn conditions_asked_in_several_loops_over_services_are_kept_once() {
        let prelude =
            "pack p\nlet names = [\"a\"]\nlet listed = [s for s in services if s is running]\n";
        let repeated = repeated_in(
            prelude,
            &[
                r#"all s in services: lower(s.name) in names or s.name == "X""#,
                r#"any x in services: lower(x.name) in names and contains(x.account, "\\")"#,
                r#"none s in services: contains(s.account, "\\")"#,
                // Asked once over `services`: the loop over a list does not count.
                r#"all s in services: starts_with(s.name, "MS")"#,
                r#"all s in listed: starts_with(s.name, "MS")"#,
            ],
        );
        assert_eq!(repeated, [vec![0], vec![0, 1], vec![1], vec![], vec![]]);
    }

    #[test]
    fn anything_else_is_evaluated_as_written() {
        let text = "pack p\nlet count_of(s: service) = len(s.name) > 3\n";
        assert_eq!(
            compiled_in(
                text,
                &[
                    r#"all s in services: service("RpcSs") is running"#,
                    r#"all s in services: s.name in ["a", "b"]"#,
                    r#"all s in services: len(s.name) > 3"#,
                    r#"all s in services: count_of(s)"#,
                    r#"all s in services: s.name == lower(host.name)"#,
                ]
            ),
            [false; 5]
        );
    }
}
