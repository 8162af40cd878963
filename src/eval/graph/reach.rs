//! Strongly connected components and, per component, everything it reaches as a bit set.

use super::*;

/// The graph condensed into strongly connected components, with what each reaches.
#[derive(Debug)]
pub(super) struct Reach {
    /// Per service, its component. Components are numbered in the order Tarjan's algorithm
    /// completes them, so a component reaches only components numbered before it.
    pub(super) component: Vec<u32>,
    /// Per component, whether a service of it, or one it reaches, has unknown `depends_on`.
    pub(super) through_unknown: Vec<bool>,
    /// The services of each component that lies on a cycle (two services or more, or one
    /// depending on itself).
    pub(super) cycles: Vec<Vec<u32>>,
    /// Per item, its position in the case-insensitive order of names. No two items compare
    /// equal (service names are unique that way, missing names are grouped that way, and no
    /// missing name is a service's), so the order is the one a sort of the names gives.
    pub(super) position: Vec<u32>,
    /// Per position, the item.
    pub(super) item_at: Vec<u32>,
    /// Words per row.
    pub(super) words: usize,
    /// Per component, `words` words: the positions of the items it reaches through one
    /// dependency or more. `None` when that would be too large (see [`MAX_REACH_WORDS`]).
    pub(super) rows: Option<Vec<u64>>,
}

impl Reach {
    /// Also returns the work done.
    pub(super) fn build(edges: &Edges, snapshot: &LoadedSnapshot, limit: usize) -> (Reach, usize) {
        let name = |i: u32| snapshot.services.service(i).name();
        let sorted = sort_by_name(index_u32(edges.services()), name);
        let item_at = merge_by_name(&sorted, name, &edges.missing);
        let mut position = vec![0u32; item_at.len()];
        for (at, &item) in item_at.iter().enumerate() {
            position[item as usize] = index_u32(at);
        }
        let components = Components::find(edges.services(), &edges.starts, |at| {
            match edges.list.get(at) {
                Some(Edge::Service(w)) => Some(*w),
                _ => None,
            }
        });
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

    pub(super) fn component_of(&self, service: u32) -> usize {
        self.component
            .get(service as usize)
            .map_or(0, |&c| c as usize)
    }

    pub(super) fn row(&self, component: usize) -> Option<&[u64]> {
        let rows = self.rows.as_ref()?;
        rows.get(component * self.words..(component + 1) * self.words)
    }

    pub(super) fn position_of(&self, item: u32) -> u32 {
        self.position
            .get(item as usize)
            .copied()
            .unwrap_or(u32::MAX)
    }

    pub(super) fn is_through_unknown(&self, component: usize) -> bool {
        self.through_unknown
            .get(component)
            .copied()
            .unwrap_or(false)
    }
}

/// Strongly connected components of a graph of `count` nodes (services, or what
/// `expolicy graph` draws).
pub(crate) struct Components {
    /// Per node, its component, numbered in the order they complete.
    component: Vec<u32>,
    /// The nodes of component `c` are `members[bounds[c]..bounds[c + 1]]`.
    members: Vec<u32>,
    bounds: Vec<usize>,
}

impl Components {
    /// Tarjan's algorithm, iteratively. The edges of node `v` are at positions
    /// `starts[v]..starts[v + 1]`, and `target(position)` is the node an edge leads to (`None`
    /// for one that leads out of the graph, such as a dependency no service provides).
    pub(crate) fn find(
        count: usize,
        starts: &[usize],
        target: impl Fn(usize) -> Option<u32>,
    ) -> Components {
        const UNVISITED: u32 = u32::MAX;
        const UNASSIGNED: u32 = u32::MAX;
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
                    frames.push((v, starts[v as usize], stack.len()));
                    stack.push(v);
                }
                let Some(&mut (v, ref mut next, base)) = frames.last_mut() else {
                    break;
                };
                if *next < starts[v as usize + 1] {
                    let edge = target(*next);
                    *next += 1;
                    if let Some(w) = edge {
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

    pub(crate) fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    pub(crate) fn members(&self, c: usize) -> &[u32] {
        &self.members[self.bounds[c]..self.bounds[c + 1]]
    }

    pub(crate) fn of(&self, service: u32) -> usize {
        self.component[service as usize] as usize
    }
}

pub(super) fn set_bit(row: &mut [u64], position: u32) {
    if let Some(word) = row.get_mut(position as usize / 64) {
        *word |= 1 << (position % 64);
    }
}

pub(super) fn has_bit(row: &[u64], position: u32) -> bool {
    row.get(position as usize / 64)
        .is_some_and(|word| word & (1 << (position % 64)) != 0)
}

pub(super) fn log2(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

/// Indices here count services or dependencies of a snapshot, far below `u32::MAX`.
pub(super) fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
