//! The service dependency graph of one snapshot: direct and transitive dependencies, and
//! cycles. Walks are iterative, so a long chain of services cannot overflow the stack.

use crate::snapshot::LoadedSnapshot;

/// What a dependency must reach: a service record, or a bare (case-folded) SCM name that no
/// record defines.
pub enum Target {
    Service(u32),
    Name(String),
}

/// Errors carry the index of a service whose `depends_on` the snapshot does not give.
pub struct Graph {
    /// Resolved direct dependencies per service, built on first use.
    edges: Option<Vec<Option<Vec<Edge>>>>,
    /// Edges walked since the evaluator last took this, for its step budget.
    pub work: usize,
}

#[derive(Clone)]
enum Edge {
    Service(u32),
    Dangling(Box<str>),
}

impl Graph {
    pub fn new(_snapshot: &LoadedSnapshot) -> Graph {
        Graph {
            edges: None,
            work: 0,
        }
    }

    fn edges(&mut self, snapshot: &LoadedSnapshot) -> &Vec<Option<Vec<Edge>>> {
        self.edges.get_or_insert_with(|| {
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
        })
    }

    fn reaches(edge: &Edge, target: &Target) -> bool {
        match (edge, target) {
            (Edge::Service(a), Target::Service(b)) => a == b,
            (Edge::Dangling(a), Target::Name(b)) => **a == **b,
            _ => false,
        }
    }

    pub fn depends_directly(
        &mut self,
        snapshot: &LoadedSnapshot,
        from: u32,
        target: &Target,
    ) -> Result<bool, u32> {
        match &self.edges(snapshot)[from as usize] {
            Some(edges) => Ok(edges.iter().any(|e| Self::reaches(e, target))),
            None => Err(from),
        }
    }

    /// Whether `from` depends on `target` through any chain. A chain through a service whose
    /// dependencies are unknown leaves the answer open, unless the target is found anyway.
    pub fn depends_transitively(
        &mut self,
        snapshot: &LoadedSnapshot,
        from: u32,
        target: &Target,
    ) -> Result<bool, u32> {
        let edges = self.edges(snapshot);
        let mut seen = vec![false; edges.len()];
        let mut stack = vec![from];
        seen[from as usize] = true;
        let mut unknown = None;
        let mut walked = 0;
        while let Some(current) = stack.pop() {
            let Some(out) = &edges[current as usize] else {
                unknown.get_or_insert(current);
                continue;
            };
            walked += out.len() + 1;
            for edge in out {
                if Self::reaches(edge, target) {
                    self.work += walked;
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
        self.work += walked;
        unknown.map_or(Ok(false), Err)
    }

    /// Every service `from` depends on, directly or not, by name, sorted case-insensitively.
    pub fn all_dependencies<'s>(
        &mut self,
        snapshot: &'s LoadedSnapshot,
        from: u32,
    ) -> Result<Vec<&'s str>, u32> {
        let services = &snapshot.services;
        let edges = self.edges(snapshot);
        let mut seen = vec![false; edges.len()];
        let mut names: Vec<&'s str> = Vec::new();
        let mut stack = vec![from];
        seen[from as usize] = true;
        let mut walked = 0;
        while let Some(current) = stack.pop() {
            let Some(out) = &edges[current as usize] else {
                self.work += walked;
                return Err(current);
            };
            walked += out.len() + 1;
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
                        walked += names.len();
                        if !names.iter().any(|n| n.eq_ignore_ascii_case(raw_name)) {
                            names.push(raw_name);
                        }
                    }
                }
            }
        }
        self.work += walked;
        names.sort_by(|a, b| cmp_ignore_ascii_case(a, b));
        Ok(names)
    }

    /// Every dependency cycle, each as its services' names sorted case-insensitively, the
    /// cycles sorted too (Tarjan's algorithm, iteratively).
    pub fn cycles<'s>(&mut self, snapshot: &'s LoadedSnapshot) -> Result<Vec<Vec<&'s str>>, u32> {
        let services = &snapshot.services;
        let size = {
            let edges = self.edges(snapshot);
            edges.len() + edges.iter().flatten().map(Vec::len).sum::<usize>()
        };
        self.work += size;
        let edges = self.edges(snapshot);
        if let Some(i) = edges.iter().position(Option::is_none) {
            return Err(u32::try_from(i).unwrap_or(u32::MAX));
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
        let mut cycles: Vec<Vec<&'s str>> = Vec::new();
        for root in 0..n {
            if index[root] != UNVISITED {
                continue;
            }
            // (node, its successors, position in them)
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
                        let mut names: Vec<&'s str> = component
                            .iter()
                            .map(|&i| {
                                services
                                    .service(u32::try_from(i).unwrap_or(u32::MAX))
                                    .name()
                            })
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

/// Orders as comparing `to_ascii_lowercase()` copies would, without making them.
fn cmp_ignore_ascii_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}
