//! One host, the whole Exchange 2003 pack (`policies/exchange2003`), the snapshot already
//! loaded (`policies/exchange2003/tests/healthy.snapshot.json`): one evaluation of every rule.
//! Loading the snapshot from bytes is measured beside it, for scale, and so is loading it and
//! evaluating once: the first evaluation of a loaded snapshot also resolves its dependency
//! graph, which later evaluations of it share.
//!
//!     cargo bench --bench single_host

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks fail loudly"
)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use expolicy::eval::Evaluator;
use expolicy::snapshot;

fn single_host(c: &mut Criterion) {
    let root = common::root();
    let program = common::program(&[&root.join("policies/exchange2003")]);
    let rules = common::all_rules(&program);
    let bytes =
        std::fs::read(root.join("policies/exchange2003/tests/healthy.snapshot.json")).unwrap();
    let loaded = snapshot::load("healthy.snapshot.json", &bytes)
        .map_err(|e| e.0.message)
        .unwrap();
    eprintln!(
        "single_host: {} rules, {} services",
        rules.len(),
        loaded.services.len()
    );
    if std::env::var_os("EXPOLICY_BENCH_PER_RULE").is_some() {
        // Where the time goes: each rule alone, on a fresh evaluator (so with the definitions
        // it reads computed anew).
        for &r in &rules {
            let runs = 2000;
            let start = std::time::Instant::now();
            for _ in 0..runs {
                black_box(Evaluator::new(&program, &loaded).evaluate(&[r]));
            }
            let each = start.elapsed() / runs;
            eprintln!("{:>10.1?}  {}", each, program.rules[r as usize].id);
        }
    }

    let mut group = c.benchmark_group("single_host");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("exchange2003 pack, snapshot loaded", |b| {
        b.iter(|| black_box(Evaluator::new(&program, &loaded).evaluate(&rules)))
    });
    group.bench_function("load snapshot from bytes", |b| {
        b.iter(|| black_box(snapshot::load("healthy.snapshot.json", &bytes).is_ok()))
    });
    group.bench_function("load snapshot, then the first evaluation", |b| {
        b.iter(|| {
            let fresh = snapshot::load("healthy.snapshot.json", &bytes)
                .map_err(|e| e.0.message)
                .unwrap();
            black_box(Evaluator::new(&program, &fresh).evaluate(&rules))
        })
    });
    group.finish();
}

criterion_group!(benches, single_host);
criterion_main!(benches);
