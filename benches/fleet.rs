//! The fleet benchmark: a stream of hosts (300 services and 10 stores each, from
//! `benches/gen_fleet.py`), one rule: "if any store has full-text indexing then MSSEARCH is
//! running" (`benches/packs/fleet.xpol`). Everything is measured from the bytes of the stream
//! in memory, in the same run:
//!
//! - `expolicy`: load each line (decode, parse, index), evaluate the rule, build the report;
//! - `serde_json typed parse (ceiling)`: `serde_json::from_slice` of each line into the plain
//!   derived snapshot model, and nothing else;
//! - `regorus` (with `--features bench-regorus`): parse each line as the input document and
//!   evaluate the equivalent Rego policy (`benches/rego/fleet.rego`).
//!
//! Before measuring, the outcomes of expolicy and regorus are compared host by host.
//!
//!     cargo bench --bench fleet --features bench-regorus

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks fail loudly"
)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use expolicy::eval::{Evaluator, Outcome};
use expolicy::report::SnapshotReport;
use expolicy::snapshot::{self, Snapshot};

fn outcomes_expolicy(
    program: &expolicy::check::ir::Program,
    rules: &[u32],
    lines: &[&[u8]],
) -> Vec<Outcome> {
    lines
        .iter()
        .map(|line| {
            let loaded = snapshot::load("bench", line)
                .map_err(|e| e.0.message)
                .unwrap();
            let results = Evaluator::new(program, &loaded).evaluate(rules);
            results[0].outcome
        })
        .collect()
}

#[cfg(feature = "bench-regorus")]
mod peer {
    use expolicy::eval::Outcome;

    pub fn engine() -> regorus::Engine {
        let mut engine = regorus::Engine::new();
        let path = super::common::root().join("benches/rego/fleet.rego");
        engine
            .add_policy(
                "fleet.rego".to_string(),
                std::fs::read_to_string(path).unwrap(),
            )
            .unwrap();
        engine
    }

    pub fn outcome(engine: &mut regorus::Engine, line: &[u8]) -> regorus::Value {
        engine
            .set_input_json(std::str::from_utf8(line).unwrap())
            .unwrap();
        engine.eval_rule("data.fleet.outcome".to_string()).unwrap()
    }

    pub fn as_outcome(value: &regorus::Value) -> Outcome {
        match value.as_string().map(|s| s.to_string()).unwrap().as_str() {
            "pass" => Outcome::Pass,
            "fail" => Outcome::Fail,
            "not_applicable" => Outcome::NotApplicable,
            "error" => Outcome::Error,
            other => panic!("unexpected outcome {other}"),
        }
    }
}

fn fleet(c: &mut Criterion) {
    let hosts = common::bench_hosts();
    let stream = common::fleet_stream(hosts);
    let lines = common::lines(&stream);
    assert_eq!(lines.len(), hosts);
    let program = common::program(&[&common::root().join("benches/packs/fleet.xpol")]);
    let rules = common::all_rules(&program);

    let ours = outcomes_expolicy(&program, &rules, &lines);
    let count = |o: Outcome| ours.iter().filter(|&&x| x == o).count();
    eprintln!(
        "fleet: {hosts} hosts, {} bytes; outcomes: {} pass, {} fail, {} not applicable, {} error",
        stream.len(),
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::NotApplicable),
        count(Outcome::Error)
    );
    #[cfg(feature = "bench-regorus")]
    {
        let mut engine = peer::engine();
        let theirs: Vec<Outcome> = lines
            .iter()
            .map(|l| peer::as_outcome(&peer::outcome(&mut engine, l)))
            .collect();
        let differ = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "expolicy and regorus disagree on {differ} hosts");
        eprintln!("fleet: regorus agrees with expolicy on every host");
    }

    let mut group = c.benchmark_group("fleet");
    group.throughput(Throughput::Elements(hosts as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(15));

    group.bench_function("expolicy", |b| {
        b.iter(|| {
            let mut failed = 0usize;
            for line in &lines {
                let loaded = snapshot::load("bench", line)
                    .map_err(|e| e.0.message)
                    .unwrap();
                let results = Evaluator::new(&program, &loaded).evaluate(&rules);
                let report = SnapshotReport::new(
                    loaded.source.clone(),
                    loaded.snapshot.host.name.clone(),
                    results,
                );
                failed += report.summary.fail;
            }
            black_box(failed)
        })
    });

    group.bench_function("serde_json typed parse (ceiling)", |b| {
        b.iter(|| {
            let mut services = 0usize;
            for line in &lines {
                let snapshot: Snapshot = serde_json::from_slice(line).unwrap();
                services += snapshot.services.len();
            }
            black_box(services)
        })
    });

    #[cfg(feature = "bench-regorus")]
    {
        let mut engine = peer::engine();
        group.bench_function("regorus", |b| {
            b.iter(|| {
                let mut failed = 0usize;
                for line in &lines {
                    let value = peer::outcome(&mut engine, line);
                    failed += usize::from(value.as_string().is_ok_and(|s| s.as_ref() == "fail"));
                }
                black_box(failed)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fleet);
criterion_main!(benches);
