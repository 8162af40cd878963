//! The service dependency graph of one snapshot: direct and transitive dependencies, and
//! cycles.
//!
//! Rules ask many questions of one small graph, so it is prepared once per loaded snapshot
//! ([`Shared`], kept in the snapshot and shared by all its evaluators), in two layers built on
//! first use. First the direct edges, resolved by name into one flat list. Then the strongly
//! connected components and, per component, everything it reaches as a bit set, with bits
//! numbered in the case-insensitive order of names: a transitive question is a bit test, and
//! `all_dependencies` reads its answer out already sorted. Each evaluator is charged for a layer
//! when it first needs it, as if it had built it. Its first few transitive questions walk
//! instead, as long as walking costs less than building the sets would.
//!
//! Two answers depend on the order a search meets services in: which service to report when a
//! chain runs through one whose `depends_on` is unknown, and which spelling to keep of a missing
//! name written in different cases. Those come from a walk in the order the first version of
//! this module searched in, so that messages stay as they were. Walks and Tarjan's algorithm
//! are iterative, so a long chain of services cannot overflow the stack.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use crate::snapshot::{LoadedSnapshot, ascii_lowercase};

mod edges;
mod reach;
#[cfg(test)]
mod tests;
mod walk;

use edges::*;
use reach::*;

pub(crate) use reach::Components;
use walk::*;

/// What a dependency must reach: a service record, or a bare (case-folded) SCM name that no
/// record defines.
pub enum Target {
    Service(u32),
    Name(String),
}

/// Reach sets larger than this many words (8 MiB) are not built; transitive questions walk the
/// graph instead, so a snapshot with a huge number of services cannot exhaust memory.
const MAX_REACH_WORDS: usize = 1 << 20;

/// What the graph of one snapshot is, whatever the rules ask: resolved on first use and kept
/// with the snapshot ([`LoadedSnapshot::graph`]), so that every evaluator of a loaded snapshot
/// (`explain` and `graph` make one per rule) shares it.
#[derive(Debug)]
pub struct Shared {
    edges: Edges,
    /// What resolving the edges cost.
    edges_work: usize,
    /// The reach sets, built by the first question that needs them, with what that cost.
    reach: std::sync::OnceLock<(Reach, usize)>,
}

impl Shared {
    fn of(snapshot: &LoadedSnapshot) -> &Shared {
        snapshot.graph.get_or_init(|| {
            let (edges, edges_work) = Edges::resolve(snapshot);
            Shared {
                edges,
                edges_work,
                reach: std::sync::OnceLock::new(),
            }
        })
    }
}

/// What [`Graph::dependency_union`] gives: the names, and which of them are services.
#[derive(Debug)]
pub struct Union<'s> {
    /// In the order `unique(flatten(…))` gives them.
    pub names: Vec<&'s str>,
    /// The services among `names` (each named as its record spells it), in the same order;
    /// the other names are ones no record provides.
    pub services: Vec<u32>,
}

/// Errors carry the index of a service whose `depends_on` the snapshot does not give.
///
/// Each evaluator is charged for building the edges and the reach sets when it first needs
/// them, as if it had built them itself: the step budget then means the same whatever was
/// evaluated on the snapshot before.
pub struct Graph<'s> {
    snapshot: &'s LoadedSnapshot,
    charged_edges: bool,
    charged_reach: bool,
    /// Reach sets built for this graph alone, when its limit is not the shared one (tests).
    own_reach: Option<Reach>,
    /// Per service, once asked: the service with unknown `depends_on` its walk meets first.
    first_unknown: Vec<Option<u32>>,
    walker: Walker,
    /// The most words of reach sets to build ([`MAX_REACH_WORDS`]; tests lower it).
    reach_limit: usize,
    /// What transitive questions cost by walking while there were no reach sets.
    walked_before_reach: usize,
    /// Work done since the evaluator last took this, for its step budget.
    pub work: usize,
}

/// What a question needs, built.
struct Prepared<'g, 's> {
    snapshot: &'s LoadedSnapshot,
    edges: &'s Edges,
    reach: &'g Reach,
    first_unknown_of: &'g mut Vec<Option<u32>>,
    walker: &'g mut Walker,
    work: &'g mut usize,
}

impl<'s> Prepared<'_, 's> {
    /// The service with unknown `depends_on` that a walk from `from` meets first: the one to
    /// report when a chain from `from` runs through one.
    fn first_unknown(&mut self, from: u32) -> u32 {
        if self.first_unknown_of.is_empty() {
            *self.first_unknown_of = vec![None; self.edges.services()];
        }
        if let Some(Some(known)) = self.first_unknown_of.get(from as usize) {
            return *known;
        }
        let edges = self.edges;
        let mut found = None;
        *self.work += self.walker.walk(edges, from, |v| {
            if edges.is_known(v) {
                return ControlFlow::Continue(());
            }
            found = Some(v);
            ControlFlow::Break(())
        });
        // Asked only when the walk must meet one.
        let found = found.unwrap_or(from);
        if let Some(slot) = self.first_unknown_of.get_mut(from as usize) {
            *slot = Some(found);
        }
        found
    }

    /// The items `from` depends on, directly or not, sorted, each as `view` shows it, from the
    /// row of its component.
    fn reached<T>(&mut self, from: u32, row: &[u64], mut view: impl FnMut(u32) -> T) -> Vec<T> {
        let own = self.reach.position_of(from) as usize;
        let count: u32 = row.iter().map(|word| word.count_ones()).sum();
        let mut items = Vec::with_capacity(count as usize);
        for (w, &word) in row.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let position = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if position != own {
                    if let Some(&item) = self.reach.item_at.get(position) {
                        items.push(view(item));
                    }
                }
            }
        }
        *self.work += row.len() + items.len();
        items
    }

    /// The items `from` depends on, directly or not, sorted, by walking; and per missing
    /// name, the spelling the walk met first.
    fn walked_items(&mut self, from: u32) -> (Vec<u32>, Vec<Option<&'s str>>) {
        let edges = self.edges;
        let services = index_u32(edges.services());
        let mut spelled: Vec<Option<&'s str>> = vec![None; edges.missing.len()];
        let mut items = Vec::new();
        *self.work += spelled.len();
        *self.work += self.walker.walk(edges, from, |v| {
            if v != from {
                items.push(v);
            }
            for &edge in edges.of(v) {
                let Edge::Dangling(d) = edge else { continue };
                let Some(dangling) = edges.dangling.get(d as usize) else {
                    continue;
                };
                if let Some(slot @ None) = spelled.get_mut(dangling.name as usize) {
                    *slot = Some(&dangling.spelling);
                    items.push(services.saturating_add(dangling.name));
                }
            }
            ControlFlow::Continue(())
        });
        let reach = self.reach;
        items.sort_unstable_by_key(|&item| reach.position_of(item));
        *self.work += items.len() * log2(items.len());
        (items, spelled)
    }
}

impl<'s> Graph<'s> {
    pub fn new(snapshot: &'s LoadedSnapshot) -> Graph<'s> {
        Graph {
            snapshot,
            charged_edges: false,
            charged_reach: false,
            own_reach: None,
            first_unknown: Vec::new(),
            walker: Walker::default(),
            reach_limit: MAX_REACH_WORDS,
            walked_before_reach: 0,
            work: 0,
        }
    }

    fn edges(&mut self) -> &'s Edges {
        let shared = Shared::of(self.snapshot);
        if !self.charged_edges {
            self.charged_edges = true;
            self.work += shared.edges_work;
        }
        &shared.edges
    }

    /// Resolves the edges (charged) now, so that [`Graph::has_missing_dependencies`] can answer.
    pub fn resolve(&mut self) {
        self.edges();
    }

    /// Whether `from` depends on a name that no record provides, asked where work cannot be
    /// charged: `None` until this graph has been charged for its edges, and when the snapshot
    /// does not give `from`'s `depends_on`.
    pub fn has_missing_dependencies(&self, from: u32) -> Option<bool> {
        let shared = self.snapshot.graph.get().filter(|_| self.charged_edges)?;
        let out = shared.edges.known_of(from)?;
        Some(out.iter().any(|edge| matches!(edge, Edge::Dangling(_))))
    }

    fn prepared(&mut self) -> Prepared<'_, 's> {
        let edges = self.edges();
        let snapshot = self.snapshot;
        let (reach, done): (&Reach, usize) = if self.reach_limit == MAX_REACH_WORDS {
            let (reach, done) = Shared::of(snapshot)
                .reach
                .get_or_init(|| Reach::build(edges, snapshot, MAX_REACH_WORDS));
            (reach, *done)
        } else {
            let limit = self.reach_limit;
            let mut done = 0;
            let reach = self.own_reach.get_or_insert_with(|| {
                let (reach, work) = Reach::build(edges, snapshot, limit);
                done = work;
                reach
            });
            (reach, done)
        };
        if !self.charged_reach {
            self.charged_reach = true;
            self.work += done;
        }
        Prepared {
            snapshot,
            edges,
            reach,
            first_unknown_of: &mut self.first_unknown,
            walker: &mut self.walker,
            work: &mut self.work,
        }
    }

    pub fn depends_directly(&mut self, from: u32, target: &Target) -> Result<bool, u32> {
        let edges = self.edges();
        if !edges.is_known(from) {
            return Err(from);
        }
        let target = edges.target_item(target);
        let out = edges.of(from);
        let found = out.iter().any(|&e| Some(edges.item(e)) == target);
        self.work += out.len();
        Ok(found)
    }

    /// Whether `from` depends on `target` through any chain. A chain through a service whose
    /// dependencies are unknown leaves the answer open, unless the target is found anyway.
    pub fn depends_transitively(&mut self, from: u32, target: &Target) -> Result<bool, u32> {
        if !self.charged_reach {
            // A few questions are cheaper to answer by walking than by building reach sets:
            // walk until the walks have cost about as much as building them would.
            let edges = self.edges();
            if self.walked_before_reach < 2 * (edges.services() + edges.list.len()) {
                let (answer, walked) = self.walker.search(edges, from, edges.target_item(target));
                self.walked_before_reach += walked;
                self.work += walked;
                return answer;
            }
        }
        let mut prepared = self.prepared();
        let reach = prepared.reach;
        let target = prepared.edges.target_item(target);
        let component = reach.component_of(from);
        let Some(row) = reach.row(component) else {
            let (answer, walked) = prepared.walker.search(prepared.edges, from, target);
            *prepared.work += walked;
            return answer;
        };
        // Charged as a search is, by the size of what `from` reaches, not as the bit test it
        // is: the step budget then means the same however the question is answered, so a rule
        // that asks many questions stops at the budget where it always did.
        *prepared.work += 1 + row
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum::<usize>();
        if target.is_some_and(|t| has_bit(row, reach.position_of(t))) {
            return Ok(true);
        }
        if reach.is_through_unknown(component) {
            return Err(prepared.first_unknown(from));
        }
        Ok(false)
    }

    /// Every service `from` depends on, directly or not, and every missing name, by name
    /// (each as `view` makes it), sorted case-insensitively; a missing name written in
    /// different cases once, as a search meets it first.
    pub fn all_dependencies<T>(
        &mut self,
        from: u32,
        mut view: impl FnMut(&'s str) -> T,
    ) -> Result<Vec<T>, u32> {
        let mut prepared = self.prepared();
        let reach = prepared.reach;
        let edges = prepared.edges;
        let snapshot = prepared.snapshot;
        let component = reach.component_of(from);
        if reach.is_through_unknown(component) {
            return Err(prepared.first_unknown(from));
        }
        let (items, spelled) = match reach.row(component) {
            Some(row) if !edges.spelled_differently => {
                return Ok(
                    prepared.reached(from, row, |item| view(edges.item_name(snapshot, item)))
                );
            }
            Some(row) => (
                prepared.reached(from, row, |item| item),
                prepared.walked_items(from).1,
            ),
            None => prepared.walked_items(from),
        };
        let services = edges.services();
        Ok(items
            .into_iter()
            .map(|item| {
                let name = (item as usize)
                    .checked_sub(services)
                    .and_then(|name| spelled.get(name).copied().flatten())
                    .unwrap_or_else(|| edges.item_name(snapshot, item));
                view(name)
            })
            .collect())
    }

    /// What `all_dependencies` of each service of `from` gives, in turn, each name kept where it
    /// first appears. `None` when that needs a walk: a service's dependencies are unknown, a
    /// missing name is written in different cases, or there are no reach sets.
    pub fn dependency_union(&mut self, from: &[u32]) -> Option<Union<'s>> {
        let prepared = self.prepared();
        let (reach, edges) = (prepared.reach, prepared.edges);
        if edges.spelled_differently {
            return None;
        }
        let mut seen = vec![0u64; reach.words];
        let mut names = Vec::new();
        let mut services = Vec::new();
        for &service in from {
            let component = reach.component_of(service);
            if reach.is_through_unknown(component) {
                return None;
            }
            let row = reach.row(component)?;
            let own = reach.position_of(service) as usize;
            for (w, (&word, seen_word)) in row.iter().zip(&mut seen).enumerate() {
                // A service is not among its own dependencies, but may be among another's.
                let own_bit = if own / 64 == w { 1u64 << (own % 64) } else { 0 };
                let mut fresh = word & !*seen_word & !own_bit;
                *seen_word |= fresh;
                while fresh != 0 {
                    let position = w * 64 + fresh.trailing_zeros() as usize;
                    fresh &= fresh - 1;
                    if let Some(&item) = reach.item_at.get(position) {
                        names.push(edges.item_name(prepared.snapshot, item));
                        services.extend(edges.item_service(item));
                    }
                }
            }
            *prepared.work += row.len();
        }
        *prepared.work += names.len();
        Some(Union { names, services })
    }

    /// The dependencies of `from` that no record provides, as written, in order; `None` when
    /// its `depends_on` is unknown.
    pub fn missing_dependencies(
        &mut self,
        from: u32,
    ) -> Option<impl Iterator<Item = &'s str> + '_> {
        let edges = self.edges();
        let out = edges.known_of(from)?;
        self.work += out.len();
        Some(out.iter().filter_map(|&edge| edges.dangling_spelling(edge)))
    }

    /// Every dependency cycle, each as its services' names sorted case-insensitively, the
    /// cycles sorted too.
    pub fn cycles(&mut self) -> Result<Vec<Vec<&'s str>>, u32> {
        if let Some(unknown) = self.edges().known.iter().position(|known| !known) {
            return Err(index_u32(unknown));
        }
        let prepared = self.prepared();
        let edges = prepared.edges;
        let reach = prepared.reach;
        let mut cycles: Vec<Vec<u32>> = Vec::new();
        for members in &reach.cycles {
            let mut positions: Vec<u32> = members.iter().map(|&v| reach.position_of(v)).collect();
            positions.sort_unstable();
            *prepared.work += positions.len() * log2(positions.len());
            cycles.push(positions);
        }
        // Positions order as the names do, so comparing them compares the names.
        cycles.sort_unstable();
        *prepared.work += cycles.len() * log2(cycles.len());
        Ok(cycles
            .into_iter()
            .map(|positions| {
                positions
                    .into_iter()
                    .map(|p| {
                        let item = reach.item_at.get(p as usize).copied().unwrap_or(0);
                        edges.item_name(prepared.snapshot, item)
                    })
                    .collect()
            })
            .collect())
    }
}

/// Orders as comparing `to_ascii_lowercase()` copies would, without making them. (A plain
/// loop: comparing two mapped iterators costs several times as much.)
fn cmp_ignore_ascii_case(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_ascii_lowercase(), y.to_ascii_lowercase());
        if x != y {
            return x.cmp(&y);
        }
    }
    a.len().cmp(&b.len())
}
