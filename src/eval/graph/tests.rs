//! The graph against the plain search it replaced, on random graphs.

use super::*;
use proptest::prelude::*;

/// The first version of this module, kept as the definition of every answer: a search per
/// question.
mod reference {
    use super::super::{Target, cmp_ignore_ascii_case};
    use crate::snapshot::LoadedSnapshot;

    #[derive(Clone)]
    enum Edge {
        Service(u32),
        Dangling(Box<str>),
    }

    fn edges(snapshot: &LoadedSnapshot) -> Vec<Option<Vec<Edge>>> {
        snapshot
            .services
            .iter()
            .map(|svc| {
                svc.depends_on().map(|deps| {
                    deps.map(|d| match snapshot.services.get(d) {
                        Some(i) => Edge::Service(i),
                        None => Edge::Dangling(d.to_ascii_lowercase().into()),
                    })
                    .collect()
                })
            })
            .collect()
    }

    fn reaches(edge: &Edge, target: &Target) -> bool {
        match (edge, target) {
            (Edge::Service(a), Target::Service(b)) => a == b,
            (Edge::Dangling(a), Target::Name(b)) => **a == **b,
            _ => false,
        }
    }

    pub fn depends_directly(
        snapshot: &LoadedSnapshot,
        from: u32,
        target: &Target,
    ) -> Result<bool, u32> {
        match &edges(snapshot)[from as usize] {
            Some(edges) => Ok(edges.iter().any(|e| reaches(e, target))),
            None => Err(from),
        }
    }

    pub fn depends_transitively(
        snapshot: &LoadedSnapshot,
        from: u32,
        target: &Target,
    ) -> Result<bool, u32> {
        let edges = edges(snapshot);
        let mut seen = vec![false; edges.len()];
        let mut stack = vec![from];
        seen[from as usize] = true;
        let mut unknown = None;
        while let Some(current) = stack.pop() {
            let Some(out) = &edges[current as usize] else {
                unknown.get_or_insert(current);
                continue;
            };
            for edge in out {
                if reaches(edge, target) {
                    return Ok(true);
                }
                if let Edge::Service(next) = edge {
                    if !seen[*next as usize] {
                        seen[*next as usize] = true;
                        stack.push(*next);
                    }
                }
            }
        }
        unknown.map_or(Ok(false), Err)
    }

    pub fn all_dependencies(snapshot: &LoadedSnapshot, from: u32) -> Result<Vec<&str>, u32> {
        let services = &snapshot.services;
        let edges = edges(snapshot);
        let mut seen = vec![false; edges.len()];
        let mut names: Vec<&str> = Vec::new();
        let mut stack = vec![from];
        seen[from as usize] = true;
        while let Some(current) = stack.pop() {
            let Some(out) = &edges[current as usize] else {
                return Err(current);
            };
            let raw = services.service(current).depends_on().into_iter().flatten();
            for (edge, raw_name) in out.iter().zip(raw) {
                match edge {
                    Edge::Service(next) => {
                        if !seen[*next as usize] {
                            seen[*next as usize] = true;
                            names.push(services.service(*next).name());
                            stack.push(*next);
                        }
                    }
                    Edge::Dangling(_) => {
                        if !names.iter().any(|n| n.eq_ignore_ascii_case(raw_name)) {
                            names.push(raw_name);
                        }
                    }
                }
            }
        }
        names.sort_by(|a, b| cmp_ignore_ascii_case(a, b));
        Ok(names)
    }

    pub fn missing_dependencies(snapshot: &LoadedSnapshot, from: u32) -> Option<Vec<&str>> {
        let deps = snapshot.services.service(from).depends_on()?;
        Some(
            deps.filter(|d| snapshot.services.get(d).is_none())
                .collect(),
        )
    }

    pub fn cycles(snapshot: &LoadedSnapshot) -> Result<Vec<Vec<&str>>, u32> {
        let services = &snapshot.services;
        let edges = edges(snapshot);
        if let Some(i) = edges.iter().position(Option::is_none) {
            return Err(i as u32);
        }
        let n = edges.len();
        let succ = |v: usize| -> Vec<usize> {
            edges[v]
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .filter_map(|e| match e {
                    Edge::Service(i) => Some(*i as usize),
                    Edge::Dangling(_) => None,
                })
                .collect()
        };
        const UNVISITED: usize = usize::MAX;
        let mut index = vec![UNVISITED; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<usize> = Vec::new();
        let mut next_index = 0;
        let mut cycles: Vec<Vec<&str>> = Vec::new();
        for root in 0..n {
            if index[root] != UNVISITED {
                continue;
            }
            let mut work: Vec<(usize, Vec<usize>, usize)> = vec![(root, succ(root), 0)];
            index[root] = next_index;
            low[root] = next_index;
            next_index += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some((v, children, pos)) = work.last_mut() {
                let v = *v;
                if let Some(&w) = children.get(*pos) {
                    *pos += 1;
                    if index[w] == UNVISITED {
                        index[w] = next_index;
                        low[w] = next_index;
                        next_index += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, succ(w), 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                work.pop();
                if let Some((parent, _, _)) = work.last() {
                    low[*parent] = low[*parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    let self_loop = component.len() == 1 && succ(v).contains(&v);
                    if component.len() > 1 || self_loop {
                        let mut names: Vec<&str> = component
                            .iter()
                            .map(|&i| services.service(i as u32).name())
                            .collect();
                        names.sort_by(|a, b| cmp_ignore_ascii_case(a, b));
                        cycles.push(names);
                    }
                }
            }
        }
        cycles.sort_by_key(|c| c.iter().map(|n| n.to_ascii_lowercase()).collect::<Vec<_>>());
        Ok(cycles)
    }
}

/// Names that share long prefixes (the sort compares the first twelve bytes at once), differ
/// only past them, are prefixes of each other, or hold bytes outside ASCII.
const NAMES: &[&str] = &[
    "RpcSs",
    "rpcss2",
    "EventLog",
    "MSExchangeSA",
    "MSExchangeIS",
    "MSExchangeMTA",
    "MSExchangeMGMT",
    "MSExchangeSAx",
    "MSExchangeSA_",
    "LanmanServer",
    "lanmanworkstation",
    "W3SVC",
    "w3svc1",
    "a",
    "A0",
    "Z",
    "_",
    "Ünicode",
    "ünicodE",
    "tcpip",
    "TcpIp6",
    "x\u{0}y",
    "NtLmSsp",
    "SamSs",
    "WinMgmt",
    "Netlogon",
    "IISADMIN2",
];
/// Dependencies no service is called, in several cases.
const MISSING: &[&str] = &[
    "IISADMIN", "IisAdmin", "iisadmin", "NetBT", "NETBT", "Afd", "ÄFD",
];

#[derive(Debug, Clone)]
enum Dependency {
    /// The service at this index (modulo the count), written in this case.
    Service(usize, Case),
    Missing(usize),
}

#[derive(Debug, Clone, Copy)]
enum Case {
    AsIs,
    Upper,
    Lower,
}

fn spell(name: &str, case: Case) -> String {
    match case {
        Case::AsIs => name.to_string(),
        Case::Upper => name.to_ascii_uppercase(),
        Case::Lower => name.to_ascii_lowercase(),
    }
}

/// Up to 70 services (so that reach sets need two words), each named from [`NAMES`] or
/// numbered, with unknown `depends_on` sometimes, and dependencies on services (self loops
/// and cycles included) and on missing names.
fn snapshots() -> impl Strategy<Value = String> {
    let dependency = prop_oneof![
        4 => (any::<usize>(), prop_oneof![Just(Case::AsIs), Just(Case::Upper), Just(Case::Lower)])
            .prop_map(|(i, c)| Dependency::Service(i, c)),
        1 => (0..MISSING.len()).prop_map(Dependency::Missing),
    ];
    (0.0..0.3f64, 1..6usize)
        .prop_flat_map(move |(unknown, most)| {
            let service = (
                prop::option::weighted(
                    1.0 - unknown,
                    prop::collection::vec(dependency.clone(), 0..most),
                ),
                any::<bool>(),
            );
            prop::collection::vec(service, 0..=70)
        })
        .prop_map(|services| {
            let count = services.len();
            let names: Vec<String> = (0..count)
                .map(|i| match NAMES.get(i) {
                    // Two of the names differ only in case; keep the second one apart.
                    Some(name) if *name == "ünicodE" => format!("{name}{i}"),
                    Some(name) => name.to_string(),
                    None => format!("svc{i:02}"),
                })
                .collect();
            let records: Vec<serde_json::Value> = services
                .iter()
                .enumerate()
                .map(|(i, (deps, reversed))| {
                    let mut record = serde_json::json!({ "name": names[i] });
                    if let Some(deps) = deps {
                        let mut listed: Vec<String> = deps
                            .iter()
                            .map(|d| match d {
                                Dependency::Service(j, case) => spell(&names[j % count], *case),
                                Dependency::Missing(m) => MISSING[*m].to_string(),
                            })
                            .collect();
                        if *reversed {
                            listed.reverse();
                        }
                        record["depends_on"] = serde_json::json!(listed);
                    }
                    record
                })
                .collect();
            serde_json::json!({
                "format": "expolicy-snapshot/1",
                "host": { "name": "H" },
                "services": records,
            })
            .to_string()
        })
}

fn load(json: &str) -> LoadedSnapshot {
    crate::snapshot::load("t.json", json.as_bytes())
        .map_err(|e| e.0.message)
        .unwrap_or_else(|m| panic!("{m}: {json}"))
}

/// Targets as the evaluator makes them: services, and case-folded names no service has.
fn targets(snapshot: &LoadedSnapshot) -> Vec<Target> {
    let services = (0..snapshot.services.len()).map(|i| Target::Service(i as u32));
    let names = MISSING
        .iter()
        .chain(&["nothing", "NetB", "iisadmin2"])
        .filter(|name| snapshot.services.get(name).is_none())
        .map(|name| Target::Name(name.to_ascii_lowercase()));
    services.chain(names).collect()
}

/// Every answer of `graph` agrees with the reference, asked in this order: each service's
/// dependencies and missing ones, cycles, then every transitive and direct question.
fn agrees(snapshot: &LoadedSnapshot, graph: &mut Graph<'_>) -> Result<(), TestCaseError> {
    let count = snapshot.services.len() as u32;
    for from in 0..count {
        prop_assert_eq!(
            graph.all_dependencies(from, |name| name),
            reference::all_dependencies(snapshot, from),
            "all_dependencies of {}",
            from
        );
        prop_assert_eq!(
            graph
                .missing_dependencies(from)
                .map(Iterator::collect::<Vec<_>>),
            reference::missing_dependencies(snapshot, from)
        );
    }
    prop_assert_eq!(graph.cycles(), reference::cycles(snapshot));
    for from in 0..count {
        for target in &targets(snapshot) {
            prop_assert_eq!(
                graph.depends_transitively(from, target),
                reference::depends_transitively(snapshot, from, target)
            );
            prop_assert_eq!(
                graph.depends_directly(from, target),
                reference::depends_directly(snapshot, from, target)
            );
        }
    }
    Ok(())
}

/// Unions of `all_dependencies` over services taken in several orders: what flattening their
/// lists in turn and keeping each name once gives. The union declines only where it must.
fn unions_agree(snapshot: &LoadedSnapshot) -> Result<(), TestCaseError> {
    let count = snapshot.services.len() as u32;
    let orders: [Vec<u32>; 3] = [
        (0..count).collect(),
        (0..count).rev().collect(),
        (0..count).step_by(2).chain((0..count).step_by(3)).collect(),
    ];
    let mut graph = Graph::new(snapshot);
    for order in orders {
        let expected: Option<Vec<&str>> = (|| {
            let mut names: Vec<&str> = Vec::new();
            for &from in &order {
                for name in reference::all_dependencies(snapshot, from).ok()? {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            Some(names)
        })();
        match graph.dependency_union(&order) {
            Some(union) => {
                let services: Vec<u32> = union
                    .names
                    .iter()
                    .filter_map(|&name| {
                        let i = snapshot.services.get(name)?;
                        (snapshot.services.service(i).name() == name).then_some(i)
                    })
                    .collect();
                prop_assert_eq!(&union.services, &services, "order {:?}", order);
                prop_assert_eq!(Some(union.names), expected, "order {:?}", order);
            }
            None => prop_assert!(
                expected.is_none() || Shared::of(snapshot).edges.spelled_differently,
                "declined for {:?}",
                order
            ),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn unions_of_dependencies_flatten_in_turn(json in snapshots()) {
        unions_agree(&load(&json))?;
    }

    /// One graph answering everything, as an evaluator's does (walks first, then reach
    /// sets); one with reach sets too large to build (walks only).
    #[test]
    fn answers_as_a_search_per_question_does(json in snapshots()) {
        let snapshot = load(&json);
        agrees(&snapshot, &mut Graph::new(&snapshot))?;
        let mut walking = Graph::new(&snapshot);
        walking.reach_limit = 0;
        agrees(&snapshot, &mut walking)?;
    }

    /// A transitive question first, on a fresh graph: answered by walking.
    #[test]
    fn first_questions_walk(json in snapshots()) {
        let snapshot = load(&json);
        let count = snapshot.services.len() as u32;
        for from in 0..count {
            for target in &targets(&snapshot) {
                prop_assert_eq!(
                    Graph::new(&snapshot).depends_transitively(from, target),
                    reference::depends_transitively(&snapshot, from, target)
                );
            }
        }
    }
}

#[test]
fn work_is_charged_for_building_and_walking() {
    let snapshot = load(
        r#"{"format": "expolicy-snapshot/1", "host": {"name": "H"}, "services": [
            {"name": "A", "depends_on": ["B"]}, {"name": "B", "depends_on": ["C"]},
            {"name": "C", "depends_on": []}]}"#,
    );
    let mut graph = Graph::new(&snapshot);
    assert_eq!(graph.depends_transitively(0, &Target::Service(2)), Ok(true));
    assert!(graph.work > 0);
    graph.work = 0;
    assert_eq!(graph.all_dependencies(0, |name| name), Ok(vec!["B", "C"]));
    assert!(graph.work > 0);
}
