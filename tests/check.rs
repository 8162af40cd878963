#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! `expolicy check`: every problem of every file in one run; warnings and --deny-warnings.

mod common;
use common::expolicy;

#[test]
fn every_error_across_files_is_reported_at_once() {
    let (code, stdout, stderr) = expolicy(&["check", "tests/fixtures/authoring/check"]);
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    insta::assert_snapshot!("check_many_errors", stderr);
}

#[test]
fn warnings_pass_unless_denied() {
    let (code, _, stderr) = expolicy(&["check", "tests/fixtures/authoring/check-warn"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("is never used"), "{stderr}");
    let (code, _, stderr) = expolicy(&[
        "check",
        "tests/fixtures/authoring/check-warn",
        "--deny-warnings",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.ends_with("check failed: 0 error(s), 2 warning(s)\n"),
        "{stderr}"
    );
}

#[test]
fn a_clean_pack_checks() {
    let (code, _, stderr) = expolicy(&["check", "tests/fixtures/authoring/pack"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "checked 1 pack(s), 3 rule(s): 0 warning(s)\n");
}
