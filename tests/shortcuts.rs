#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! The evaluator takes shortcuts when it is not explaining: host-invariant expressions are
//! computed once (`check::hoist`), functions of one service are kept per service, `services` is
//! built once, and common conditions are decided without building values. Explaining evaluates
//! every expression as written. Both must give the same result for every rule, on every policy
//! and snapshot the repository ships.

use std::path::{Path, PathBuf};

use expolicy::check::ir::Program;
use expolicy::eval::Evaluator;
use expolicy::snapshot::LoadedSnapshot;
use expolicy::source::SourceMap;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn program(pack: &Path) -> Program {
    let mut sources = SourceMap::new();
    let loaded = expolicy::policy::load(&[pack.to_path_buf()], &mut sources);
    loaded
        .program
        .unwrap_or_else(|| panic!("{} does not check", pack.display()))
}

fn snapshot(path: &Path) -> LoadedSnapshot {
    let bytes = std::fs::read(path).unwrap();
    expolicy::snapshot::load(&path.display().to_string(), &bytes)
        .map_err(|e| e.0.message)
        .unwrap()
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

/// Evaluates every rule both ways and returns how many were compared.
fn agree(pack: &Path, snapshots: &[PathBuf]) -> usize {
    let program = program(pack);
    let all: Vec<u32> = (0..program.rules.len() as u32).collect();
    let mut compared = 0;
    for path in snapshots {
        let loaded = snapshot(path);
        let fast = Evaluator::new(&program, &loaded).evaluate(&all);
        for (&rule, fast) in all.iter().zip(&fast) {
            let (mut as_written, _) = expolicy::explain::trace(&program, &loaded, rule);
            // Only explaining collects evidence; everything else must be identical.
            as_written.evidence.clear();
            assert_eq!(
                fast,
                &as_written,
                "{} on {}",
                program.rules[rule as usize].id,
                path.display()
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn exchange_pack_on_every_fixture() {
    let pack = root().join("policies/exchange2003");
    let mut snapshots = files(&pack.join("tests"), ".snapshot.json");
    snapshots.extend(files(&root().join("examples/snapshots"), ".json"));
    assert!(snapshots.len() > 60);
    assert_eq!(agree(&pack, &snapshots), 29 * snapshots.len());
}

#[test]
fn demo_policy() {
    let snapshots = files(&root().join("examples/demo/snapshots"), ".json");
    assert!(!snapshots.is_empty());
    assert!(agree(&root().join("examples/demo/policy"), &snapshots) > 0);
}

#[test]
fn every_language_case() {
    let cases = root().join("tests/cases");
    let mut compared = 0;
    for dir in std::fs::read_dir(&cases).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let own = dir.join("snapshot.json");
        let snapshot = if own.exists() {
            own
        } else {
            cases.join("host.json")
        };
        compared += agree(&dir, &[snapshot]);
    }
    assert!(compared > 50, "{compared}");
}
