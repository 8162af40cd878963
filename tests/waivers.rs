#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Waivers: YAML and TOML, expiry against `--now` or the clock, unused and malformed waivers.

mod common;
use common::{Run, run};

const PACK: &str = "tests/fixtures/pipelines/pack";
const EXCH01: &str = "tests/fixtures/pipelines/hosts/exch01.json";
const EXCH03: &str = "tests/fixtures/pipelines/hosts/exch03.json";
const YAML: &str = "tests/fixtures/pipelines/waivers/waivers.yaml";
const TOML: &str = "tests/fixtures/pipelines/waivers/waivers.toml";

fn json(args: &[&str]) -> (serde_json::Value, Run) {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let r = run(&all);
    (serde_json::from_str(&r.stdout).unwrap(), r)
}

fn waived_rules(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in doc["snapshots"].as_array().unwrap() {
        for r in s["results"].as_array().unwrap() {
            if r.get("waived").is_some() {
                out.push((
                    s["host"].as_str().unwrap().to_string(),
                    r["rule"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

#[test]
fn yaml_and_toml_waivers_mean_the_same() {
    let args = |file| {
        [
            "eval",
            PACK,
            "-s",
            EXCH01,
            "-s",
            EXCH03,
            "--waivers",
            file,
            "--now",
            "2026-11-26",
        ]
    };
    let (yaml, y) = json(&args(YAML));
    let (toml, t) = json(&args(TOML));
    assert_eq!(yaml["snapshots"], toml["snapshots"]);
    assert_eq!(
        waived_rules(&yaml),
        [(
            "EXCH01".to_string(),
            "site.msearch-for-fulltext".to_string()
        )]
    );
    // Both name the expired and the unused waiver, each at its own line.
    for (r, file, expired_line, unused_line) in [(&y, YAML, 13, 9), (&t, TOML, 16, 10)] {
        assert!(
            r.stderr.contains(&format!("{file}:{expired_line}:")),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains(&format!("{file}:{unused_line}:")),
            "{}",
            r.stderr
        );
    }
    insta::assert_snapshot!("toml_warnings", t.stderr);
}

#[test]
fn host_globs_are_case_insensitive_and_rule_globs_cross_dots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.yaml");
    std::fs::write(
        &path,
        "waivers:\n  - rule: \"site.*\"\n    host: \"exch0[13]\"\n    reason: all of it\n    expires: 2030-01-01\n",
    )
    .unwrap();
    let (doc, r) = json(&[
        "eval",
        PACK,
        "-s",
        EXCH01,
        "-s",
        EXCH03,
        "--waivers",
        path.to_str().unwrap(),
        "--now",
        "2026-11-26",
    ]);
    assert_eq!(r.code, 0, "every finding is waived: {}", r.stderr);
    assert_eq!(waived_rules(&doc).len(), 6);
    // Passing rules are not waived: a waiver waives findings.
    let passes = doc["snapshots"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "pass")
        .all(|r| r.get("waived").is_none());
    assert!(passes);
}

#[test]
fn an_expired_waiver_stops_applying() {
    let on = |now| {
        json(&[
            "eval",
            PACK,
            "-s",
            EXCH01,
            "--waivers",
            YAML,
            "--now",
            now,
            "--rule",
            "site.msearch-*",
        ])
    };
    let (last_day, r) = on("2027-01-31");
    assert_eq!(r.code, 0);
    assert_eq!(waived_rules(&last_day).len(), 1);
    let (day_after, r) = on("2027-02-01");
    assert_eq!(r.code, 1, "the finding counts again");
    assert!(waived_rules(&day_after).is_empty());
    assert!(r.stderr.contains("expired on 2027-01-31"));
    assert_eq!(day_after["waivers"][0]["status"], "expired");
}

#[test]
fn the_clock_is_used_and_reported_without_now() {
    let (doc, _) = json(&["eval", PACK, "-s", EXCH01, "--waivers", YAML]);
    assert_eq!(doc["now"]["source"], "clock");
    let date = doc["now"]["date"].as_str().unwrap();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let year = 1970 + secs / 31_556_952;
    assert!(
        date.starts_with(&year.to_string())
            || date.starts_with(&(year - 1).to_string())
            || date.starts_with(&(year + 1).to_string()),
        "{date}"
    );
    assert_eq!(date.len(), 10);
}

#[test]
fn malformed_waivers_are_located() {
    let r = run(&[
        "eval",
        PACK,
        "-s",
        EXCH01,
        "--waivers",
        "tests/fixtures/pipelines/waivers/malformed.yaml",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.is_empty(),
        "nothing is evaluated with broken waivers"
    );
    insta::assert_snapshot!("malformed_yaml", r.stderr);
    let r = run(&[
        "eval",
        PACK,
        "-s",
        EXCH01,
        "--waivers",
        "tests/fixtures/pipelines/waivers/broken.toml",
    ]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("broken_toml", r.stderr);
}

#[test]
fn a_bad_now_is_a_usage_error() {
    let r = run(&[
        "eval",
        PACK,
        "-s",
        EXCH01,
        "--waivers",
        YAML,
        "--now",
        "2026-02-30",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("expolicy::waivers::bad_date"));
}

#[test]
fn a_missing_waivers_file_is_an_error() {
    let r = run(&[
        "eval",
        PACK,
        "-s",
        EXCH01,
        "--waivers",
        "tests/fixtures/pipelines/waivers/nope.yaml",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("cannot read tests/fixtures/pipelines/waivers/nope.yaml")
    );
}
