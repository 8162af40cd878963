#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]
//! Every ```xpol example in docs/language.md checks cleanly and evaluates against
//! docs/examples/host.json; the outcomes are snapshotted, so the documentation cannot drift.

use expolicy::diag::{RenderOptions, render_all};
use expolicy::eval::Evaluator;
use expolicy::source::SourceMap;

fn examples(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut current, line.trim_end()) {
            (None, "```xpol") => current = Some((i + 2, String::new())),
            (Some(_), "```") => out.push(current.take().unwrap()),
            (Some((_, text)), l) => {
                text.push_str(l);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn every_documented_construct_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let markdown = std::fs::read_to_string(format!("{root}/docs/language.md")).unwrap();
    let host = std::fs::read(format!("{root}/docs/examples/host.json")).unwrap();
    let snapshot = expolicy::snapshot::load("docs/examples/host.json", &host)
        .map_err(|e| e.0.message)
        .unwrap();
    let blocks = examples(&markdown);
    assert!(blocks.len() >= 13, "found {} examples", blocks.len());
    let mut summary = String::new();
    for (line, text) in blocks {
        let name = format!("docs/language.md:{line}");
        let mut sources = SourceMap::new();
        let loaded =
            expolicy::policy::load_bytes(&[vec![(name.as_str(), text.as_bytes())]], &mut sources);
        let rendered = render_all(&loaded.diags, &sources, RenderOptions::PLAIN);
        assert!(
            loaded.diags.is_empty(),
            "the example at {name} does not check cleanly:\n{rendered}"
        );
        let program = loaded.program.unwrap();
        let all: Vec<u32> = (0..program.rules.len() as u32).collect();
        for result in Evaluator::new(&program, &snapshot).evaluate(&all) {
            let rule = &program.rules[result.rule as usize];
            summary.push_str(&format!("{}: {}", rule.id, result.outcome.as_str()));
            if let Some(m) = &result.message {
                summary.push_str(&format!(" — {m}"));
            }
            for note in &result.notes {
                summary.push_str(&format!(" [note: {note}]"));
            }
            summary.push('\n');
        }
    }
    insta::assert_snapshot!("language_examples", summary);
}
