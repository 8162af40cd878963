//! Scale with rules: generated packs of 10, 100 and 1,000 rules. For each, the time to compile
//! the pack (read, parse, check and lower its files: `expolicy::policy::load`) and the time to
//! evaluate every rule on one host (the first host of the fleet stream, 300 services and 10
//! stores, already loaded).
//!
//! The rules cycle through five shapes, each naming a different service of the host: a `when`
//! over the stores, state and start-type predicates, a quantifier over all services, an account
//! comparison, and a transitive dependency.
//!
//! With `--features bench-regorus`, the same run measures the peer on a twin of each pack: one
//! Rego rule per generated rule, the same shape over the same services, built from the helpers
//! of `benches/rego/scale.rego` (which give missing data the meaning expolicy gives it), and
//! `outcomes`, an object of every rule's outcome. Before timing, both engines evaluate every
//! rule on the bench host and on variants of it with missing data, renamed services and other
//! stores, and must agree rule by rule. Then:
//!
//! - `regorus prepare`: read and add the Rego files to a new engine and analyse them (what
//!   regorus does before its first evaluation), the peer of `compile`;
//! - `regorus evaluate one host`: `eval_rule("data.scale.outcomes")` with the host already set
//!   as the input document, the peer of `evaluate one host`.
//!
//! Run with:
//!
//!     cargo bench --bench scale
//!     cargo bench --bench scale --features bench-regorus -- 1000

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

/// The shape of rule `i` and the services it names: `s`, and `t` for the dependency shape.
fn rule_services(i: usize, services: &[String]) -> (usize, &str, &str) {
    let s = &services[i % services.len()];
    let t = &services[(i * 7 + 3) % services.len()];
    (i % 5, s, t)
}

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
        let (shape, s, t) = rule_services(i, services);
        let body = match shape {
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

/// The Rego twin of [`generate_pack`]: `rNNNN := outcome(WHEN, [REQUIRE, ...])` per rule, ten
/// per file, and `outcomes` in a file of its own. Returns the files to load, the helpers of
/// `benches/rego/scale.rego` first.
#[cfg(feature = "bench-regorus")]
fn generate_rego(dir: &Path, n: usize, services: &[String]) -> Vec<std::path::PathBuf> {
    // A JSON string literal is a Rego string literal.
    let quote = |s: &str| serde_json::to_string(s).unwrap();
    let mut paths = vec![common::root().join("benches/rego/scale.rego")];
    let mut file = String::new();
    for i in 0..n {
        if i % 10 == 0 {
            file = String::from("package scale\n\n");
        }
        let (shape, s, t) = rule_services(i, services);
        let (s, t) = (quote(s), quote(t));
        let (when, requires) = match shape {
            0 => (
                "full_text".to_string(),
                format!("is_state({s}, \"running\")"),
            ),
            1 => (
                format!("has_service({s})"),
                format!(
                    "not3(is_start({s}, \"disabled\")), start_type_in({s}, [\"automatic\", \"manual\", \"system\", \"boot\"])"
                ),
            ),
            2 => (
                "true".to_string(),
                format!("greater3(running_except({s}), {})", i % 50),
            ),
            3 => (
                "true".to_string(),
                format!("or3(runs_as({s}, \"LocalSystem\"), account_differs({s}, \"\"))"),
            ),
            _ => (
                format!("and3(has_service({s}), has_service({t}))"),
                format!("or3(not3(depends_on({s}, {t})), is_state({t}, \"running\"))"),
            ),
        };
        let _ = writeln!(file, "r{i:04} := outcome({when}, [{requires}])\n");
        if i % 10 == 9 || i + 1 == n {
            let path = dir.join(format!("rules{:03}.rego", i / 10));
            std::fs::write(&path, &file).unwrap();
            paths.push(path);
        }
    }
    let mut outcomes = String::from("package scale\n\noutcomes := {\n");
    for i in 0..n {
        let _ = writeln!(outcomes, "\t\"r{i:04}\": r{i:04},");
    }
    outcomes.push_str("}\n");
    let path = dir.join("outcomes.rego");
    std::fs::write(&path, outcomes).unwrap();
    paths.push(path);
    paths
}

#[cfg(feature = "bench-regorus")]
mod peer {
    use std::path::PathBuf;

    use expolicy::eval::Outcome;

    /// A new engine with the policy's files, analysed: regorus does that on the first
    /// evaluation, and `ready` (a constant) is the cheapest one.
    pub fn engine(files: &[PathBuf]) -> regorus::Engine {
        let mut engine = regorus::Engine::new();
        for path in files {
            engine
                .add_policy(
                    path.display().to_string(),
                    std::fs::read_to_string(path).unwrap(),
                )
                .unwrap();
        }
        let ready = engine.eval_rule("data.scale.ready".to_string()).unwrap();
        assert_eq!(ready, regorus::Value::from(true));
        engine
    }

    /// Every rule's outcome on the host in `json`, by rule name (`r0000`).
    pub fn outcomes(
        engine: &mut regorus::Engine,
        json: &str,
    ) -> std::collections::BTreeMap<String, Outcome> {
        engine.set_input_json(json).unwrap();
        let value = engine.eval_rule("data.scale.outcomes".to_string()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&value.to_json_str().unwrap())
            .unwrap_or_else(|e| panic!("outcomes: {e}"));
        let map = value.as_object().expect("outcomes is an object");
        map.iter()
            .map(|(rule, outcome)| {
                let outcome = match outcome.as_str() {
                    Some("pass") => Outcome::Pass,
                    Some("fail") => Outcome::Fail,
                    Some("not_applicable") => Outcome::NotApplicable,
                    Some("error") => Outcome::Error,
                    other => panic!("{rule}: unexpected outcome {other:?}"),
                };
                (rule.clone(), outcome)
            })
            .collect()
    }

    /// The bench host, and variants of it that exercise what the bench host does not: missing
    /// fields and services, no stores, names in another case, every store indexed or none, and
    /// one service without a state: `stateless`, which rule 2 counts around (`x is running and
    /// x.name != "<stateless>"` is false for it, so only that count is decided).
    pub fn hosts(line: &[u8], stateless: &str) -> Vec<(&'static str, String)> {
        let host: serde_json::Value = serde_json::from_slice(line).unwrap();
        let vary = |name: &'static str, change: &dyn Fn(&mut serde_json::Value)| {
            let mut doc = host.clone();
            change(&mut doc);
            (name, serde_json::to_string(&doc).unwrap())
        };
        let services = |doc: &mut serde_json::Value| -> Vec<serde_json::Value> {
            doc["services"].as_array().unwrap().clone()
        };
        let indexing = |on: bool| {
            move |doc: &mut serde_json::Value| {
                for store in doc["facts"]["exchange"]["stores"].as_array_mut().unwrap() {
                    store["full_text_indexing"] = serde_json::json!(on);
                }
            }
        };
        vec![
            vary("the bench host", &|_| {}),
            vary("missing fields", &|doc| {
                let mut list = services(doc);
                for (i, s) in list.iter_mut().enumerate() {
                    let s = s.as_object_mut().unwrap();
                    for (every, field) in [
                        (7, "state"),
                        (11, "account"),
                        (13, "depends_on"),
                        (17, "start_type"),
                    ] {
                        if i % every == 3 {
                            s.remove(field);
                        }
                    }
                }
                doc["services"] = serde_json::Value::Array(list);
                indexing(true)(doc);
            }),
            vary("missing services, no stores", &|doc| {
                let list: Vec<_> = services(doc)
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| i % 4 != 1)
                    .map(|(_, s)| s)
                    .collect();
                doc["services"] = serde_json::Value::Array(list);
                doc["facts"]["exchange"]
                    .as_object_mut()
                    .unwrap()
                    .remove("stores");
            }),
            vary("names in upper case, every store indexed", &|doc| {
                let mut list = services(doc);
                for s in &mut list {
                    let upper = s["name"].as_str().unwrap().to_uppercase();
                    s["name"] = serde_json::json!(upper);
                    if let Some(deps) = s["depends_on"].as_array_mut() {
                        for d in deps {
                            *d = serde_json::json!(d.as_str().unwrap().to_uppercase());
                        }
                    }
                }
                doc["services"] = serde_json::Value::Array(list);
                indexing(true)(doc);
            }),
            vary("no store indexed", &indexing(false)),
            vary("one service without a state", &|doc| {
                let mut list = services(doc);
                for s in &mut list {
                    if s["name"] == stateless {
                        s.as_object_mut().unwrap().remove("state");
                    }
                }
                doc["services"] = serde_json::Value::Array(list);
            }),
        ]
    }
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

        #[cfg(feature = "bench-regorus")]
        {
            let rego_dir = tempfile::tempdir().unwrap();
            let files = generate_rego(rego_dir.path(), n, &services);
            let mut engine = peer::engine(&files);
            let (_, stateless, _) = rule_services(2, &services);
            for (variant, json) in peer::hosts(&line, stateless) {
                let host = snapshot::load(variant, json.as_bytes())
                    .map_err(|e| e.0.message)
                    .unwrap();
                let ours = Evaluator::new(&program, &host).evaluate(&rules);
                let theirs = peer::outcomes(&mut engine, &json);
                assert_eq!(
                    theirs.len(),
                    n,
                    "{variant}: regorus has {} rules",
                    theirs.len()
                );
                let mut tally = std::collections::BTreeMap::<&str, usize>::new();
                for result in &ours {
                    // `scale.r0000` here, `r0000` in Rego.
                    let id = &program.rules[result.rule as usize].id;
                    let name = id.strip_prefix("scale.").unwrap_or(id);
                    assert_eq!(
                        Some(&result.outcome),
                        theirs.get(name),
                        "{variant}: {id}: expolicy and regorus disagree (expolicy: {:?})",
                        result.message
                    );
                    *tally.entry(result.outcome.as_str()).or_default() += 1;
                }
                let tally: Vec<String> = tally.iter().map(|(o, k)| format!("{k} {o}")).collect();
                eprintln!(
                    "scale/{n}: {variant}: regorus agrees on every rule ({})",
                    tally.join(", ")
                );
            }

            group.bench_with_input(BenchmarkId::new("regorus prepare", n), &n, |b, _| {
                b.iter(|| black_box(peer::engine(&files)))
            });
            engine
                .set_input_json(std::str::from_utf8(&line).unwrap())
                .unwrap();
            group.bench_with_input(
                BenchmarkId::new("regorus evaluate one host", n),
                &n,
                |b, _| {
                    b.iter(|| {
                        black_box(engine.eval_rule("data.scale.outcomes".to_string()).unwrap())
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
