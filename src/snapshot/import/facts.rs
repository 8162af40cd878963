//! A facts file: a JSON or YAML mapping deep-merged into the snapshot's `facts`, for what no
//! Windows command reports in a usable form (stores and their full-text indexing, the backup
//! product, OWA settings…).

use serde_json::Value;

use super::{Extract, FactValue, Input, codes};
use crate::diag::Diag;
use crate::snapshot::locate;

pub fn parse(input: &Input) -> Extract {
    let mut extract = Extract::default();
    let text = input.text.trim_start_matches('\u{feff}');
    let bom = input.text.len() - text.len();
    let json = text.trim_start().starts_with('{');
    let value: Value = if json {
        match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let at = bom + crate::source::offset_of(text, e.line(), e.column().max(1));
                extract.diags.push(
                    Diag::error(
                        codes::FACTS,
                        format!("{}: the facts file is not valid JSON: {e}", input.name),
                    )
                    .label(input.span(at, at), "here")
                    .help(
                        "a facts file is a JSON object or a YAML mapping of fact names to values",
                    ),
                );
                return extract;
            }
        }
    } else {
        match serde_norway::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let mut diag = Diag::error(
                    codes::FACTS,
                    format!("{}: the facts file is not valid YAML: {e}", input.name),
                )
                .help("a facts file is a JSON object or a YAML mapping of fact names to values");
                if let Some(loc) = e.location() {
                    let at = bom + loc.index().min(text.len());
                    diag = diag.label(input.span(at, at), "here");
                }
                extract.diags.push(diag);
                return extract;
            }
        }
    };
    let Value::Object(map) = value else {
        extract.diags.push(
            Diag::error(
                codes::FACTS,
                format!(
                    "{}: the facts file must be a mapping of names to values",
                    input.name
                ),
            )
            .label(input.span(bom, input.text.len()), "not a mapping")
            .help("write for example `exchange: {version: \"6.5.7638.1\"}`"),
        );
        return extract;
    };
    if map
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("expolicy-snapshot"))
    {
        extract.diags.push(
            Diag::error(codes::FACTS, format!("{}: this is a snapshot, not a facts file", input.name))
                .help("pass the snapshot to `eval` directly, or give only its `facts` object to `--facts`"),
        );
        return extract;
    }
    let mut pending: Vec<(Vec<String>, Value)> =
        map.into_iter().rev().map(|(k, v)| (vec![k], v)).collect();
    while let Some((path, value)) = pending.pop() {
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                for (k, v) in inner.into_iter().rev() {
                    let mut p = path.clone();
                    p.push(k);
                    pending.push((p, v));
                }
            }
            value => {
                let span = if json {
                    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
                    locate::locate(text, &segs).map(|(s, e)| input.span(bom + s, bom + e))
                } else {
                    None
                };
                extract.facts.push(FactValue { path, value, span });
            }
        }
    }
    extract
}
