//! Hoisting: an expression inside a loop or a function body that reads none of the loop's or
//! the function's variables has the same value every time it is evaluated on a host, so it is
//! marked to be computed once per host ([`NodeKind::Hoisted`]) instead of once per iteration
//! or call. `lower(s.name) in ["resvc", "imap4svc"]` inside `is_exchange(s)` builds its list
//! once; `starts_with(a, lower(host.name) + "\\")` lowers the host name once.
//!
//! Locals are numbered as a stack (a binder's slot is the number of slots in scope where it
//! binds), so an expression where `depth` slots are in scope reads nothing from outside itself
//! exactly when every local it reads has a slot of at least `depth`.

use super::ir::*;

/// Marks the host-invariant expressions of every body in the program.
pub fn hoist(program: &mut Program) {
    let mut hoister = Hoister { next: 0 };
    program.for_each_root(|node, arity| match arity {
        // A function runs once per call: its whole body is repeated work.
        Some(arity) => hoister.root(node, arity, true),
        None => hoister.root(node, 0, false),
    });
    program.hoisted = hoister.next;
}

struct Hoister {
    next: u32,
}

/// No local at all: the smallest slot read by an expression that reads none.
const NO_LOCAL: u32 = u32::MAX;

impl Hoister {
    fn root(&mut self, node: &mut Node, depth: u32, repeated: bool) {
        let lowest = self.visit(node, depth, repeated);
        if repeated && lowest >= depth && worth_hoisting(&mut node.kind) {
            self.wrap(node);
        }
    }

    /// Visits `node`, where `depth` slots are in scope and `repeated` says whether it may be
    /// evaluated more than once per host; returns the smallest slot it reads. Hoists the
    /// largest invariant parts of it, unless `node` itself is invariant and repeated, in which
    /// case its parent hoists it whole.
    fn visit(&mut self, node: &mut Node, depth: u32, repeated: bool) -> u32 {
        let mut children = Vec::new();
        let mut lowest = NO_LOCAL;
        match &mut node.kind {
            NodeKind::Local(slot) => lowest = *slot,
            NodeKind::Comprehension {
                slot,
                source,
                filter,
                element,
            } => {
                children.push((&mut **source, depth, repeated));
                if let Some(filter) = filter {
                    children.push((&mut **filter, *slot + 1, true));
                }
                children.push((&mut **element, *slot + 1, true));
            }
            NodeKind::Quantifier {
                slot, source, body, ..
            } => {
                children.push((&mut **source, depth, repeated));
                children.push((&mut **body, *slot + 1, true));
            }
            kind => {
                for child in direct_children(kind) {
                    children.push((child, depth, repeated));
                }
            }
        }
        let mut lows = Vec::with_capacity(children.len());
        for (child, child_depth, child_repeated) in &mut children {
            let low = self.visit(child, *child_depth, *child_repeated);
            lowest = lowest.min(low);
            lows.push(low);
        }
        let hoisted_whole = repeated && lowest >= depth;
        if !hoisted_whole {
            for ((child, child_depth, child_repeated), low) in children.into_iter().zip(lows) {
                if child_repeated && low >= child_depth && worth_hoisting(&mut child.kind) {
                    self.wrap(child);
                }
            }
        }
        lowest
    }

    fn wrap(&mut self, node: &mut Node) {
        let index = self.next;
        self.next += 1;
        let inner = std::mem::replace(&mut node.kind, NodeKind::Bool(false));
        node.kind = NodeKind::Hoisted {
            index,
            node: Box::new(Node {
                kind: inner,
                span: node.span,
            }),
        };
    }
}

/// Whether computing the expression costs more than reading a cached value: leaves (literals,
/// locals, definitions and facts, already computed once per host, and the like) are left alone.
fn worth_hoisting(kind: &mut NodeKind) -> bool {
    match kind {
        NodeKind::Hoisted { .. } | NodeKind::Tested { .. } => false,
        NodeKind::Comprehension { .. } | NodeKind::Quantifier { .. } => true,
        kind => !direct_children(kind).is_empty(),
    }
}

/// Every sub-expression of a node, the parts of loops included.
pub(super) fn children(kind: &mut NodeKind) -> Vec<&mut Node> {
    match kind {
        NodeKind::Comprehension {
            source,
            filter,
            element,
            ..
        } => {
            let mut parts = vec![&mut **source];
            if let Some(filter) = filter {
                parts.push(&mut **filter);
            }
            parts.push(&mut **element);
            parts
        }
        NodeKind::Quantifier { source, body, .. } => vec![&mut **source, &mut **body],
        kind => direct_children(kind),
    }
}

/// The sub-expressions of a node that binds no local.
pub(super) fn direct_children(kind: &mut NodeKind) -> Vec<&mut Node> {
    match kind {
        NodeKind::Bool(_)
        | NodeKind::Int(_)
        | NodeKind::Str(_)
        | NodeKind::Local(_)
        | NodeKind::Global(_)
        | NodeKind::Fact(_)
        | NodeKind::Services
        | NodeKind::Host(_)
        | NodeKind::ServiceNamed(_) => Vec::new(),
        NodeKind::Field { base, .. }
        | NodeKind::ServiceField { base, .. }
        | NodeKind::Is { base, .. }
        | NodeKind::Not(base)
        | NodeKind::Neg(base)
        | NodeKind::Hoisted { node: base, .. }
        | NodeKind::Tested { node: base, .. } => vec![&mut **base],
        NodeKind::And(items)
        | NodeKind::Or(items)
        | NodeKind::List(items)
        | NodeKind::Builtin(_, items)
        | NodeKind::Call(_, items)
        | NodeKind::Record { values: items, .. } => items.iter_mut().collect(),
        NodeKind::Implies(a, b)
        | NodeKind::Compare(_, a, b)
        | NodeKind::RunsAs(a, b)
        | NodeKind::Arith(_, a, b)
        | NodeKind::In {
            needle: a,
            haystack: b,
            ..
        }
        | NodeKind::DependsOn {
            service: a, on: b, ..
        }
        | NodeKind::Range {
            low: a, high: b, ..
        } => vec![&mut **a, &mut **b],
        // Binders are handled by the caller, which knows their scopes.
        NodeKind::Comprehension { .. } | NodeKind::Quantifier { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    /// The source text of every hoisted expression of a one-file policy.
    fn hoisted(text: &str) -> Vec<String> {
        fn collect(node: &mut Node, text: &str, out: &mut Vec<String>) {
            if let NodeKind::Hoisted { .. } = node.kind {
                out.push(text[node.span.start as usize..node.span.end as usize].to_string());
            }
            for child in children(&mut node.kind) {
                collect(child, text, out);
            }
        }
        let mut sources = SourceMap::new();
        let pack = vec![("p.xpol".to_string(), text.as_bytes().to_vec())];
        let mut program = crate::policy::load_bytes(&[pack], &mut sources)
            .program
            .expect("the policy checks");
        let mut out = Vec::new();
        program.for_each_root(|node, _| collect(node, text, &mut out));
        assert_eq!(program.hoisted as usize, out.len());
        out
    }

    #[test]
    fn invariant_parts_of_functions_and_loops_are_hoisted_whole() {
        let found = hoisted(
            r#"pack p
let local(a: str) = starts_with(lower(a), lower(host.name) + "\\")
let names = [s.name for s in services if lower(s.name) in ["a", "b"]]
rule r {
  title "t"
  severity info
  require all s in services: s.name != upper("x") + "y" or local(s.account)
}
"#,
        );
        assert_eq!(
            found,
            [
                r#"lower(host.name) + "\\""#,
                r#"["a", "b"]"#,
                r#"upper("x") + "y""#
            ]
        );
    }

    #[test]
    fn what_reads_a_variable_or_runs_once_is_not_hoisted() {
        let found = hoisted(
            r#"pack p
let once = lower(host.name) + "x"
let pairs = [[t.name for t in services if t.name != s.name] for s in services]
rule r {
  title "t"
  severity info
  require count(services) > 1 + 2
  require all s in services: s.name == host.name
}
"#,
        );
        // `services`, definitions, literals and host fields are already cheap to read; the
        // inner comprehension reads `s`; the rule's own expressions run once per host.
        assert!(found.is_empty(), "{found:?}");
    }
}
