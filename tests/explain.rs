#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! `expolicy explain` and `eval --explain`.

mod common;
use common::expolicy;

const PACK: &str = "tests/fixtures/authoring/pack";
const STOPPED: &str = "tests/fixtures/authoring/pack/tests/search-stopped.snapshot.json";

#[test]
fn explains_a_failure_with_values_and_snapshot_locations() {
    let (code, stdout, stderr) =
        expolicy(&["explain", "msearch-for-fulltext", PACK, "-s", STOPPED]);
    assert_eq!(code, 1, "{stderr}");
    insta::assert_snapshot!("explain_fail", stdout);
}

#[test]
fn explains_a_rule_that_does_not_apply() {
    let (code, stdout, _) = expolicy(&["explain", "demo.vss-automatic", PACK, "-s", STOPPED]);
    assert_eq!(code, 0);
    insta::assert_snapshot!("explain_not_applicable", stdout);
}

#[test]
fn unknown_rule_suggests_a_name() {
    let (code, _, stderr) = expolicy(&["explain", "msearch-for-fulltxt", PACK, "-s", STOPPED]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("did you mean `msearch-for-fulltext`?"),
        "{stderr}"
    );
}

#[test]
fn eval_explain_adds_evidence_to_json_and_human_reports() {
    let (code, stdout, _) = expolicy(&["eval", PACK, "-s", STOPPED, "-f", "json", "--explain"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let results = doc["snapshots"][0]["results"].as_array().unwrap();
    let failing = results
        .iter()
        .find(|r| r["rule"] == "demo.msearch-for-fulltext")
        .unwrap();
    insta::assert_json_snapshot!("eval_explain_evidence", failing["evidence"]);
    // Without --explain the field is absent: existing reports do not change.
    let (_, plain, _) = expolicy(&["eval", PACK, "-s", STOPPED, "-f", "json"]);
    assert!(!plain.contains("\"evidence\""));
    let (_, human, _) = expolicy(&["eval", PACK, "-s", STOPPED, "--explain"]);
    assert!(
        human.contains("evidence read from the snapshot:"),
        "{human}"
    );
    assert!(
        human.contains("services[MSSEARCH].state = stopped  (line 5"),
        "{human}"
    );
}
