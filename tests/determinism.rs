#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Determinism: the same policies and snapshots give byte-identical reports, run after run
//! and whatever the number of worker threads, in every report format.

use std::path::PathBuf;
use std::process::Command;

const FORMATS: [&str; 6] = ["human", "json", "sarif", "junit", "github", "markdown"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Standard output of `eval` over the Exchange 2003 pack's test snapshots and the demo's.
fn report(format: &str, jobs: &str, explain: bool) -> Vec<u8> {
    let root = root();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_expolicy"));
    cmd.current_dir(&root).args([
        "--color",
        "never",
        "eval",
        "policies/exchange2003",
        "examples/demo/policy",
        "-s",
        "policies/exchange2003/tests/*.snapshot.json",
        "-s",
        "examples/demo/snapshots/*.json",
        "-f",
        format,
        "--jobs",
        jobs,
        "--fail-on",
        "never",
    ]);
    if explain {
        cmd.arg("--explain");
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{format} --jobs {jobs}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "{format}: empty report");
    out.stdout
}

#[test]
fn reports_are_byte_identical_across_runs_and_thread_counts() {
    for format in FORMATS {
        let first = report(format, "1", false);
        assert_eq!(
            first,
            report(format, "1", false),
            "{format}: two runs differ"
        );
        for jobs in ["2", "5"] {
            assert!(
                first == report(format, jobs, false),
                "{format}: --jobs {jobs} differs from --jobs 1"
            );
        }
    }
}

#[test]
fn explained_reports_are_byte_identical_too() {
    let first = report("json", "1", true);
    assert_eq!(first, report("json", "3", true));
    // Many hosts: the evidence names each host's own snapshot.
    let text = String::from_utf8(first).unwrap();
    assert!(
        text.contains("\"evidence\""),
        "{}",
        &text[..text.len().min(400)]
    );
}
