//! Scale with rules: generated packs of 10, 100 and 1,000 rules. For each, the time to compile
//! the pack (read, parse, check and lower its files: `expolicy::policy::load`) and the time to
//! evaluate every rule on one host (the first host of the fleet stream, 300 services and 10
//! stores, already loaded).
//!
//! The rules cycle through five shapes, each naming a different service of the host: a `when`
//! over the stores, state and start-type predicates, a quantifier over all services, an account
//! comparison, and a transitive dependency.
//!
//!     cargo bench --bench scale

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmarks fail loudly"
)]

mod common;

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use expolicy::eval::Evaluator;
use expolicy::snapshot;

/// Writes a pack of `n` rules into `dir` (ten rules per file).
fn generate_pack(dir: &Path, n: usize, services: &[String]) {
    let mut file = String::new();
    let mut files = 0;
    for i in 0..n {
        if i % 10 == 0 {
            if !file.is_empty() {
                std::fs::write(dir.join(format!("rules{files:03}.xpol")), &file).unwrap();
                files += 1;
            }
            file = String::from("pack scale\n\n");
            if i == 0 {
                file.push_str(
                    "fact exchange.stores: [{ name: str, kind: str, full_text_indexing: bool }]\n\n",
                );
            }
        }
        let s = &services[i % services.len()];
        let t = &services[(i * 7 + 3) % services.len()];
        let body = match i % 5 {
            0 => format!(
                "  when any st in exchange.stores: st.full_text_indexing\n  require service(\"{s}\") is running\n    else \"{s} is {{service(\\\"{s}\\\").state}}\"\n"
            ),
            1 => format!(
                "  when has_service(\"{s}\")\n  require service(\"{s}\") is not disabled\n  require service(\"{s}\").start_type in [\"automatic\", \"manual\", \"system\", \"boot\"]\n"
            ),
            2 => format!(
                "  require (count x in services: x is running and x.name != \"{s}\") > {}\n",
                i % 50
            ),
            3 => format!(
                "  require service(\"{s}\") runs as \"LocalSystem\" or service(\"{s}\").account != \"\"\n"
            ),
            _ => format!(
                "  when has_service(\"{s}\") and has_service(\"{t}\")\n  require not (service(\"{s}\") depends on service(\"{t}\")) or service(\"{t}\") is running\n"
            ),
        };
        let _ = write!(
            file,
            "rule r{i:04} {{\n  title \"generated rule {i}\"\n  severity warning\n{body}}}\n\n"
        );
    }
    std::fs::write(dir.join(format!("rules{files:03}.xpol")), &file).unwrap();
}

fn scale(c: &mut Criterion) {
    let stream = common::fleet_stream(common::bench_hosts());
    let line = common::lines(&stream)[0].to_vec();
    let loaded = snapshot::load("host", &line)
        .map_err(|e| e.0.message)
        .unwrap();
    let services: Vec<String> = loaded
        .services
        .iter()
        .map(|s| s.name().to_string())
        .collect();

    let mut group = c.benchmark_group("scale");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
    for n in [10usize, 100, 1000] {
        let dir = tempfile::tempdir().unwrap();
        generate_pack(dir.path(), n, &services);
        let program = common::program(&[dir.path()]);
        assert_eq!(program.rules.len(), n);
        let rules = common::all_rules(&program);
        group.bench_with_input(BenchmarkId::new("compile", n), &n, |b, _| {
            b.iter(|| black_box(common::program(&[dir.path()])))
        });
        group.bench_with_input(BenchmarkId::new("evaluate one host", n), &n, |b, _| {
            b.iter(|| black_box(Evaluator::new(&program, &loaded).evaluate(&rules)))
        });
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
