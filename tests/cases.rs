#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Data-driven cases: each folder under `tests/cases/` holds a pack (`*.xpol`) and optionally a
//! `snapshot.json` (else the shared `host.json`). The human and JSON reports are snapshotted.

use std::path::Path;

use expolicy::diag::RenderOptions;
use expolicy::eval::Evaluator;
use expolicy::report::{self, SnapshotReport};
use expolicy::source::SourceMap;

fn relative(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn run_case(dir: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xpol"))
        .collect();
    files.sort();
    let pack: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| (relative(f), std::fs::read(f).unwrap()))
        .collect();
    let mut sources = SourceMap::new();
    let loaded = expolicy::policy::load_bytes(&[pack], &mut sources);
    let diags = expolicy::diag::render_all(&loaded.diags, &sources, RenderOptions::PLAIN);
    let program = loaded
        .program
        .unwrap_or_else(|| panic!("{} does not check:\n{diags}", dir.display()));

    let own = dir.join("snapshot.json");
    let snapshot_path = if own.exists() {
        own
    } else {
        dir.parent().unwrap().join("host.json")
    };
    let bytes = std::fs::read(&snapshot_path).unwrap();
    let name = relative(&snapshot_path);
    let snapshot = expolicy::snapshot::load(&name, &bytes)
        .map_err(|e| e.0.message)
        .unwrap();
    let all: Vec<u32> = (0..program.rules.len() as u32).collect();
    let results = Evaluator::new(&program, &snapshot).evaluate(&all);
    let reports = vec![SnapshotReport::new(
        name,
        snapshot.snapshot.host.name.clone(),
        results,
    )];
    let human = report::human::render(&program, &sources, &reports, RenderOptions::PLAIN);
    let json = report::json::render(&program, &sources, &reports);
    let warnings = if diags.is_empty() {
        String::new()
    } else {
        format!("==== warnings ====\n{diags}\n")
    };
    format!("{warnings}{human}\n==== json ====\n{json}")
}

#[test]
fn cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 9, "expected the case folders, found {dirs:?}");
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let output = run_case(&dir);
        insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("cases", output);
        });
    }
}
