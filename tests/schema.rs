#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! `expolicy schema`: the JSON Schema of snapshot v1, checked against every shipped snapshot
//! and against the committed copy in docs/.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema_text() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .args(["--color", "never", "schema"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&schema_text()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Every shipped snapshot: examples/snapshots/*.json and policies/*/tests/*.snapshot.json.
fn shipped_snapshots() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut push_dir = |dir: &Path, suffix: &str| {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries {
                let p = e.unwrap().path();
                if p.to_string_lossy().ends_with(suffix) {
                    found.push(p);
                }
            }
        }
    };
    push_dir(&root().join("examples/snapshots"), ".json");
    if let Ok(packs) = std::fs::read_dir(root().join("policies")) {
        for pack in packs {
            push_dir(&pack.unwrap().path().join("tests"), ".snapshot.json");
        }
    }
    found.sort();
    found
}

#[test]
fn committed_schema_is_up_to_date() {
    let committed = std::fs::read_to_string(root().join("docs/snapshot-v1.schema.json")).unwrap();
    assert_eq!(
        committed,
        schema_text(),
        "docs/snapshot-v1.schema.json is stale: run `expolicy schema -o docs/snapshot-v1.schema.json`"
    );
}

#[test]
fn every_shipped_snapshot_is_valid() {
    let validator = validator();
    let files = shipped_snapshots();
    assert!(!files.is_empty(), "no shipped snapshots found");
    let mut problems = Vec::new();
    for file in &files {
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for error in validator.iter_errors(&value) {
            problems.push(format!(
                "{}: {error} at {}",
                file.display(),
                error.instance_path()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn imported_snapshots_are_valid() {
    let validator = validator();
    let out = Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .current_dir(root().join("tests/fixtures/import"))
        .args(["--color", "never", "import", "exch01"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(validator.is_valid(&value));
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let validator = validator();
    let cases = [
        serde_json::json!({"format": "expolicy-snapshot/2", "host": {"name": "H"}, "services": []}),
        serde_json::json!({"format": "expolicy-snapshot/1", "services": []}),
        serde_json::json!({"format": "expolicy-snapshot/1", "host": {"name": "H"}, "services": [{"name": "A", "state": "runing"}]}),
        serde_json::json!({"format": "expolicy-snapshot/1", "host": {"name": "H"}, "services": [{"name": "A", "start_type": "auto"}]}),
    ];
    // The schema publishes the documented shape; the loader may accept more (the spec allows
    // it), and does: it takes `"facts": []`, which the schema refuses.
    let lenient = serde_json::json!({"format": "expolicy-snapshot/1", "host": {"name": "H"}, "services": [], "facts": []});
    assert!(!validator.is_valid(&lenient));
    for case in cases {
        assert!(!validator.is_valid(&case), "{case}");
        let text = case.to_string();
        assert!(
            expolicy::snapshot::load("case", text.as_bytes()).is_err(),
            "the loader accepts {case}"
        );
    }
}
