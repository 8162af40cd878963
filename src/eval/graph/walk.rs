//! Depth-first walks in the order the first version of this module searched in.

use super::*;

/// Reusable buffers for walks, so that a walk allocates nothing once they have grown.
#[derive(Default)]
pub(super) struct Walker {
    /// `seen[v] == epoch` when this walk has met `v`.
    pub(super) seen: Vec<u32>,
    pub(super) epoch: u32,
    pub(super) stack: Vec<u32>,
}

impl Walker {
    /// Visits `from` and every service it reaches, in the order of a depth-first search that
    /// pushes a service's unseen dependencies in the order listed (so pops the last first),
    /// until `visit` breaks. Returns the work done.
    pub(super) fn walk(
        &mut self,
        edges: &Edges,
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
    pub(super) fn search(
        &mut self,
        edges: &Edges,
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
