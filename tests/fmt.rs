#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! The formatter: properties on generated and shipped policies, the canonical layout of a
//! fixture full of comments, and the `fmt` command line.

use std::path::{Path, PathBuf};
use std::process::Command;

use expolicy::source::FileId;
use expolicy::syntax::fmt::{comment_texts, format_file, format_source, same_tree};
use expolicy::syntax::parse_file;
use proptest::prelude::*;

/// Formats `text` with the raw formatter (no verbatim fallback) and checks every property:
/// same tree, same comments in the same order, idempotent.
fn check_properties(text: &str) -> Result<String, String> {
    let ast = parse_file(text, FileId(0)).map_err(|e| format!("input does not parse: {e:?}"))?;
    let once = format_file(&ast, text);
    let again = parse_file(&once, FileId(0))
        .map_err(|e| format!("formatted text does not parse: {e:?}\n---\n{once}"))?;
    if !same_tree(&again, &ast) {
        return Err(format!(
            "the tree changed\n--- input\n{text}\n--- output\n{once}"
        ));
    }
    if comment_texts(&once) != comment_texts(text) {
        return Err(format!(
            "comments changed: {:?} → {:?}\n--- output\n{once}",
            comment_texts(text),
            comment_texts(&once)
        ));
    }
    let twice = format_file(&again, &once);
    if twice != once {
        return Err(format!(
            "not idempotent\n--- input\n{text}\n--- once\n{once}\n--- twice\n{twice}"
        ));
    }
    Ok(once)
}

// ---------------------------------------------------------------- generated policies

/// `\u{1}` marks a place where the generated text has a separator: blanks, line breaks or
/// comments, chosen later.
const S: &str = "\u{1}";

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "svc", "stores", "x1", "_y", "host.name"])
            .prop_map(str::to_string),
        (0i64..100_000).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            r#""text""#,
            r#""with # hash""#,
            r#""esc \" \\ \n""#,
            r#""""#
        ])
        .prop_map(str::to_string),
        Just("true".to_string()),
        Just("false".to_string()),
        prop::sample::select(vec!["MSSEARCH", "lanmanserver"])
            .prop_map(|n| format!("service({S}\"{n}\"{S})")),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 48, 4, |inner| {
        let op = prop::sample::select(vec![
            "==",
            "!=",
            "<",
            ">=",
            "in",
            "not in",
            "+",
            "-",
            "*",
            "%",
            "..",
            "..=",
            "implies",
            "depends on",
            "depends directly on",
            "starts before",
            "runs as",
        ]);
        prop_oneof![
            (inner.clone(), op, inner.clone())
                .prop_map(|(l, op, r)| format!("({l}){S}{op}{S}({r})")),
            (
                prop::collection::vec(inner.clone(), 2..5),
                prop::sample::select(vec!["and", "or"])
            )
                .prop_map(|(xs, op)| xs.join(&format!("{S}{op}{S}"))),
            inner.clone().prop_map(|e| format!("not{S}({e})")),
            inner.clone().prop_map(|e| format!("-{S}({e})")),
            (prop::collection::vec(inner.clone(), 0..5), any::<bool>()).prop_map(
                |(xs, trailing)| {
                    let comma = if trailing && !xs.is_empty() { "," } else { "" };
                    format!("[{S}{}{comma}{S}]", xs.join(&format!("{S},{S}")))
                }
            ),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|xs| {
                let fields: Vec<String> = xs
                    .iter()
                    .enumerate()
                    .map(|(i, x)| format!("f{i}{S}:{S}{x}"))
                    .collect();
                format!("{{{S}{}{S}}}", fields.join(&format!("{S},{S}")))
            }),
            (
                inner.clone(),
                inner.clone(),
                prop::option::of(inner.clone())
            )
                .prop_map(|(e, src, filter)| {
                    let filter = filter.map_or(String::new(), |f| format!("{S}if{S}{f}"));
                    format!("[{S}{e}{S}for{S}s{S}in{S}{src}{filter}{S}]")
                }),
            (
                prop::sample::select(vec!["all", "any", "none", "count"]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(q, src, body)| format!("({q}{S}s{S}in{S}{src}{S}:{S}{body})")),
            (
                prop::sample::select(vec!["len", "lower", "join", "f"]),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(f, args)| format!("{f}({S}{}{S})", args.join(&format!("{S},{S}")))),
            inner.clone().prop_map(|e| format!("({e}){S}.state")),
            (inner.clone(), any::<bool>()).prop_map(|(e, not)| {
                let not = if not {
                    format!("{S}not")
                } else {
                    String::new()
                };
                format!("({e}){S}is{not}{S}running")
            }),
            inner.prop_map(|e| format!("({S}{e}{S})")),
        ]
    })
}

fn ty() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec!["bool", "int", "str", "service"]).prop_map(str::to_string);
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| format!("[{S}{t}{S}]")),
            prop::collection::vec(inner, 1..4).prop_map(|ts| {
                let fields: Vec<String> = ts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| format!("k{i}{S}:{S}{t}"))
                    .collect();
                format!("{{{S}{}{S}}}", fields.join(&format!("{S},{S}")))
            }),
        ]
    })
}

fn clause() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(format!("title{S}\"A title\"")),
        prop::sample::select(vec!["error", "warning", "info"])
            .prop_map(|s| format!("severity{S}{s}")),
        prop::collection::vec(prop::sample::select(vec!["\"EX-01\"", "\"CIS 1.2\""]), 0..4)
            .prop_map(|xs| format!("controls{S}[{S}{}{S}]", xs.join(&format!("{S},{S}")))),
        Just(format!("tags{S}[\"exchange\"{S},{S}\"services\"{S},{S}]")),
        Just(format!("help{S}\"Start it.\"")),
        expr().prop_map(|e| format!("when{S}{e}")),
        (expr(), any::<bool>()).prop_map(|(e, msg)| {
            let msg = if msg {
                format!("{S}else{S}\"is {{svc.state}} not {{{{x}}}}\"")
            } else {
                String::new()
            };
            format!("require{S}{e}{msg}")
        }),
    ]
}

fn item() -> impl Strategy<Value = String> {
    prop_oneof![
        (ty(), prop::option::of(expr())).prop_map(|(t, d)| {
            let d = d.map_or(String::new(), |d| format!("{S}={S}{d}"));
            format!("fact{S}exchange.stores{S}:{S}{t}{d}")
        }),
        expr().prop_map(|e| format!("let{S}v{S}={S}{e}")),
        (ty(), expr()).prop_map(|(t, e)| format!("let{S}p{S}({S}s{S}:{S}{t}{S}){S}={S}{e}")),
        prop::collection::vec(clause(), 0..6)
            .prop_map(|cs| { format!("rule{S}my-rule{S}{{{S}{}{S}}}", cs.join(S)) }),
    ]
}

fn policy() -> impl Strategy<Value = String> {
    let separators = prop::collection::vec(
        prop::sample::select(vec![
            " ",
            "  ",
            "\n",
            "\n    ",
            "\n\n",
            " # trailing note\n",
            "\n# own-line note\n  ",
            "\n\n# block one\n# block two\n\n",
            "\t",
        ]),
        400,
    );
    (prop::collection::vec(item(), 0..6), separators).prop_map(|(items, seps)| {
        let text = format!(
            "{S}# header{S}pack{S}demo{S}\"Demo\"{S}{}{S}",
            items.join(S)
        );
        let mut out = String::with_capacity(text.len() * 2);
        let mut i = 0;
        for ch in text.chars() {
            if ch == '\u{1}' {
                out.push_str(seps[i % seps.len()]);
                i += 1;
            } else {
                out.push(ch);
            }
        }
        // `# header` needs its own line before `pack`.
        out.replacen("# header", "# header\n", 1)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_policies_keep_tree_and_comments_and_are_idempotent(text in policy()) {
        prop_assume!(parse_file(&text, FileId(0)).is_ok());
        if let Err(e) = check_properties(&text) {
            prop_assert!(false, "{}", e);
        }
        let checked = format_source(&text, FileId(0)).unwrap();
        prop_assert!(!checked.verbatim, "fell back to verbatim:\n{}", text);
    }
}

#[test]
fn generator_produces_parsable_policies_most_of_the_time() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = policy();
    let mut ok = 0;
    for _ in 0..64 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        if parse_file(&text, FileId(0)).is_ok() {
            ok += 1;
        }
    }
    // The property test above skips what does not parse; make sure that is the exception.
    assert!(ok >= 48, "only {ok} of 64 generated policies parse");
}

// ---------------------------------------------------------------- shipped policies

fn xpol_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            xpol_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xpol") {
            out.push(path);
        }
    }
}

fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    xpol_files(&root.join("policies"), &mut files);
    xpol_files(&root.join("examples"), &mut files);
    xpol_files(&root.join("tests/fixtures/authoring"), &mut files);
    files.sort();
    files
}

#[test]
fn every_shipped_policy_keeps_tree_and_comments_and_is_idempotent() {
    let files = shipped();
    assert!(!files.is_empty(), "no .xpol files found");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if parse_file(&text, FileId(0)).is_err() {
            // Deliberately broken fixtures are not the formatter's business.
            continue;
        }
        if let Err(e) = check_properties(&text) {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---------------------------------------------------------------- the canonical layout

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/authoring/fmt")
        .join(name)
}

#[test]
fn messy_fixture_is_laid_out_canonically() {
    let text = std::fs::read_to_string(fixture("messy.xpol")).unwrap();
    let once = check_properties(&text).unwrap();
    insta::assert_snapshot!("fmt_messy", once);
}

#[test]
fn formatted_fixture_is_unchanged() {
    let text = std::fs::read_to_string(fixture("formatted/clean.xpol")).unwrap();
    let out = format_source(&text, FileId(0)).unwrap();
    assert!(!out.verbatim);
    assert_eq!(out.text, text);
}

#[test]
fn long_lists_and_conditions_wrap() {
    let text = "pack p\nrule r { controls [\"EX-01\", \"EX-02\", \"EX-03\", \"EX-04\", \"EX-05\", \"EX-06\", \"EX-07\", \"EX-08\", \"EX-09\", \"EX-10\"] require service(\"lanmanserver\") starts before service(\"MSExchangeSA\") and service(\"lanmanworkstation\") starts before service(\"MSExchangeSA\") }\n";
    let once = check_properties(text).unwrap();
    insta::assert_snapshot!("fmt_wrapping", once);
}

// ---------------------------------------------------------------- the command line

fn expolicy(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .args(["--color", "never"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pack/sub")).unwrap();
    std::fs::copy(
        fixture("messy.xpol"),
        dir.path().join("pack/sub/messy.xpol"),
    )
    .unwrap();
    std::fs::copy(
        fixture("formatted/clean.xpol"),
        dir.path().join("pack/clean.xpol"),
    )
    .unwrap();
    std::fs::write(dir.path().join("pack/notes.txt"), "not a policy").unwrap();
    dir
}

#[test]
fn check_lists_files_that_would_change_and_exits_1() {
    let dir = scratch();
    let before = std::fs::read_to_string(dir.path().join("pack/sub/messy.xpol")).unwrap();
    let (code, stdout, stderr) = expolicy(&["fmt", "--check", "pack"], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "pack/sub/messy.xpol\n");
    assert_eq!(
        stderr,
        "1 of 2 file(s) would be reformatted; run `expolicy fmt` on them\n"
    );
    let after = std::fs::read_to_string(dir.path().join("pack/sub/messy.xpol")).unwrap();
    assert_eq!(before, after, "--check must not write");
}

#[test]
fn fmt_rewrites_directories_recursively_then_check_passes() {
    let dir = scratch();
    let (code, stdout, stderr) = expolicy(&["fmt", "pack"], dir.path());
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert_eq!(stderr, "1 of 2 file(s) reformatted\n");
    let written = std::fs::read_to_string(dir.path().join("pack/sub/messy.xpol")).unwrap();
    let expected = format_source(
        &std::fs::read_to_string(fixture("messy.xpol")).unwrap(),
        FileId(0),
    )
    .unwrap()
    .text;
    assert_eq!(written, expected);
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("pack/sub"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    let (code, stdout, _) = expolicy(&["fmt", "--check", "pack"], dir.path());
    assert_eq!((code, stdout.as_str()), (0, ""));
}

#[test]
fn fmt_reads_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_expolicy"))
        .args(["--color", "never", "fmt", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"pack p   # the pack\nlet   a=1+2")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "pack p # the pack\n\nlet a = 1 + 2\n"
    );
}

#[test]
fn syntax_errors_exit_2_and_leave_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "pack p\nrule r { require a == }\n";
    std::fs::write(dir.path().join("broken.xpol"), broken).unwrap();
    let (code, _, stderr) = expolicy(&["fmt", "broken.xpol"], dir.path());
    assert_eq!(code, 2);
    insta::assert_snapshot!("fmt_syntax_error", stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.xpol")).unwrap(),
        broken
    );
}
