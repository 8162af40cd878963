//! The order in which a pack's definitions are checked: each after the definitions it uses, so
//! checking never recurses from one definition into another, however long the chain. Cycles
//! are found here too.

use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind};

/// The pack-level names an expression refers to, with where, honouring the names bound by
/// parameters, comprehensions and quantifiers.
pub fn references(body: &Expr, params: &[&str]) -> Vec<(String, Span)> {
    let mut bound: Vec<&str> = params.to_vec();
    let mut out = Vec::new();
    walk(body, &mut bound, &mut out);
    out
}

fn walk<'e>(e: &'e Expr, bound: &mut Vec<&'e str>, out: &mut Vec<(String, Span)>) {
    match &e.kind {
        ExprKind::Name(name) => {
            if !bound.contains(&name.as_str()) {
                out.push((name.clone(), e.span));
            }
        }
        ExprKind::Call { func, args } => {
            if !bound.contains(&func.node.as_str()) {
                out.push((func.node.clone(), func.span));
            }
            args.iter().for_each(|a| walk(a, bound, out));
        }
        ExprKind::Comprehension {
            element,
            var,
            source,
            filter,
        } => {
            walk(source, bound, out);
            bound.push(&var.node);
            if let Some(f) = filter {
                walk(f, bound, out);
            }
            walk(element, bound, out);
            bound.pop();
        }
        ExprKind::Quantifier {
            var, source, body, ..
        } => {
            walk(source, bound, out);
            bound.push(&var.node);
            walk(body, bound, out);
            bound.pop();
        }
        ExprKind::Field { base, .. } | ExprKind::Is { base, .. } => walk(base, bound, out),
        ExprKind::Unary { operand, .. } => walk(operand, bound, out),
        ExprKind::Paren(inner) => walk(inner, bound, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk(lhs, bound, out);
            walk(rhs, bound, out);
        }
        ExprKind::Logical { operands, .. } | ExprKind::List(operands) => {
            operands.iter().for_each(|o| walk(o, bound, out));
        }
        ExprKind::Record(fields) => fields.iter().for_each(|(_, v)| walk(v, bound, out)),
        ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Str(_) => {}
    }
}

/// A cycle among definitions: the members in the order they refer to each other, and the
/// place where the last refers back to the first.
pub struct Cycle {
    pub members: Vec<usize>,
    pub closing_use: Span,
}

/// Orders `edges` (for each definition, the definitions it uses and where) so that each comes
/// after everything it uses. Definitions on a cycle are left out and reported.
pub fn dependency_order(edges: &[Vec<(usize, Span)>]) -> (Vec<usize>, Vec<Cycle>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let n = edges.len();
    let mut mark = vec![Mark::New; n];
    let mut on_cycle = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut cycles = Vec::new();
    for root in 0..n {
        if mark[root] != Mark::New {
            continue;
        }
        // (definition, next edge to follow)
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&(w, span)) = edges[v].get(*next) {
                *next += 1;
                match mark[w] {
                    Mark::New => {
                        mark[w] = Mark::Open;
                        stack.push((w, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|(d, _)| *d == w).unwrap_or(0);
                        let members: Vec<usize> = stack[start..].iter().map(|(d, _)| *d).collect();
                        if members.iter().all(|m| !on_cycle[*m]) {
                            members.iter().for_each(|m| on_cycle[*m] = true);
                            cycles.push(Cycle {
                                members,
                                closing_use: span,
                            });
                        }
                    }
                    Mark::Done => {}
                }
                continue;
            }
            mark[v] = Mark::Done;
            stack.pop();
            if !on_cycle[v] {
                order.push(v);
            }
        }
    }
    (order, cycles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn span() -> Span {
        Span::new(FileId(0), 0, 0)
    }

    #[test]
    fn orders_long_chains_without_recursion() {
        let n = 100_000;
        let edges: Vec<Vec<(usize, Span)>> = (0..n)
            .map(|i| {
                if i + 1 < n {
                    vec![(i + 1, span())]
                } else {
                    vec![]
                }
            })
            .collect();
        let (order, cycles) = dependency_order(&edges);
        assert!(cycles.is_empty());
        assert_eq!(order.first(), Some(&(n - 1)));
        assert_eq!(order.len(), n);
    }

    #[test]
    fn finds_cycles() {
        let edges = vec![
            vec![(1, span())],
            vec![(0, span())],
            vec![(2, span())],
            vec![(0, span())],
        ];
        let (order, cycles) = dependency_order(&edges);
        assert_eq!(order, vec![3]);
        let members: Vec<Vec<usize>> = cycles.iter().map(|c| c.members.clone()).collect();
        assert_eq!(members, vec![vec![0, 1], vec![2]]);
    }
}
