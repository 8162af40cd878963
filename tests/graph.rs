#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! `expolicy graph`: DOT and Mermaid drawings of a snapshot's service dependencies, with
//! dangling dependencies, cycles and (given a pack) failing services.

use std::path::Path;
use std::process::{Command, Output};

fn graph(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/graph"))
        .args(["--color", "never", "graph"])
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = graph(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dot_with_dangling_dependencies_and_cycles() {
    let dot = ok(&["--snapshot", "exch01.json"]);
    assert!(
        dot.contains("\"NetBT\" [label=\"NetBT\\nnot in the snapshot\", shape=note, style=dashed]"),
        "{dot}"
    );
    assert!(
        dot.contains("\"MSExchangeIS\" -> \"MSExchangeSA\" [color=red"),
        "{dot}"
    );
    assert!(
        dot.contains("// cycle: MSExchangeIS, MSExchangeSA"),
        "{dot}"
    );
    assert!(!dot.contains("failing:"), "{dot}");
    insta::assert_snapshot!("dot", dot);
}

#[test]
fn mermaid_marks_failing_services_of_a_pack() {
    let mermaid = ok(&[
        "--snapshot",
        "exch01.json",
        "--format",
        "mermaid",
        "--policy",
        "pack.xpol",
    ]);
    insta::assert_snapshot!("mermaid_with_policy", mermaid);
}

#[test]
fn failing_services_are_those_the_failing_rules_name() {
    let dot = ok(&["-s", "exch01.json", "--policy", "pack.xpol"]);
    // msearch-for-fulltext fails and names MSSEARCH; WINS is missing (error outcome) and drawn
    // as a missing node; the rule over every service names none and marks none; Eventlog passes.
    let failing: Vec<&str> = dot.lines().filter(|l| l.contains("failing:")).collect();
    assert_eq!(failing.len(), 2, "{dot}");
    assert!(failing[0].starts_with("  \"MSSEARCH\""), "{dot}");
    assert!(
        failing[0].contains("graphdemo.msearch-for-fulltext"),
        "{dot}"
    );
    assert!(failing[1].starts_with("  \"WINS\""), "{dot}");
    // Two rules read MSSEARCH through one definition: each is marked, not only the first.
    assert!(
        failing[0].contains("graphdemo.msearch-not-stopped, graphdemo.msearch-not-stopped-again"),
        "{dot}"
    );
    insta::assert_snapshot!("dot_with_policy", dot);
}

#[test]
fn output_is_deterministic() {
    let a = ok(&[
        "-s",
        "exch01.json",
        "-f",
        "mermaid",
        "--policy",
        "pack.xpol",
    ]);
    let b = ok(&[
        "-s",
        "exch01.json",
        "-f",
        "mermaid",
        "--policy",
        "pack.xpol",
    ]);
    assert_eq!(a, b);
}

#[test]
fn a_bad_snapshot_is_exit_2() {
    let out = graph(&["-s", "pack.xpol"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expolicy::snapshot::"));
}
