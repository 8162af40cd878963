//! `expolicy graph`: the service dependency graph of a snapshot as DOT or Mermaid, with
//! dependencies on services the snapshot lacks drawn as nodes of their own, cycles highlighted,
//! and, given policies, the services that failing rules are about marked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Terminal, exit, write_output};
use crate::diag::Diag;
use crate::eval::graph::Components;
use crate::eval::{Evaluator, Outcome};
use crate::snapshot::{self, LoadedSnapshot};
use crate::source::SourceMap;

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The host snapshot (JSON); `-` reads standard input.
    #[arg(short = 's', long = "snapshot", value_name = "FILE", required = true)]
    pub snapshot: String,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Evaluate these policy files or pack directories and mark the services their failing
    /// rules are about (repeatable).
    #[arg(short = 'p', long = "policy", value_name = "PACK")]
    pub policies: Vec<PathBuf>,
    /// Write the graph to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// Services marked by failing rules: by lower-cased name, the name as shown and the rule ids.
type Marked = BTreeMap<String, (String, BTreeSet<String>)>;

/// A node of the drawing.
#[derive(Debug)]
struct Node {
    name: String,
    kind: NodeKind,
    /// Rules (ids) that failed or could not be decided and are about this service.
    failing: Vec<String>,
    in_cycle: bool,
}

#[derive(Debug, PartialEq)]
enum NodeKind {
    Service {
        state: Option<String>,
        start_type: Option<String>,
        /// `depends_on` absent: what it depends on is not known.
        unknown_dependencies: bool,
    },
    /// Named as a dependency (or by a rule) but absent from the snapshot.
    Missing,
}

/// The whole graph, nodes sorted case-insensitively, edges by (from, to).
#[derive(Debug)]
pub struct Graph {
    host: String,
    nodes: Vec<Node>,
    edges: Vec<(usize, usize, bool)>,
    cycles: Vec<Vec<String>>,
}

pub fn run(args: GraphArgs, terminal: &Terminal) -> i32 {
    let mut sources = SourceMap::new();
    let loaded = match read(&args.snapshot) {
        Ok((source, bytes)) => match snapshot::load(&source, &bytes) {
            Ok(l) => l,
            Err((err, text)) => {
                let d = err.into_diag(&source, text, &mut sources);
                terminal.report(&[d], &sources);
                return exit::BAD_INPUT;
            }
        },
        Err(d) => {
            terminal.report(&[d], &sources);
            return exit::BAD_INPUT;
        }
    };
    let mut failing: Marked = BTreeMap::new();
    if !args.policies.is_empty() {
        let policies = crate::policy::load(&args.policies, &mut sources);
        terminal.report(&policies.diags, &sources);
        let Some(program) = policies.program else {
            return exit::BAD_INPUT;
        };
        failing = failing_services(&program, &loaded);
    }
    let graph = build(&loaded, &failing);
    let text = match args.format {
        GraphFormat::Dot => graph.dot(),
        GraphFormat::Mermaid => graph.mermaid(),
    };
    match write_output(args.output.as_ref(), &text) {
        Ok(()) => exit::OK,
        Err(d) => {
            terminal.report(&[d], &sources);
            exit::BAD_INPUT
        }
    }
}

fn read(name: &str) -> Result<(String, Vec<u8>), Diag> {
    let mut bytes = Vec::new();
    if name == "-" {
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| {
            Diag::error(
                snapshot::codes::UNREADABLE,
                format!("cannot read standard input: {e}"),
            )
        })?;
        return Ok(("<stdin>".to_string(), bytes));
    }
    let file = std::fs::File::open(name).map_err(|e| {
        Diag::error(
            snapshot::codes::UNREADABLE,
            format!("cannot read snapshot {name}: {e}"),
        )
        .help("check the path; `-` reads a snapshot from standard input")
    })?;
    let limit = snapshot::MAX_SNAPSHOT_BYTES as u64 + 1;
    file.take(limit).read_to_end(&mut bytes).map_err(|e| {
        Diag::error(
            snapshot::codes::UNREADABLE,
            format!("cannot read snapshot {name}: {e}"),
        )
    })?;
    Ok((name.to_string(), bytes))
}

/// The services each failing or undecided rule is about, by lower-cased name, with the rule
/// ids. A rule is about the services it read (or found missing) that its message names; if
/// the message names none of them, about all of them when they are few (at most three);
/// a rule that read many services without naming one marks none, rather than all.
fn failing_services(program: &crate::check::ir::Program, loaded: &LoadedSnapshot) -> Marked {
    let mut marked: Marked = BTreeMap::new();
    for index in 0..program.rules.len() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        // A fresh evaluator per rule, as `explain` has: one shared by every rule would hand a
        // later rule the definitions an earlier one computed, without the reads behind them.
        let mut evaluator = Evaluator::new(program, loaded);
        evaluator.trace = Some(Vec::new());
        let result = evaluator.evaluate_rule(index);
        // The evaluator moves a rule's reads into its evidence while tracing.
        let mut reads = evaluator.trace.take().unwrap_or_default();
        reads.extend(result.evidence.iter().cloned());
        if !matches!(result.outcome, Outcome::Fail | Outcome::Error) {
            continue;
        }
        let mut read: BTreeMap<String, String> = BTreeMap::new();
        for r in &reads {
            if let Some(name) = service_of_path(&r.path) {
                read.entry(name.to_ascii_lowercase())
                    .or_insert_with(|| name.to_string());
            }
        }
        let mut undecided = result.undecided.iter().collect::<Vec<_>>();
        undecided.extend(
            result
                .requirements
                .iter()
                .filter_map(|r| r.undecided.as_ref()),
        );
        for u in undecided {
            if let crate::eval::UndecidedKind::MissingService { name } = &u.kind {
                read.entry(name.to_ascii_lowercase())
                    .or_insert_with(|| name.clone());
            }
        }
        let mut message = result.message.clone().unwrap_or_default();
        for r in &result.requirements {
            if let Some(m) = &r.message {
                message.push(' ');
                message.push_str(m);
            }
        }
        let named: Vec<&String> = read.keys().filter(|k| names_word(&message, k)).collect();
        let chosen: Vec<&String> = if !named.is_empty() {
            named
        } else if read.len() <= 3 {
            read.keys().collect()
        } else {
            Vec::new()
        };
        let id = &program.rules[index as usize].id;
        for key in chosen {
            let shown = read.get(key).cloned().unwrap_or_else(|| key.clone());
            let entry = marked
                .entry(key.clone())
                .or_insert_with(|| (shown, BTreeSet::new()));
            entry.1.insert(id.clone());
        }
    }
    marked
}

/// `services[NAME].field` → `NAME`.
fn service_of_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("services[")?;
    let end = rest.find(']')?;
    Some(&rest[..end])
}

/// Whether `text` holds `word` (lower case) as a whole word, ignoring case.
fn names_word(text: &str, word: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut from = 0;
    while let Some(i) = lower[from..].find(word) {
        let start = from + i;
        let end = start + word.len();
        let before = lower[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word(c));
        let after = lower[end..].chars().next().is_none_or(|c| !is_word(c));
        if before && after {
            return true;
        }
        from = end;
    }
    false
}

fn build(loaded: &LoadedSnapshot, failing: &Marked) -> Graph {
    let services = &loaded.snapshot.services;
    let mut nodes: Vec<Node> = services
        .iter()
        .map(|s| Node {
            name: s.name.clone(),
            kind: NodeKind::Service {
                state: s.state.map(|v| v.as_str().to_string()),
                start_type: s.start_type.map(|v| v.as_str().to_string()),
                unknown_dependencies: s.depends_on.is_none(),
            },
            failing: Vec::new(),
            in_cycle: false,
        })
        .collect();
    // Missing names, first spelling kept.
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    for s in services {
        for d in s.depends_on.iter().flatten() {
            if loaded.services.get(d).is_none() {
                missing
                    .entry(d.to_ascii_lowercase())
                    .or_insert_with(|| d.clone());
            }
        }
    }
    for (key, (shown, _)) in failing {
        if loaded.services.get(key).is_none() {
            missing.entry(key.clone()).or_insert_with(|| shown.clone());
        }
    }
    nodes.extend(missing.into_values().map(|name| Node {
        name,
        kind: NodeKind::Missing,
        failing: Vec::new(),
        in_cycle: false,
    }));
    nodes.sort_by(|a, b| {
        (a.name.to_ascii_lowercase(), a.kind == NodeKind::Missing)
            .cmp(&(b.name.to_ascii_lowercase(), b.kind == NodeKind::Missing))
    });
    let index: BTreeMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.to_ascii_lowercase(), i))
        .collect();
    for node in &mut nodes {
        if let Some((_, rules)) = failing.get(&node.name.to_ascii_lowercase()) {
            node.failing = rules.iter().cloned().collect();
        }
    }
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for s in services {
        let Some(&from) = index.get(&s.name.to_ascii_lowercase()) else {
            continue;
        };
        for d in s.depends_on.iter().flatten() {
            if let Some(&to) = index.get(&d.to_ascii_lowercase()) {
                if !adjacency[from].contains(&to) {
                    adjacency[from].push(to);
                }
            }
        }
    }
    for list in &mut adjacency {
        list.sort_unstable();
    }
    let components = strongly_connected(&adjacency);
    let mut component_of = vec![usize::MAX; nodes.len()];
    let mut cycles = Vec::new();
    for (c, members) in components.iter().enumerate() {
        let cyclic = members.len() > 1 || adjacency[members[0]].contains(&members[0]);
        if cyclic {
            for &m in members {
                component_of[m] = c;
                nodes[m].in_cycle = true;
            }
            let mut names: Vec<String> = members.iter().map(|&m| nodes[m].name.clone()).collect();
            names.sort_by_key(|n| n.to_ascii_lowercase());
            cycles.push(names);
        }
    }
    cycles.sort_by_key(|c| c.iter().map(|n| n.to_ascii_lowercase()).collect::<Vec<_>>());
    let mut edges = Vec::new();
    for (from, list) in adjacency.iter().enumerate() {
        for &to in list {
            let cyclic = component_of[from] != usize::MAX && component_of[from] == component_of[to];
            edges.push((from, to, cyclic));
        }
    }
    Graph {
        host: loaded.snapshot.host.name.clone(),
        nodes,
        edges,
        cycles,
    }
}

/// Strongly connected components of the drawing, each a sorted list of node indices.
fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut starts = Vec::with_capacity(adjacency.len() + 1);
    starts.push(0);
    for list in adjacency {
        starts.push(starts.last().copied().unwrap_or(0) + list.len());
    }
    let targets: Vec<u32> = adjacency
        .iter()
        .flatten()
        .map(|&to| u32::try_from(to).unwrap_or(u32::MAX))
        .collect();
    let components = Components::find(adjacency.len(), &starts, |at| targets.get(at).copied());
    (0..components.len())
        .map(|c| {
            let mut members: Vec<usize> =
                components.members(c).iter().map(|&m| m as usize).collect();
            members.sort_unstable();
            members
        })
        .collect()
}

impl Node {
    fn detail(&self) -> String {
        match &self.kind {
            NodeKind::Service {
                state,
                start_type,
                unknown_dependencies,
            } => {
                let parts = [
                    state.clone().unwrap_or_else(|| "state unknown".into()),
                    start_type
                        .clone()
                        .unwrap_or_else(|| "start type unknown".into()),
                ];
                let mut s = parts.join(", ");
                if *unknown_dependencies {
                    s.push_str("; dependencies not collected");
                }
                s
            }
            NodeKind::Missing => "not in the snapshot".to_string(),
        }
    }
}

fn dot_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mermaid_text(s: &str) -> String {
    s.replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

impl Graph {
    fn dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "// Service dependency graph of {}: an edge A -> B means A depends on B.",
            self.host
        );
        for cycle in &self.cycles {
            let _ = writeln!(out, "// cycle: {}", cycle.join(", "));
        }
        let _ = writeln!(out, "digraph {} {{", dot_string(&self.host));
        let _ = writeln!(out, "  rankdir=LR;");
        let _ = writeln!(out, "  node [shape=box, fontname=\"Helvetica\"];");
        for node in &self.nodes {
            let mut label = format!("{}\n{}", node.name, node.detail());
            let mut attrs = Vec::new();
            if !node.failing.is_empty() {
                label.push_str(&format!("\nfailing: {}", node.failing.join(", ")));
                attrs.push("style=filled".to_string());
                attrs.push("fillcolor=\"#f4c7c3\"".to_string());
            }
            match &node.kind {
                NodeKind::Missing => {
                    attrs.push("shape=note".to_string());
                    attrs.push(if node.failing.is_empty() {
                        "style=dashed".to_string()
                    } else {
                        "style=\"filled,dashed\"".to_string()
                    });
                    attrs.retain(|a| a != "style=filled");
                }
                NodeKind::Service {
                    unknown_dependencies: true,
                    ..
                } if node.failing.is_empty() => {
                    attrs.push("style=dotted".to_string());
                }
                NodeKind::Service { .. } => {}
            }
            if node.in_cycle {
                attrs.push("color=red".to_string());
                attrs.push("penwidth=2".to_string());
            }
            attrs.insert(0, format!("label={}", dot_string(&label)));
            let _ = writeln!(out, "  {} [{}];", dot_string(&node.name), attrs.join(", "));
        }
        for &(from, to, cyclic) in &self.edges {
            let style = if cyclic {
                " [color=red, penwidth=2, label=\"cycle\"]"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} -> {}{style};",
                dot_string(&self.nodes[from].name),
                dot_string(&self.nodes[to].name)
            );
        }
        out.push_str("}\n");
        out
    }

    fn mermaid(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "%% Service dependency graph of {}: an edge A --> B means A depends on B.",
            mermaid_text(&self.host)
        );
        for cycle in &self.cycles {
            let _ = writeln!(out, "%% cycle: {}", cycle.join(", "));
        }
        out.push_str("flowchart LR\n");
        for (i, node) in self.nodes.iter().enumerate() {
            let mut label = format!(
                "{}<br/>{}",
                mermaid_text(&node.name),
                mermaid_text(&node.detail())
            );
            if !node.failing.is_empty() {
                label.push_str(&format!(
                    "<br/>failing: {}",
                    mermaid_text(&node.failing.join(", "))
                ));
            }
            let _ = writeln!(out, "  n{i}[\"{label}\"]");
        }
        let mut cycle_links = Vec::new();
        for (k, &(from, to, cyclic)) in self.edges.iter().enumerate() {
            if cyclic {
                cycle_links.push(k.to_string());
                let _ = writeln!(out, "  n{from} -->|cycle| n{to}");
            } else {
                let _ = writeln!(out, "  n{from} --> n{to}");
            }
        }
        out.push_str("  classDef failing fill:#f4c7c3,stroke:#a50e0e;\n");
        out.push_str("  classDef missing stroke-dasharray:5 5;\n");
        out.push_str("  classDef cycle stroke:#d00,stroke-width:3px;\n");
        let class = |pred: &dyn Fn(&Node) -> bool| -> Vec<String> {
            self.nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| pred(n))
                .map(|(i, _)| format!("n{i}"))
                .collect()
        };
        for (name, members) in [
            ("missing", class(&|n| n.kind == NodeKind::Missing)),
            ("cycle", class(&|n| n.in_cycle)),
            ("failing", class(&|n| !n.failing.is_empty())),
        ] {
            if !members.is_empty() {
                let _ = writeln!(out, "  class {} {name};", members.join(","));
            }
        }
        if !cycle_links.is_empty() {
            let _ = writeln!(
                out,
                "  linkStyle {} stroke:#d00,stroke-width:3px;",
                cycle_links.join(",")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(names_word(
            "Microsoft Search (MSSEARCH) is stopped",
            "mssearch"
        ));
        assert!(!names_word("MSSEARCHX is stopped", "mssearch"));
        assert!(!names_word("nothing here", "rpcss"));
    }

    #[test]
    fn components_find_a_cycle_and_a_self_loop() {
        let adjacency = vec![vec![1], vec![0], vec![2], vec![]];
        let mut comps = strongly_connected(&adjacency);
        comps.sort();
        assert_eq!(comps, vec![vec![0, 1], vec![2], vec![3]]);
    }
}
