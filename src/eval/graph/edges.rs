//! The direct edges of the graph, resolved by name, and the case-insensitive order of names.

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) enum Edge {
    Service(u32),
    /// An index into [`Edges::dangling`].
    Dangling(u32),
}

/// The direct dependencies of every service, resolved.
///
/// An "item" is what a service can depend on: a service (its index), or a missing name
/// (the number of services plus its index in `missing`). It owns the few names it keeps, so
/// that the snapshot can keep it.
#[derive(Debug)]
pub(super) struct Edges {
    /// The edges of service `v` are `list[starts[v]..starts[v + 1]]`, in `depends_on` order.
    pub(super) starts: Vec<usize>,
    pub(super) list: Vec<Edge>,
    /// Whether the snapshot gives the service's `depends_on` (an unknown one has no edges).
    pub(super) known: Vec<bool>,
    /// Each dependency on a name that no record has.
    pub(super) dangling: Vec<DanglingEdge>,
    /// The distinct names of `dangling` (compared case-insensitively), in that order, each as
    /// one of its spellings.
    pub(super) missing: Vec<Box<str>>,
    /// Whether some missing name is written in different cases: then which spelling
    /// `all_dependencies` shows depends on the order a walk meets them.
    pub(super) spelled_differently: bool,
}

#[derive(Debug)]
pub(super) struct DanglingEdge {
    /// As the snapshot writes it.
    pub(super) spelling: Box<str>,
    /// An index into [`Edges::missing`].
    pub(super) name: u32,
}

impl Edges {
    /// Resolves every dependency; also returns the work done.
    pub(super) fn resolve(snapshot: &LoadedSnapshot) -> (Edges, usize) {
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
                            spelling: dependency.into(),
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

    pub(super) fn services(&self) -> usize {
        self.known.len()
    }

    pub(super) fn of(&self, service: u32) -> &[Edge] {
        let v = service as usize;
        match (self.starts.get(v), self.starts.get(v + 1)) {
            (Some(&start), Some(&end)) => self.list.get(start..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The edges of `service`; `None` when its `depends_on` is unknown.
    pub(super) fn known_of(&self, service: u32) -> Option<&[Edge]> {
        self.is_known(service).then(|| self.of(service))
    }

    /// The name as written, for an edge to a name that no record has.
    pub(super) fn dangling_spelling(&self, edge: Edge) -> Option<&str> {
        match edge {
            Edge::Service(_) => None,
            Edge::Dangling(d) => self.dangling.get(d as usize).map(|e| &*e.spelling),
        }
    }

    pub(super) fn is_known(&self, service: u32) -> bool {
        self.known.get(service as usize).copied().unwrap_or(false)
    }

    /// The item a dependency reaches.
    pub(super) fn item(&self, edge: Edge) -> u32 {
        match edge {
            Edge::Service(i) => i,
            Edge::Dangling(d) => {
                let name = self.dangling.get(d as usize).map_or(0, |e| e.name);
                index_u32(self.services()).saturating_add(name)
            }
        }
    }

    /// The item a target names; `None` for a name that nothing depends on.
    pub(super) fn target_item(&self, target: &Target) -> Option<u32> {
        match target {
            Target::Service(i) => Some(*i),
            Target::Name(name) => self
                .missing
                .binary_search_by(|m| cmp_ignore_ascii_case(m, name))
                .ok()
                .map(|j| index_u32(self.services() + j)),
        }
    }

    pub(super) fn item_name<'s>(&'s self, snapshot: &'s LoadedSnapshot, item: u32) -> &'s str {
        match self.item_service(item) {
            Some(service) => snapshot.services.service(service).name(),
            None => (item as usize)
                .checked_sub(self.services())
                .and_then(|j| self.missing.get(j))
                .map_or("", |name| name),
        }
    }

    /// The service an item is, or `None` for a missing name.
    pub(super) fn item_service(&self, item: u32) -> Option<u32> {
        ((item as usize) < self.services()).then_some(item)
    }
}

/// `0..count` sorted case-insensitively by `name`, each with its name's [`folded_prefix`]: a
/// number whose high 96 bits are the prefix and whose low 32 bits are the index. Most names
/// differ in their first twelve bytes, so sorting the numbers is most of the work; each run of
/// names that share them is then sorted by the whole names.
pub(super) fn sort_by_name<'n>(count: u32, name: impl Fn(u32) -> &'n str) -> Vec<u128> {
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
pub(super) fn merge_by_name<'n>(
    sorted: &[u128],
    name: impl Fn(u32) -> &'n str,
    missing: &[Box<str>],
) -> Vec<u32> {
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
pub(super) fn name_missing(dangling: &mut [DanglingEdge]) -> (Vec<Box<str>>, bool) {
    let mut order: Vec<usize> = (0..dangling.len()).collect();
    order.sort_by(|&a, &b| cmp_ignore_ascii_case(&dangling[a].spelling, &dangling[b].spelling));
    let mut missing: Vec<Box<str>> = Vec::new();
    let mut spelled_differently = false;
    for d in order {
        let spelling = &dangling[d].spelling;
        match missing.last() {
            Some(last) if last.eq_ignore_ascii_case(spelling) => {
                spelled_differently |= last != spelling;
            }
            _ => missing.push(spelling.clone()),
        }
        dangling[d].name = index_u32(missing.len() - 1);
    }
    (missing, spelled_differently)
}

/// The first twelve bytes of a name in ASCII lower case (padded with zeros) in the high 96 bits
/// of a number, the low 32 bits zero: when two such numbers differ, the names compare the same
/// way case-insensitively.
pub(super) fn folded_prefix(name: &str) -> u128 {
    let mut bytes = [0u8; 16];
    match name.as_bytes().get(..12) {
        Some(first) => bytes[..12].copy_from_slice(first),
        None => bytes[..name.len()].copy_from_slice(name.as_bytes()),
    }
    ascii_lowercase(u128::from_be_bytes(bytes))
}
