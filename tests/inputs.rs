#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Inputs: `input` declarations, `--set`, `--inputs` files, several packs, and the errors.

mod common;
use common::{Run, run};

const PACK: &str = "tests/fixtures/pipelines/pack";
const PACK2: &str = "tests/fixtures/pipelines/pack2";
const EXCH01: &str = "tests/fixtures/pipelines/hosts/exch01.json";
const EXCH02: &str = "tests/fixtures/pipelines/hosts/exch02.json";

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["eval"];
    all.extend_from_slice(args);
    all.extend(["-f", "json"]);
    let r = run(&all);
    assert_ne!(r.code, 2, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn result<'a>(doc: &'a serde_json::Value, rule: &str) -> &'a serde_json::Value {
    doc["snapshots"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .unwrap()
}

#[test]
fn defaults_apply_and_are_reported() {
    let doc = json(&[PACK, "-s", EXCH02]);
    assert_eq!(result(&doc, "site.ipsec-matches-site")["outcome"], "pass");
    insta::assert_json_snapshot!("default_inputs", doc["inputs"]);
}

#[test]
fn set_parses_each_type() {
    let doc = json(&[
        PACK,
        "-s",
        EXCH02,
        "--set",
        "expect_ipsec=true",
        "--set",
        "site.min_stores=2",
        "--set",
        r#"required_services=["MSExchangeIS", "MSExchangeSA"]"#,
        "--set",
        r#"owner={"team": "infra", "pager": 7}"#,
        "--set",
        "site_name=Branch office",
    ]);
    let ipsec = result(&doc, "site.ipsec-matches-site");
    assert_eq!(ipsec["outcome"], "fail");
    assert_eq!(
        ipsec["message"],
        "IPsec is false, but the site expects true: ask infra"
    );
    assert_eq!(
        result(&doc, "site.enough-stores")["message"],
        "Branch office expects at least 2 store(s), found 1"
    );
    assert_eq!(
        result(&doc, "site.required-services-present")["message"],
        "missing services: MSExchangeSA"
    );
    assert_eq!(doc["inputs"]["site.site_name"]["from"], "set");
    // A quoted string is JSON: the quotes are not part of the value.
    let quoted = json(&[PACK, "-s", EXCH02, "--set", r#"site_name="Main, \"HQ\"""#]);
    assert_eq!(quoted["inputs"]["site.site_name"]["value"], "Main, \"HQ\"");
}

#[test]
fn inputs_files_in_yaml_toml_and_json_and_set_wins() {
    let yaml = json(&[
        PACK,
        "-s",
        EXCH02,
        "--inputs",
        "tests/fixtures/pipelines/inputs/site.yaml",
    ]);
    assert_eq!(yaml["inputs"]["site.expect_ipsec"]["value"], true);
    assert_eq!(yaml["inputs"]["site.expect_ipsec"]["from"], "file");
    assert_eq!(yaml["inputs"]["site.min_stores"]["value"], 2);
    let toml = json(&[
        PACK,
        "-s",
        EXCH02,
        "--inputs",
        "tests/fixtures/pipelines/inputs/site.toml",
    ]);
    assert_eq!(
        toml["inputs"]["site.required_services"]["value"],
        serde_json::json!(["MSExchangeIS", "MSExchangeSA"])
    );
    let both = json(&[
        PACK,
        "-s",
        EXCH02,
        "--inputs",
        "tests/fixtures/pipelines/inputs/site.yaml",
        "--set",
        "expect_ipsec=false",
    ]);
    assert_eq!(both["inputs"]["site.expect_ipsec"]["value"], false);
    assert_eq!(both["inputs"]["site.expect_ipsec"]["from"], "set");
}

#[test]
fn several_packs_share_a_bare_name_and_a_qualified_one_targets_one() {
    let all = json(&[PACK, PACK2, "-s", EXCH01, "--set", "expect_ipsec=false"]);
    assert_eq!(all["inputs"]["site.expect_ipsec"]["from"], "set");
    assert_eq!(all["inputs"]["other.expect_ipsec"]["from"], "set");
    let one = json(&[
        PACK,
        PACK2,
        "-s",
        EXCH01,
        "--set",
        "other.expect_ipsec=false",
    ]);
    assert_eq!(one["inputs"]["site.expect_ipsec"]["from"], "default");
    assert_eq!(one["inputs"]["other.expect_ipsec"]["value"], false);
}

#[test]
fn undeclared_and_mistyped_inputs_are_errors() {
    let r = run(&[
        "eval",
        PACK,
        "-s",
        EXCH01,
        "--set",
        "expect_ipsek=true",
        "--set",
        "min_stores=two",
        "--set",
        "owner={\"team\": \"x\"}",
        "--set",
        "novalue",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty());
    insta::assert_snapshot!("bad_sets", r.stderr);
    let r = run(&[
        "eval",
        PACK,
        "-s",
        EXCH01,
        "--inputs",
        "tests/fixtures/pipelines/inputs/bad.json",
    ]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("bad_inputs_file", r.stderr);
}

#[test]
fn a_pack_without_inputs_says_so() {
    let r = run(&["eval", PACK2, "-s", EXCH01, "--set", "nothing=1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no pack declares an input `nothing`"));
}

fn check(policy: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.xpol");
    std::fs::write(&path, policy).unwrap();
    let mut r = run(&["check", path.to_str().unwrap()]);
    r.stderr = r.stderr.replace(path.to_str().unwrap(), "[policy]");
    r
}

#[test]
fn the_checker_holds_inputs_to_their_declarations() {
    let r = check(
        "pack p\nfact a: int = limit\ninput limit: int = \"ten\"\ninput limit: int = 1\ninput unused: bool = true\nlet limit = 3\nrule r {\n  require a > limit\n}\n",
    );
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("input_check_errors", r.stderr);
    let ok = check("pack p\ninput n: int = -3\nrule r {\n  require n < 0\n}\n");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}
