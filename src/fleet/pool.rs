//! A pool of long-lived workers between one reader and one writer, for fleets.
//!
//! The reader (a thread of its own) produces items and numbers them; `workers` threads take
//! them from a shared queue and do the work; the calling thread is the writer and sees the
//! results strictly in the order the items were produced, each as soon as it and all before it
//! are done (a reorder buffer keyed by sequence number). Reading, working and writing overlap.
//! With one worker, everything runs in turn on the calling thread instead.
//!
//! Memory is bounded by a window: the reader may not produce an item while a few per worker are
//! in flight (read and not yet written), nor while those in flight hold `max_bytes` or more. A
//! slow item therefore stalls the reader, not memory: the reorder buffer can never hold more
//! than the window.
//!
//! Panics: a panic in the work is caught on the worker and handed to the writer in its place in
//! the order; the writer stops there (everything before it has been written), the pool winds
//! down, and the panic resumes on the calling thread. A panic of the writer itself (`on_done`)
//! or of the reader winds the pool down the same way. Nothing is left waiting forever.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Stack of each worker: the same as the thread `cli::main` runs on, so that the depth limits
/// of parsing and evaluation, not a worker's default 2 MiB stack, decide what is too deep.
/// Only address space is reserved; pages that are never touched cost no memory.
const WORKER_STACK: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Worker threads wanted (at least one is used).
    pub workers: usize,
    /// Items in flight at most, per worker that could be started.
    pub in_flight_per_worker: usize,
    /// The reader waits while the items in flight hold this many bytes (one item is always
    /// let through, however large, so that a big item cannot stall the run).
    pub max_bytes: usize,
}

/// Runs `work` over every item `produce` yields, on up to `limits.workers` threads, and calls
/// `on_done` on the calling thread with the results in production order. `produce` returns an
/// item and its size in bytes (for the window), or `None` at the end.
pub fn run<I, T, P, W, D>(limits: Limits, produce: P, work: W, mut on_done: D)
where
    I: Send,
    T: Send,
    P: FnMut() -> Option<(I, usize)> + Send,
    W: Fn(I) -> T + Sync,
    D: FnMut(T),
{
    if limits.workers <= 1 {
        // One worker gains nothing from threads but the overlap of reading with working, and
        // the hand-offs cost more than that when the cores are busy (6% more CPU time on the
        // fleet bench): read, work and write in turn on this thread, as a pool of one would.
        sequential(produce, work, on_done);
        return;
    }
    // Both queues are unbounded channels: the window bounds what is in them.
    let (job_tx, job_rx) = mpsc::channel::<(u64, usize, I)>();
    let (done_tx, done_rx) = mpsc::channel::<(u64, usize, std::thread::Result<T>)>();
    let job_rx = Mutex::new(job_rx);
    let window = Window::new(limits.max_bytes);
    // The reader takes `produce` from here; if its thread cannot be started, the calling thread
    // takes it back and does everything itself.
    let produce = Mutex::new(Some(produce));
    let mut worker_panic = None;
    let fallback = std::thread::scope(|scope| {
        let mut started: usize = 0;
        for i in 0..limits.workers.max(1) {
            let done_tx = done_tx.clone();
            let (job_rx, work) = (&job_rx, &work);
            let spawned = std::thread::Builder::new()
                .name(format!("expolicy-worker-{i}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(scope, move || worker(job_rx, &done_tx, work));
            match spawned {
                Ok(_) => started += 1,
                // The system refused another thread (`--jobs` far above what it allows): go on
                // with those that started.
                Err(_) => break,
            }
        }
        drop(done_tx);
        if started == 0 {
            return true;
        }
        let window = &window;
        window.limit_items(started.saturating_mul(limits.in_flight_per_worker));
        let produce = &produce;
        let reader = std::thread::Builder::new()
            .name("expolicy-reader".to_string())
            .spawn_scoped(scope, move || {
                let _close = CloseOnDrop(window);
                if let Some(produce) = lock(produce).take() {
                    read(window, &job_tx, produce);
                }
            });
        if reader.is_err() {
            // `job_tx` went with the closure, so the workers stop at once.
            return true;
        }
        worker_panic = write(window, done_rx, &mut on_done);
        false
    });
    if let Some(payload) = worker_panic {
        resume_unwind(payload);
    }
    if fallback {
        if let Some(produce) = lock(&produce).take() {
            sequential(produce, work, on_done);
        }
    }
}

/// Everything on the calling thread, item after item.
fn sequential<I, T>(
    mut produce: impl FnMut() -> Option<(I, usize)>,
    work: impl Fn(I) -> T,
    mut on_done: impl FnMut(T),
) {
    while let Some((item, _)) = produce() {
        on_done(work(item));
    }
}

/// The reader's loop: waits for room in the window, produces, numbers and queues.
fn read<I>(
    window: &Window,
    jobs: &mpsc::Sender<(u64, usize, I)>,
    mut produce: impl FnMut() -> Option<(I, usize)>,
) {
    let mut seq = 0u64;
    while window.acquire() {
        let Some((item, bytes)) = produce() else {
            return;
        };
        window.add_bytes(bytes);
        if jobs.send((seq, bytes, item)).is_err() {
            return;
        }
        seq += 1;
    }
}

/// A worker's loop: takes the next item, works, hands the result (or the panic) on, until the
/// queue is closed and empty or the writer has gone.
fn worker<I, T>(
    jobs: &Mutex<mpsc::Receiver<(u64, usize, I)>>,
    done: &mpsc::Sender<(u64, usize, std::thread::Result<T>)>,
    work: &(impl Fn(I) -> T + Sync),
) {
    loop {
        // The lock is held only while waiting for the next item, never while working.
        let next = lock(jobs).recv();
        let Ok((seq, bytes, item)) = next else {
            return;
        };
        let result = catch_unwind(AssertUnwindSafe(|| work(item)));
        if done.send((seq, bytes, result)).is_err() {
            return;
        }
    }
}

/// The writer's loop, on the calling thread: results in order as soon as they can be. Returns
/// the payload of a worker's panic, if one stopped the run.
fn write<T>(
    window: &Window,
    done: mpsc::Receiver<(u64, usize, std::thread::Result<T>)>,
    on_done: &mut impl FnMut(T),
) -> Option<Box<dyn std::any::Any + Send>> {
    // However this returns or unwinds, the reader must stop waiting for room.
    let _close = CloseOnDrop(window);
    // `pending[i]` is the result numbered `next + i`, once it has arrived.
    let mut pending: VecDeque<Option<(usize, std::thread::Result<T>)>> = VecDeque::new();
    let mut next = 0u64;
    // Ends when every worker has gone: the reader is done and the queue is empty.
    for (seq, bytes, result) in done.iter() {
        // Every number arrives once and none is below `next`; anything else is ignored.
        let Some(offset) = seq.checked_sub(next).and_then(|o| usize::try_from(o).ok()) else {
            continue;
        };
        if pending.len() <= offset {
            pending.resize_with(offset + 1, || None);
        }
        pending[offset] = Some((bytes, result));
        while let Some(Some((bytes, result))) = pending.front_mut().map(Option::take) {
            pending.pop_front();
            next += 1;
            match result {
                Ok(value) => on_done(value),
                Err(payload) => return Some(payload),
            }
            // Only now is the item out of memory: the window counts the one being written.
            window.release(bytes);
        }
    }
    None
}

/// Items and bytes in flight, and whether the run has been abandoned.
struct Window {
    state: Mutex<InFlight>,
    room: Condvar,
    max_bytes: usize,
}

struct InFlight {
    items: usize,
    bytes: usize,
    max_items: usize,
    closed: bool,
}

impl Window {
    fn new(max_bytes: usize) -> Window {
        Window {
            state: Mutex::new(InFlight {
                items: 0,
                bytes: 0,
                max_items: 1,
                closed: false,
            }),
            room: Condvar::new(),
            max_bytes,
        }
    }

    /// Sets how many items may be in flight (at least one), once the workers are counted.
    fn limit_items(&self, max_items: usize) {
        lock(&self.state).max_items = max_items.max(1);
        self.room.notify_all();
    }

    /// Waits for room for one more item and takes it; `false` once the window is closed.
    fn acquire(&self) -> bool {
        let mut state = lock(&self.state);
        while !state.closed
            && (state.items >= state.max_items
                || (state.items > 0 && state.bytes >= self.max_bytes))
        {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.closed {
            return false;
        }
        state.items += 1;
        true
    }

    fn add_bytes(&self, bytes: usize) {
        let mut state = lock(&self.state);
        state.bytes = state.bytes.saturating_add(bytes);
    }

    /// One item, of `bytes`, has left the pool.
    fn release(&self, bytes: usize) {
        let mut state = lock(&self.state);
        state.items = state.items.saturating_sub(1);
        state.bytes = state.bytes.saturating_sub(bytes);
        drop(state);
        self.room.notify_one();
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.room.notify_all();
    }
}

/// Closes the window when dropped, also while unwinding.
struct CloseOnDrop<'w>(&'w Window);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A lock that a panic elsewhere does not poison: every critical section here leaves the data
/// consistent (counters, a queue's receiving end).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn limits(workers: usize, in_flight_per_worker: usize) -> Limits {
        Limits {
            workers,
            in_flight_per_worker,
            max_bytes: usize::MAX,
        }
    }

    /// Items 0..n, each taking a different, scrambled amount of work so that they finish out
    /// of order.
    fn scrambled(n: u64, workers: usize, per_worker: usize) -> Vec<u64> {
        let mut next = 0;
        let mut seen = Vec::new();
        run(
            limits(workers, per_worker),
            || {
                (next < n).then(|| {
                    next += 1;
                    (next - 1, 1)
                })
            },
            |i: u64| {
                let spins = (i * 7919) % 13;
                for _ in 0..spins {
                    std::thread::yield_now();
                }
                i * 10
            },
            |v| seen.push(v),
        );
        seen
    }

    #[test]
    fn results_come_in_input_order_whatever_the_number_of_workers() {
        let expected: Vec<u64> = (0..500).map(|i| i * 10).collect();
        for workers in [1, 2, 3, 4, 7, 16] {
            for per_worker in [1, 2, 5, 64] {
                assert_eq!(
                    scrambled(500, workers, per_worker),
                    expected,
                    "{workers} workers, {per_worker} in flight each"
                );
            }
        }
    }

    #[test]
    fn nothing_to_do_is_fine() {
        assert!(scrambled(0, 3, 4).is_empty());
    }

    #[test]
    fn items_in_flight_never_exceed_the_window() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut next = 0;
        let mut count = 0;
        run(
            limits(3, 2),
            || {
                (next < 300).then(|| {
                    next += 1;
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    (next, 1)
                })
            },
            |i: i32| {
                std::thread::yield_now();
                i
            },
            |_| {
                in_flight.fetch_sub(1, Ordering::SeqCst);
                count += 1;
            },
        );
        assert_eq!(count, 300);
        assert!(peak.load(Ordering::SeqCst) <= 6, "{peak:?}");
    }

    #[test]
    fn bytes_in_flight_are_bounded_but_a_big_item_passes() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let sizes = [10usize, 10, 1000, 10, 10, 10, 10, 10, 500, 10];
        let mut next = 0;
        let mut seen = Vec::new();
        run(
            Limits {
                workers: 3,
                in_flight_per_worker: 100,
                max_bytes: 25,
            },
            || {
                let size = *sizes.get(next)?;
                next += 1;
                let now = in_flight.fetch_add(size, Ordering::SeqCst) + size;
                peak.fetch_max(now, Ordering::SeqCst);
                Some((size, size))
            },
            |size: usize| size,
            |size| {
                in_flight.fetch_sub(size, Ordering::SeqCst);
                seen.push(size);
            },
        );
        assert_eq!(seen, sizes);
        // Under the limit plus the one item that crossed it.
        assert!(peak.load(Ordering::SeqCst) < 25 + 1000, "{peak:?}");
    }

    #[test]
    fn a_panic_in_the_work_resumes_on_the_caller_after_the_results_before_it() {
        for workers in [1, 2, 5] {
            let mut seen = Vec::new();
            let mut next = 0;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run(
                    limits(workers, 4),
                    // Endless: only the panic stops the run.
                    || {
                        next += 1;
                        Some((next - 1, 1))
                    },
                    |i: u64| {
                        if i == 37 {
                            panic!("boom at 37");
                        }
                        i
                    },
                    |i| seen.push(i),
                );
            }));
            let payload = outcome.expect_err("the panic reaches the caller");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom at 37"));
            assert_eq!(seen, (0..37).collect::<Vec<_>>(), "{workers} workers");
        }
    }

    #[test]
    fn a_panic_in_the_writer_does_not_leave_the_pool_waiting() {
        let mut next = 0;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run(
                limits(3, 4),
                || {
                    next += 1;
                    Some((next, 1))
                },
                |i: u64| i,
                |i| assert!(i < 20, "the writer gives up at {i}"),
            );
        }));
        assert!(outcome.is_err());
    }

    #[test]
    fn a_panic_in_the_reader_does_not_leave_the_writer_waiting() {
        let mut next = 0;
        let mut seen = 0;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run(
                limits(2, 4),
                || {
                    next += 1;
                    assert!(next < 10, "the reader gives up");
                    Some((next, 1))
                },
                |i: u64| i,
                |_| seen += 1,
            );
        }));
        assert!(outcome.is_err());
        assert_eq!(seen, 9);
    }
}
