#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Every diagnostic a user can cause, rendered without colour at a fixed width and
//! snapshotted: policies under `tests/diagnostics/`, snapshots under `tests/snapshot_errors/`.

use std::path::Path;

use expolicy::diag::{Diag, RenderOptions, render_all};
use expolicy::source::SourceMap;

fn sorted_files(dir: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

fn check_packs(packs: &[Vec<(&str, &[u8])>]) -> (Vec<Diag>, String) {
    let mut sources = SourceMap::new();
    let loaded = expolicy::policy::load_bytes(packs, &mut sources);
    let rendered = render_all(&loaded.diags, &sources, RenderOptions::PLAIN);
    (loaded.diags, rendered)
}

#[test]
fn policy_diagnostics() {
    let files = sorted_files("tests/diagnostics", "xpol");
    assert!(files.len() >= 30);
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        let name = format!("tests/diagnostics/{stem}.xpol");
        let bytes = std::fs::read(&file).unwrap();
        let (diags, rendered) = check_packs(&[vec![(name.as_str(), bytes.as_slice())]]);
        assert!(!diags.is_empty(), "{name} produced no diagnostic");
        let codes: Vec<&str> = diags.iter().map(|d| d.code.as_ref()).collect();
        insta::with_settings!({ snapshot_suffix => stem, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("diagnostics_policy", format!("codes: {codes:?}\n\n{rendered}"));
        });
    }
}

#[test]
fn files_of_one_pack_must_agree() {
    let a: &[u8] = b"pack one \"first\"\n\nrule r {\n  require count(services) > 0\n}\n";
    let b: &[u8] = b"pack two \"second\"\n";
    let c: &[u8] = b"pack one \"other description\"\n";
    let (diags, rendered) = check_packs(&[vec![
        ("one/a.xpol", a),
        ("one/b.xpol", b),
        ("one/c.xpol", c),
    ]]);
    assert_eq!(diags.len(), 2, "{rendered}");
    insta::assert_snapshot!("pack_mismatch", rendered);
}

#[test]
fn two_packs_may_not_share_a_name() {
    let a: &[u8] = b"pack same\n\nrule r {\n  require count(services) > 0\n}\n";
    let (diags, rendered) = check_packs(&[vec![("x/a.xpol", a)], vec![("y/a.xpol", a)]]);
    assert_eq!(diags.len(), 1, "{rendered}");
    insta::assert_snapshot!("pack_twice", rendered);
}

#[test]
fn snapshot_diagnostics() {
    let files = sorted_files("tests/snapshot_errors", "json");
    assert!(files.len() >= 14);
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        let name = format!("tests/snapshot_errors/{stem}.json");
        let bytes = std::fs::read(&file).unwrap();
        let (err, text) = match expolicy::snapshot::load(&name, &bytes) {
            Ok(_) => panic!("{name} loaded"),
            Err(e) => e,
        };
        let code = err.code;
        let mut sources = SourceMap::new();
        let diag = err.into_diag(&name, text, &mut sources);
        let rendered = render_all(&[diag], &sources, RenderOptions::PLAIN);
        insta::with_settings!({ snapshot_suffix => stem, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("diagnostics_snapshot", format!("code: {code}\n\n{rendered}"));
        });
    }
}

#[test]
fn oversized_policy_and_long_definition_chains() {
    let big = format!(
        "pack p\n{}",
        "# padding\n".repeat(expolicy::syntax::MAX_POLICY_BYTES / 10 + 1)
    );
    let (diags, rendered) = check_packs(&[vec![("big.xpol", big.as_bytes())]]);
    assert_eq!(diags.len(), 1);
    // Declared last-first, so that checking `d9999` needs `d9998`, which needs `d9997`…: the
    // checker orders definitions instead of recursing, so a long chain is fine.
    let mut chain = String::from("pack p\n");
    for i in (1..10_000).rev() {
        chain.push_str(&format!("let d{i} = d{} + 1\n", i - 1));
    }
    chain.push_str("let d0 = 1\nrule r {\n  require d9999 > 0\n}\n");
    let (deep, deep_rendered) = check_packs(&[vec![("chain.xpol", chain.as_bytes())]]);
    assert!(deep.is_empty(), "{deep_rendered}");
    insta::assert_snapshot!("diagnostics_limits", rendered);
}

/// Every code the parser, checker and snapshot loader can emit appears in some snapshot above.
#[test]
fn every_code_is_exercised() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut seen = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("diagnostics") || name.starts_with("cli__") {
            seen.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    let all = expolicy::syntax::codes::ALL
        .iter()
        .chain(expolicy::check::codes::ALL)
        .chain(expolicy::snapshot::codes::ALL);
    let missing: Vec<&&str> = all.filter(|code| !seen.contains(**code)).collect();
    assert!(missing.is_empty(), "no test shows these codes: {missing:?}");
}

#[test]
fn a_syntax_error_in_one_pack_does_not_hide_check_errors_in_another() {
    let broken: &[u8] = b"pack broken\n\nrule r {\n  require\n}\n";
    let other: &[u8] = b"pack other\n\nrule r {\n  require servics == []\n}\n";
    let (diags, rendered) =
        check_packs(&[vec![("broken.xpol", broken)], vec![("other.xpol", other)]]);
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_ref()).collect();
    assert_eq!(
        codes,
        ["expolicy::parse::syntax", "expolicy::check::unknown_name"],
        "{rendered}"
    );
}
