#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! `expolicy test PACK`: a pack's own cases, coverage, JUnit, and bad input.

mod common;
use common::expolicy;

use std::path::Path;

const PACK: &str = "tests/fixtures/authoring/pack";

#[test]
fn passing_pack_reports_coverage_and_exits_0() {
    let (code, stdout, stderr) = expolicy(&["test", PACK]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("packtest_pass", stdout);
}

#[test]
fn min_coverage_below_fails_with_1() {
    let (code, stdout, _) = expolicy(&["test", PACK, "--min-coverage", "90"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("which is below --min-coverage 90%"),
        "{stdout}"
    );
    let (code, _, _) = expolicy(&["test", PACK, "--min-coverage", "60"]);
    assert_eq!(code, 0);
}

fn copy_pack(to: &Path) {
    std::fs::create_dir_all(to.join("tests")).unwrap();
    for entry in walk(Path::new(env!("CARGO_MANIFEST_DIR")).join(PACK).as_path()) {
        let rel = entry
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join(PACK))
            .unwrap()
            .to_path_buf();
        std::fs::copy(&entry, to.join(rel)).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn mismatch_prints_expected_actual_and_message_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    copy_pack(dir.path());
    // The healthy host now expects Microsoft Search to fail, which it does not.
    std::fs::write(
        dir.path().join("tests/search-stopped.expect.json"),
        r#"{"description": "wrong on purpose", "outcomes": {"msearch-for-fulltext": "pass", "eventlog-running": "fail"}}"#,
    )
    .unwrap();
    let pack = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = expolicy(&["test", pack]);
    assert_eq!(code, 1, "{stderr}");
    insta::assert_snapshot!("packtest_mismatch", stdout);
}

#[test]
fn junit_report_is_xml_with_failures() {
    let dir = tempfile::tempdir().unwrap();
    copy_pack(dir.path());
    std::fs::write(
        dir.path().join("tests/search-stopped.expect.json"),
        r#"{"outcomes": {"msearch-for-fulltext": "pass"}}"#,
    )
    .unwrap();
    let pack = dir.path().to_str().unwrap();
    let (code, stdout, _) = expolicy(&["test", pack, "--format", "junit", "--min-coverage", "50"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("packtest_junit", stdout);
}

#[test]
fn unknown_rule_in_expect_and_missing_expect_are_bad_input() {
    let (code, stdout, stderr) = expolicy(&["test", "tests/fixtures/authoring/bad-expect"]);
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    insta::assert_snapshot!("packtest_bad_expect", stderr);
}

#[test]
fn zero_cases_fail() {
    let (code, _, stderr) = expolicy(&["test", "tests/fixtures/authoring/no-cases"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("expolicy::test::no_cases"), "{stderr}");
}

#[test]
fn exchange_pack_cases_pass_when_present() {
    let pack = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/exchange2003");
    if !pack.join("tests").is_dir() {
        return;
    }
    let (code, stdout, stderr) = expolicy(&["test", "policies/exchange2003"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}
