//! Loop bodies and filters made only of `and`, `or`, `not`, `is` on a service and string
//! (in)equality of literals and service fields (`s is running and s.name != "EventLog"`) are
//! also compiled to a [`ServiceTest`], which the evaluator runs without building a value per
//! operand. Such loops over all services are most of the work of large packs.

use super::hoist::direct_children;
use super::ir::*;

/// Wraps every loop body and filter that compiles in a [`NodeKind::Tested`].
pub fn compile(program: &mut Program) {
    for function in &mut program.functions {
        walk(&mut function.body.node);
    }
    for global in &mut program.globals {
        walk(&mut global.body.node);
    }
    for fact in &mut program.facts {
        if let Some(default) = &mut fact.default {
            walk(&mut default.node);
        }
    }
    for rule in &mut program.rules {
        if let Some(when) = &mut rule.when {
            walk(&mut when.node);
        }
        for require in &mut rule.requires {
            walk(&mut require.node);
            for part in require.message.iter_mut().flatten() {
                if let MessagePart::Expr(node) = part {
                    walk(node);
                }
            }
        }
    }
}

fn walk(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Comprehension {
            source,
            filter,
            element,
            ..
        } => {
            walk(source);
            if let Some(filter) = filter {
                walk(filter);
                wrap(filter);
            }
            walk(element);
        }
        NodeKind::Quantifier { source, body, .. } => {
            walk(source);
            walk(body);
            wrap(body);
        }
        kind => {
            for child in direct_children(kind) {
                walk(child);
            }
        }
    }
}

fn wrap(node: &mut Node) {
    let Some(test) = test(node) else {
        return;
    };
    let inner = std::mem::replace(&mut node.kind, NodeKind::Bool(false));
    node.kind = NodeKind::Tested {
        test,
        node: Box::new(Node {
            kind: inner,
            span: node.span,
        }),
    };
}

fn test(node: &Node) -> Option<ServiceTest> {
    Some(match &node.kind {
        NodeKind::And(operands) => {
            ServiceTest::And(operands.iter().map(test).collect::<Option<_>>()?)
        }
        NodeKind::Or(operands) => {
            ServiceTest::Or(operands.iter().map(test).collect::<Option<_>>()?)
        }
        NodeKind::Not(inner) => ServiceTest::Not(Box::new(test(inner)?)),
        NodeKind::Is {
            base,
            predicate,
            negated,
        } => match base.kind {
            NodeKind::Local(slot) => ServiceTest::Is {
                slot,
                predicate: *predicate,
                negated: *negated,
            },
            _ => return None,
        },
        NodeKind::Compare(cmp @ (Compare::Eq | Compare::Ne), left, right) => ServiceTest::Equal {
            left: text(left)?,
            right: text(right)?,
            negated: *cmp == Compare::Ne,
        },
        _ => return None,
    })
}

fn text(node: &Node) -> Option<TestText> {
    match &node.kind {
        NodeKind::Str(s) => Some(TestText::Literal(s.clone())),
        NodeKind::ServiceField {
            base,
            field: field @ (ServiceField::Name | ServiceField::DisplayName | ServiceField::Account),
            project: false,
        } => match base.kind {
            NodeKind::Local(slot) => Some(TestText::Field {
                slot,
                field: *field,
            }),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    /// Whether the body of the quantifier each rule requires was compiled to a test.
    fn compiled(requirements: &[&str]) -> Vec<bool> {
        let mut text = String::from("pack p\nrule r {\n  title \"t\"\n  severity info\n");
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
                NodeKind::Quantifier { body, .. } => matches!(body.kind, NodeKind::Tested { .. }),
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
    fn anything_else_is_evaluated_as_written() {
        assert_eq!(
            compiled(&[
                r#"all s in services: lower(s.name) != "x""#,
                r#"all s in services: s runs as "LocalSystem""#,
                r#"all s in services: s.state == "running""#,
                r#"all s in services: service("RpcSs") is running"#,
            ]),
            [false, false, false, false]
        );
    }
}
