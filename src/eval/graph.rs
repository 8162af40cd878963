//! The service dependency graph of one snapshot: direct and transitive dependencies, and
//! cycles.
//!
//! Rules ask many questions of one small graph, so it is prepared once per evaluator, in two
//! layers built on first use and charged to the question that needed them. First the direct
//! edges, resolved by name into one flat list. Then the strongly connected components and, per
//! component, everything it reaches as a bit set, with bits numbered in the case-insensitive
//! order of names: a transitive question is a bit test, and `all_dependencies` reads its
//! answer out already sorted. The first few transitive questions walk instead, as long as
//! walking costs less than building the sets would.
//!
//! Two answers depend on the order a search meets services in: which service to report when a
//! chain runs through one whose `depends_on` is unknown, and which spelling to keep of a missing
//! name written in different cases. Those come from a walk in the order the first version of
//! this module searched in, so that messages stay as they were. Walks and Tarjan's algorithm
//! are iterative, so a long chain of services cannot overflow the stack.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use crate::snapshot::LoadedSnapshot;

/// What a dependency must reach: a service record, or a bare (case-folded) SCM name that no
/// record defines.
pub enum Target {
    Service(u32),
    Name(String),
}

/// Reach sets larger than this many words (8 MiB) are not built; transitive questions walk the
/// graph instead, so a snapshot with a huge number of services cannot exhaust memory.
const MAX_REACH_WORDS: usize = 1 << 20;

/// Errors carry the index of a service whose `depends_on` the snapshot does not give.
pub struct Graph<'s> {
    snapshot: &'s LoadedSnapshot,
    edges: Option<Edges<'s>>,
    reach: Option<Reach>,
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

#[derive(Clone, Copy)]
enum Edge {
    Service(u32),
    /// An index into [`Edges::dangling`].
    Dangling(u32),
}

/// The direct dependencies of every service, resolved.
///
/// An "item" is what a service can depend on: a service (its index), or a missing name
/// (the number of services plus its index in `missing`).
struct Edges<'s> {
    /// The edges of service `v` are `list[starts[v]..starts[v + 1]]`, in `depends_on` order.
    starts: Vec<usize>,
    list: Vec<Edge>,
    /// Whether the snapshot gives the service's `depends_on` (an unknown one has no edges).
    known: Vec<bool>,
    /// Each dependency on a name that no record has.
    dangling: Vec<DanglingEdge<'s>>,
    /// The distinct names of `dangling` (compared case-insensitively), in that order, each as
    /// one of its spellings.
    missing: Vec<&'s str>,
    /// Whether some missing name is written in different cases: then which spelling
    /// `all_dependencies` shows depends on the order a walk meets them.
    spelled_differently: bool,
}

struct DanglingEdge<'s> {
    /// As the snapshot writes it.
    spelling: &'s str,
    /// An index into [`Edges::missing`].
    name: u32,
}

impl<'s> Edges<'s> {
    /// Resolves every dependency; also returns the work done.
    fn resolve(snapshot: &'s LoadedSnapshot) -> (Edges<'s>, usize) {
        let services = &snapshot.services;
        let count = services.len();
        let listed = services
            .iter()
            .map(|s| s.depends_on().map_or(0, |deps| deps.len()))
            .sum();
        let mut starts = Vec::with_capacity(count + 1);
        let mut list = Vec::with_capacity(listed);
        let mut known = Vec::with_capacity(count);
        let mut dangling = Vec::new();
        starts.push(0);
        for service in services.iter() {
            let deps = service.depends_on();
            known.push(deps.is_some());
            for dependency in deps.into_iter().flatten() {
                list.push(match services.get(dependency) {
                    Some(i) => Edge::Service(i),
                    None => {
                        dangling.push(DanglingEdge {
                            spelling: dependency,
                            name: 0,
                        });
                        Edge::Dangling(index_u32(dangling.len() - 1))
                    }
                });
            }
            starts.push(list.len());
        }
        let (missing, spelled_differently) = name_missing(&mut dangling);
        let work = count + listed + dangling.len() * log2(dangling.len());
        let edges = Edges {
            starts,
            list,
            known,
            dangling,
            missing,
            spelled_differently,
        };
        (edges, work)
    }

    fn resolve_charged(snapshot: &'s LoadedSnapshot, work: &mut usize) -> Edges<'s> {
        let (edges, done) = Edges::resolve(snapshot);
        *work += done;
        edges
    }

    fn services(&self) -> usize {
        self.known.len()
    }

    fn of(&self, service: u32) -> &[Edge] {
        let v = service as usize;
        match (self.starts.get(v), self.starts.get(v + 1)) {
            (Some(&start), Some(&end)) => self.list.get(start..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    fn is_known(&self, service: u32) -> bool {
        self.known.get(service as usize).copied().unwrap_or(false)
    }

    /// The item a dependency reaches.
    fn item(&self, edge: Edge) -> u32 {
        match edge {
            Edge::Service(i) => i,
            Edge::Dangling(d) => {
                let name = self.dangling.get(d as usize).map_or(0, |e| e.name);
                index_u32(self.services()).saturating_add(name)
            }
        }
    }

    /// The item a target names; `None` for a name that nothing depends on.
    fn target_item(&self, target: &Target) -> Option<u32> {
        match target {
            Target::Service(i) => Some(*i),
            Target::Name(name) => self
                .missing
                .binary_search_by(|m| cmp_ignore_ascii_case(m, name))
                .ok()
                .map(|j| index_u32(self.services() + j)),
        }
    }

    fn item_name(&self, snapshot: &'s LoadedSnapshot, item: u32) -> &'s str {
        let item = item as usize;
        match item.checked_sub(self.services()) {
            None => snapshot.services.service(index_u32(item)).name(),
            Some(j) => self.missing.get(j).copied().unwrap_or(""),
        }
    }
}

/// `0..count` sorted case-insensitively by `name`, each with its name's [`folded_prefix`]: a
/// number whose high 96 bits are the prefix and whose low 32 bits are the index. Most names
/// differ in their first twelve bytes, so sorting the numbers is most of the work; each run of
/// names that share them is then sorted by the whole names.
fn sort_by_name<'n>(count: u32, name: impl Fn(u32) -> &'n str) -> Vec<u128> {
    let mut sorted: Vec<u128> = (0..count)
        .map(|i| folded_prefix(name(i)) | u128::from(i))
        .collect();
    sorted.sort_unstable();
    for run in sorted.chunk_by_mut(|a, b| a >> 32 == b >> 32) {
        if run.len() > 1 {
            run.sort_unstable_by(|&a, &b| cmp_ignore_ascii_case(name(a as u32), name(b as u32)));
        }
    }
    sorted
}

/// Every item in the case-insensitive order of names: the services as [`sort_by_name`] sorted
/// them, merged with the missing names (already in that order).
fn merge_by_name<'n>(sorted: &[u128], name: impl Fn(u32) -> &'n str, missing: &[&str]) -> Vec<u32> {
    let services = sorted.iter().map(|&key| key as u32);
    if missing.is_empty() {
        return services.collect();
    }
    let first_missing = index_u32(sorted.len());
    let mut items = Vec::with_capacity(sorted.len() + missing.len());
    let mut services = services.peekable();
    let mut missing = missing.iter().zip(first_missing..).peekable();
    loop {
        let next = match (services.peek(), missing.peek()) {
            (Some(&s), Some(&(m, _))) if cmp_ignore_ascii_case(name(s), m) == Ordering::Less => {
                services.next()
            }
            (_, Some(_)) => missing.next().map(|(_, item)| item),
            (Some(_), None) => services.next(),
            (None, None) => break,
        };
        items.extend(next);
    }
    items
}

/// Numbers the distinct missing names (case-insensitively, in that order) and points each
/// dangling edge at its name; also tells whether some name is written in different cases.
fn name_missing<'s>(dangling: &mut [DanglingEdge<'s>]) -> (Vec<&'s str>, bool) {
    let mut order: Vec<usize> = (0..dangling.len()).collect();
    order.sort_by(|&a, &b| cmp_ignore_ascii_case(dangling[a].spelling, dangling[b].spelling));
    let mut missing: Vec<&'s str> = Vec::new();
    let mut spelled_differently = false;
    for d in order {
        let spelling = dangling[d].spelling;
        match missing.last() {
            Some(last) if last.eq_ignore_ascii_case(spelling) => {
                spelled_differently |= *last != spelling;
            }
            _ => missing.push(spelling),
        }
        dangling[d].name = index_u32(missing.len() - 1);
    }
    (missing, spelled_differently)
}

/// The first twelve bytes of a name in ASCII lower case (padded with zeros) in the high 96 bits
/// of a number, the low 32 bits zero: when two such numbers differ, the names compare the same
/// way case-insensitively.
fn folded_prefix(name: &str) -> u128 {
    let mut bytes = [0u8; 16];
    match name.as_bytes().get(..12) {
        Some(first) => bytes[..12].copy_from_slice(first),
        None => bytes[..name.len()].copy_from_slice(name.as_bytes()),
    }
    ascii_lowercase(u128::from_be_bytes(bytes))
}

/// `to_ascii_lowercase` of sixteen bytes at once: each byte from `A` to `Z` gains 0x20.
fn ascii_lowercase(bytes: u128) -> u128 {
    const EACH: u128 = u128::MAX / 0xff;
    let low_seven = bytes & (EACH * 0x7f);
    // Bit 7 of each byte, after adding: set from 'A' up, and from one past 'Z' up. No byte
    // carries into the next, as none exceeds 0x7f + 0x3f.
    let from_a = low_seven + EACH * u128::from(0x80 - b'A');
    let past_z = low_seven + EACH * u128::from(0x80 - b'Z' - 1);
    let upper = from_a & !past_z & !bytes & (EACH * 0x80);
    bytes | (upper >> 2)
}

/// The graph condensed into strongly connected components, with what each reaches.
struct Reach {
    /// Per service, its component. Components are numbered in the order Tarjan's algorithm
    /// completes them, so a component reaches only components numbered before it.
    component: Vec<u32>,
    /// Per component, whether a service of it, or one it reaches, has unknown `depends_on`.
    through_unknown: Vec<bool>,
    /// The services of each component that lies on a cycle (two services or more, or one
    /// depending on itself).
    cycles: Vec<Vec<u32>>,
    /// Per item, its position in the case-insensitive order of names. No two items compare
    /// equal (service names are unique that way, missing names are grouped that way, and no
    /// missing name is a service's), so the order is the one a sort of the names gives.
    position: Vec<u32>,
    /// Per position, the item.
    item_at: Vec<u32>,
    /// Words per row.
    words: usize,
    /// Per component, `words` words: the positions of the items it reaches through one
    /// dependency or more. `None` when that would be too large (see [`MAX_REACH_WORDS`]).
    rows: Option<Vec<u64>>,
}

impl Reach {
    /// Also returns the work done.
    fn build(edges: &Edges<'_>, snapshot: &LoadedSnapshot, limit: usize) -> (Reach, usize) {
        let name = |i: u32| snapshot.services.service(i).name();
        let sorted = sort_by_name(index_u32(edges.services()), name);
        let item_at = merge_by_name(&sorted, name, &edges.missing);
        let mut position = vec![0u32; item_at.len()];
        for (at, &item) in item_at.iter().enumerate() {
            position[item as usize] = index_u32(at);
        }
        let components = Components::find(edges);
        let count = components.len();
        let words = item_at.len().div_ceil(64);
        let mut work =
            2 * (edges.services() + edges.list.len()) + item_at.len() * log2(item_at.len());
        let mut rows = count
            .checked_mul(words)
            .filter(|&size| size <= limit)
            .map(|size| {
                work += size + edges.list.len() * words;
                vec![0u64; size]
            });
        let mut through_unknown = vec![false; count];
        let mut cycles = Vec::new();
        // Components complete after every component they reach, so one pass in that order
        // sees each reached component's row and flag already final.
        for c in 0..count {
            let mut row = rows.as_mut().map(|rows| {
                let (done, rest) = rows.split_at_mut(c * words);
                (&*done, rest.get_mut(..words).unwrap_or_default())
            });
            let mut unknown = false;
            let mut cyclic = false;
            for &v in components.members(c) {
                unknown |= !edges.is_known(v);
                for &edge in edges.of(v) {
                    if let Some((_, row)) = &mut row {
                        set_bit(row, position[edges.item(edge) as usize]);
                    }
                    let Edge::Service(w) = edge else { continue };
                    let reached = components.of(w);
                    if reached == c {
                        cyclic = true;
                        continue;
                    }
                    unknown |= through_unknown[reached];
                    if let Some((done, row)) = &mut row {
                        let from = &done[reached * words..(reached + 1) * words];
                        for (into, from) in row.iter_mut().zip(from) {
                            *into |= from;
                        }
                    }
                }
            }
            through_unknown[c] = unknown;
            if cyclic {
                cycles.push(components.members(c).to_vec());
            }
        }
        let reach = Reach {
            component: components.component,
            through_unknown,
            cycles,
            position,
            item_at,
            words,
            rows,
        };
        (reach, work)
    }

    fn component_of(&self, service: u32) -> usize {
        self.component
            .get(service as usize)
            .map_or(0, |&c| c as usize)
    }

    fn row(&self, component: usize) -> Option<&[u64]> {
        let rows = self.rows.as_ref()?;
        rows.get(component * self.words..(component + 1) * self.words)
    }

    fn position_of(&self, item: u32) -> u32 {
        self.position
            .get(item as usize)
            .copied()
            .unwrap_or(u32::MAX)
    }

    fn is_through_unknown(&self, component: usize) -> bool {
        self.through_unknown
            .get(component)
            .copied()
            .unwrap_or(false)
    }
}

/// Strongly connected components.
struct Components {
    /// Per service, its component, numbered in the order they complete.
    component: Vec<u32>,
    /// The services of component `c` are `members[bounds[c]..bounds[c + 1]]`.
    members: Vec<u32>,
    bounds: Vec<usize>,
}

impl Components {
    /// Tarjan's algorithm, iteratively.
    fn find(edges: &Edges<'_>) -> Components {
        const UNVISITED: u32 = u32::MAX;
        const UNASSIGNED: u32 = u32::MAX;
        let count = edges.services();
        let mut index = vec![UNVISITED; count];
        let mut low = vec![0u32; count];
        // Visited services not yet in a component are the ones on Tarjan's stack.
        let mut component = vec![UNASSIGNED; count];
        let mut members = Vec::with_capacity(count);
        let mut bounds = Vec::with_capacity(count + 1);
        bounds.push(0);
        let mut stack: Vec<u32> = Vec::with_capacity(count);
        // A service being visited, the position in `edges.list` of its next edge, and the
        // height of `stack` below it.
        let mut frames: Vec<(u32, usize, usize)> = Vec::with_capacity(count);
        let mut next_index = 0u32;
        for root in 0..index_u32(count) {
            if index[root as usize] != UNVISITED {
                continue;
            }
            let mut entering = Some(root);
            loop {
                if let Some(v) = entering.take() {
                    index[v as usize] = next_index;
                    low[v as usize] = next_index;
                    next_index += 1;
                    frames.push((v, edges.starts[v as usize], stack.len()));
                    stack.push(v);
                }
                let Some(&mut (v, ref mut next, base)) = frames.last_mut() else {
                    break;
                };
                if *next < edges.starts[v as usize + 1] {
                    let edge = edges.list[*next];
                    *next += 1;
                    if let Edge::Service(w) = edge {
                        if index[w as usize] == UNVISITED {
                            entering = Some(w);
                        } else if component[w as usize] == UNASSIGNED {
                            low[v as usize] = low[v as usize].min(index[w as usize]);
                        }
                    }
                    continue;
                }
                frames.pop();
                if let Some(&(parent, _, _)) = frames.last() {
                    low[parent as usize] = low[parent as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let c = index_u32(bounds.len() - 1);
                    for &w in &stack[base..] {
                        component[w as usize] = c;
                        members.push(w);
                    }
                    bounds.push(members.len());
                    stack.truncate(base);
                }
            }
        }
        Components {
            component,
            members,
            bounds,
        }
    }

    fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    fn members(&self, c: usize) -> &[u32] {
        &self.members[self.bounds[c]..self.bounds[c + 1]]
    }

    fn of(&self, service: u32) -> usize {
        self.component[service as usize] as usize
    }
}

fn set_bit(row: &mut [u64], position: u32) {
    if let Some(word) = row.get_mut(position as usize / 64) {
        *word |= 1 << (position % 64);
    }
}

fn has_bit(row: &[u64], position: u32) -> bool {
    row.get(position as usize / 64)
        .is_some_and(|word| word & (1 << (position % 64)) != 0)
}

fn log2(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

/// Indices here count services or dependencies of a snapshot, far below `u32::MAX`.
fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Reusable buffers for walks, so that a walk allocates nothing once they have grown.
#[derive(Default)]
struct Walker {
    /// `seen[v] == epoch` when this walk has met `v`.
    seen: Vec<u32>,
    epoch: u32,
    stack: Vec<u32>,
}

impl Walker {
    /// Visits `from` and every service it reaches, in the order of a depth-first search that
    /// pushes a service's unseen dependencies in the order listed (so pops the last first),
    /// until `visit` breaks. Returns the work done.
    fn walk(
        &mut self,
        edges: &Edges<'_>,
        from: u32,
        mut visit: impl FnMut(u32) -> ControlFlow<()>,
    ) -> usize {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 || self.seen.len() != edges.services() {
            self.seen.clear();
            self.seen.resize(edges.services(), 0);
            self.epoch = 1;
        }
        let Some(seen) = self.seen.get_mut(from as usize) else {
            return 0;
        };
        *seen = self.epoch;
        self.stack.clear();
        self.stack.push(from);
        let mut walked = 0;
        while let Some(current) = self.stack.pop() {
            let out = edges.of(current);
            walked += out.len() + 1;
            if visit(current).is_break() {
                break;
            }
            for &edge in out {
                if let Edge::Service(next) = edge {
                    if let Some(seen) = self.seen.get_mut(next as usize) {
                        if *seen != self.epoch {
                            *seen = self.epoch;
                            self.stack.push(next);
                        }
                    }
                }
            }
        }
        walked
    }

    /// `depends_transitively` by walking; also returns the work done.
    fn search(
        &mut self,
        edges: &Edges<'_>,
        from: u32,
        target: Option<u32>,
    ) -> (Result<bool, u32>, usize) {
        let mut unknown = None;
        let mut found = false;
        let walked = self.walk(edges, from, |v| {
            if !edges.is_known(v) {
                unknown.get_or_insert(v);
            } else if edges.of(v).iter().any(|&e| Some(edges.item(e)) == target) {
                found = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        let answer = if found {
            Ok(true)
        } else {
            unknown.map_or(Ok(false), Err)
        };
        (answer, walked)
    }
}

/// What a question needs, built.
struct Prepared<'g, 's> {
    snapshot: &'s LoadedSnapshot,
    edges: &'g Edges<'s>,
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
                    *slot = Some(dangling.spelling);
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
            edges: None,
            reach: None,
            first_unknown: Vec::new(),
            walker: Walker::default(),
            reach_limit: MAX_REACH_WORDS,
            walked_before_reach: 0,
            work: 0,
        }
    }

    fn edges(&mut self) -> &Edges<'s> {
        let Graph {
            snapshot,
            edges,
            work,
            ..
        } = self;
        edges.get_or_insert_with(|| Edges::resolve_charged(snapshot, work))
    }

    fn prepared(&mut self) -> Prepared<'_, 's> {
        let Graph {
            snapshot,
            edges,
            reach,
            first_unknown,
            walker,
            work,
            reach_limit,
            ..
        } = self;
        let edges: &Edges<'s> = edges.get_or_insert_with(|| Edges::resolve_charged(snapshot, work));
        let reach = reach.get_or_insert_with(|| {
            let (reach, done) = Reach::build(edges, snapshot, *reach_limit);
            *work += done;
            reach
        });
        Prepared {
            snapshot,
            edges,
            reach,
            first_unknown_of: first_unknown,
            walker,
            work,
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
        if self.reach.is_none() {
            // A few questions are cheaper to answer by walking than by building reach sets:
            // walk until the walks have cost about as much as building them would.
            let Graph {
                snapshot,
                edges,
                walker,
                walked_before_reach,
                work,
                ..
            } = self;
            let edges: &Edges<'s> =
                edges.get_or_insert_with(|| Edges::resolve_charged(snapshot, work));
            if *walked_before_reach < 2 * (edges.services() + edges.list.len()) {
                let (answer, walked) = walker.search(edges, from, edges.target_item(target));
                *walked_before_reach += walked;
                *work += walked;
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

    /// The dependencies of `from` that no record provides, as written, in order; `None` when
    /// its `depends_on` is unknown.
    pub fn missing_dependencies(
        &mut self,
        from: u32,
    ) -> Option<impl Iterator<Item = &'s str> + '_> {
        let Graph {
            snapshot,
            edges,
            work,
            ..
        } = self;
        let edges: &Edges<'s> = edges.get_or_insert_with(|| Edges::resolve_charged(snapshot, work));
        if !edges.is_known(from) {
            return None;
        }
        let out = edges.of(from);
        *work += out.len();
        Some(out.iter().filter_map(|&edge| match edge {
            Edge::Service(_) => None,
            Edge::Dangling(d) => edges.dangling.get(d as usize).map(|e| e.spelling),
        }))
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

#[cfg(test)]
mod tests {
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

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

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
    fn sixteen_bytes_lower_as_each_byte_does() {
        for byte in 0..=u8::MAX {
            for at in 0..16 {
                let mut bytes = [b'Q'; 16];
                bytes[at] = byte;
                let lowered = bytes.map(|b| b.to_ascii_lowercase());
                assert_eq!(
                    ascii_lowercase(u128::from_be_bytes(bytes)),
                    u128::from_be_bytes(lowered),
                    "{byte:#x} at {at}"
                );
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
}
