//! Inputs: site choices that a pack declares (`input expect_ipsec: bool = false`) and that a
//! run sets with `--set key=value` or `--inputs FILE` (JSON, YAML or TOML).
//!
//! An input is checked like a `let` whose body is its constant default; setting it replaces
//! that body with the supplied constant before anything is evaluated, so the evaluator needs no
//! notion of inputs at all.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::check::ir::{Body, Node, NodeKind, Program};
use crate::check::types::Type;
use crate::diag::{Diag, did_you_mean};
use crate::source::{FileId, SourceMap, Span};

pub mod codes {
    pub const UNKNOWN: &str = "expolicy::inputs::unknown";
    pub const MISTYPED: &str = "expolicy::inputs::mistyped";
    pub const MALFORMED_SET: &str = "expolicy::inputs::malformed_set";
    pub const UNREADABLE: &str = "expolicy::inputs::unreadable";
    pub const MALFORMED_FILE: &str = "expolicy::inputs::malformed_file";
    pub const AMBIGUOUS: &str = "expolicy::inputs::ambiguous";
}

/// Largest inputs or waivers file accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// Where the value of an input came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputOrigin {
    Default,
    File,
    Set,
}

/// One declared input and the value the run used, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    pub value: serde_json::Value,
    pub from: InputOrigin,
}

/// Every declared input by qualified name (`pack.name`), with its value and origin.
pub type InputsReport = BTreeMap<String, InputReport>;

/// Applies `--inputs FILE` and then `--set` (which wins) to the program. Returns what every
/// declared input was set to, or every problem found.
pub fn apply(
    program: &mut Program,
    sets: &[String],
    file: Option<&Path>,
    sources: &mut SourceMap,
) -> Result<InputsReport, Vec<Diag>> {
    let mut diags = Vec::new();
    // Per input index: (value, origin, span of what set it, if in a file).
    let mut chosen: BTreeMap<usize, (serde_json::Value, InputOrigin, Option<Span>)> =
        BTreeMap::new();

    if let Some(path) = file {
        match load_document(path, sources) {
            Ok(doc) => apply_file(program, &doc, &mut chosen, &mut diags),
            Err(d) => diags.push(d),
        }
    }
    for set in sets {
        let Some((key, raw)) = set.split_once('=') else {
            diags.push(
                Diag::error(codes::MALFORMED_SET, format!("`--set {set}` has no `=`"))
                    .help("write `--set name=value` or `--set pack.name=value`"),
            );
            continue;
        };
        let key = key.trim();
        let targets = match resolve(program, key) {
            Ok(t) => t,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        for index in targets {
            let input = &program.inputs[index];
            match parse_set_value(raw, &input.ty) {
                Ok(value) => {
                    chosen.insert(index, (value, InputOrigin::Set, None));
                }
                Err(why) => diags.push(
                    Diag::error(
                        codes::MISTYPED,
                        format!(
                            "`--set {key}={raw}`: input `{}` is of type {}, {why}",
                            input.qualified, input.ty
                        ),
                    )
                    .label(input.span, format!("declared as {} here", input.ty))
                    .help(type_help(&input.ty)),
                ),
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }

    let mut report = InputsReport::new();
    for (index, input) in program.inputs.iter().enumerate() {
        let (value, from) = match chosen.get(&index) {
            Some((v, origin, _)) => (v.clone(), *origin),
            None => (
                program
                    .globals
                    .get(input.global as usize)
                    .and_then(|g| node_json(&g.body.node))
                    .unwrap_or(serde_json::Value::Null),
                InputOrigin::Default,
            ),
        };
        report.insert(input.qualified.clone(), InputReport { value, from });
    }
    for (index, (value, _, at)) in chosen {
        let input = &program.inputs[index];
        let span = input.default_span;
        match constant(&value, &input.ty, span) {
            Ok(node) => {
                let global = input.global as usize;
                if let Some(g) = program.globals.get_mut(global) {
                    g.body = Body { node, slots: 0 };
                }
            }
            Err(why) => {
                let mut d = Diag::error(
                    codes::MISTYPED,
                    format!("input `{}` is of type {}, {why}", input.qualified, input.ty),
                )
                .help(type_help(&input.ty));
                if let Some(at) = at {
                    d = d.label(at, "set here");
                }
                diags.push(d.label(input.span, format!("declared as {} here", input.ty)));
            }
        }
    }
    if diags.is_empty() {
        Ok(report)
    } else {
        Err(diags)
    }
}

/// The inputs a key names: `pack.name` one input of one pack, `name` that input in every pack
/// declaring it.
fn resolve(program: &Program, key: &str) -> Result<Vec<usize>, Diag> {
    let by_qualified: Vec<usize> = program
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, i)| i.qualified == key)
        .map(|(n, _)| n)
        .collect();
    if !by_qualified.is_empty() {
        return Ok(by_qualified);
    }
    let by_name: Vec<usize> = program
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, i)| i.name == key)
        .map(|(n, _)| n)
        .collect();
    if !by_name.is_empty() {
        return Ok(by_name);
    }
    let candidates: Vec<&str> = program
        .inputs
        .iter()
        .flat_map(|i| [i.qualified.as_str(), i.name.as_str()])
        .collect();
    let declared = if program.inputs.is_empty() {
        "the policies declare no inputs".to_string()
    } else {
        let mut names: Vec<&str> = program
            .inputs
            .iter()
            .map(|i| i.qualified.as_str())
            .collect();
        names.sort_unstable();
        format!("declared inputs: {}", names.join(", "))
    };
    let help = match did_you_mean(key, candidates) {
        Some(dym) => format!("{dym} ({declared})"),
        None => format!("{declared}; a pack declares one with `input name: type = default`"),
    };
    Err(Diag::error(codes::UNKNOWN, format!("no pack declares an input `{key}`")).help(help))
}

fn apply_file(
    program: &Program,
    doc: &Document,
    chosen: &mut BTreeMap<usize, (serde_json::Value, InputOrigin, Option<Span>)>,
    diags: &mut Vec<Diag>,
) {
    let whole = Span::new(doc.file, 0, 0);
    let serde_json::Value::Object(map) = &doc.value else {
        diags.push(
            Diag::error(
                codes::MALFORMED_FILE,
                format!("{}: an inputs file is a table of names to values", doc.name),
            )
            .label(whole, "not a table")
            .help(
                "write `expect_ipsec: true` (YAML), `expect_ipsec = true` (TOML) or a JSON object",
            ),
        );
        return;
    };
    let pack_names: Vec<&str> = program.packs.iter().map(|p| p.name.as_str()).collect();
    let mut entries: Vec<(String, &serde_json::Value)> = Vec::new();
    for (key, value) in map {
        let is_input = program.inputs.iter().any(|i| i.name == *key);
        match value {
            // `[pack]` tables (TOML) or `pack:` mappings (YAML) group a pack's inputs.
            serde_json::Value::Object(inner) if !is_input && pack_names.contains(&key.as_str()) => {
                for (name, v) in inner {
                    entries.push((format!("{key}.{name}"), v));
                }
            }
            _ => entries.push((key.clone(), value)),
        }
    }
    for (key, value) in entries {
        let at = doc.key_span(&key);
        let targets = match resolve(program, &key) {
            Ok(t) => t,
            Err(d) => {
                diags.push(d.label(at, "set here"));
                continue;
            }
        };
        for index in targets {
            let input = &program.inputs[index];
            if let Err(why) = check_json(value, &input.ty) {
                diags.push(
                    Diag::error(
                        codes::MISTYPED,
                        format!(
                            "{}: input `{}` is of type {}, {why}",
                            doc.name, input.qualified, input.ty
                        ),
                    )
                    .label(at, "set here")
                    .label(input.span, format!("declared as {} here", input.ty))
                    .help(type_help(&input.ty)),
                );
                continue;
            }
            chosen.insert(index, (value.clone(), InputOrigin::File, Some(at)));
        }
    }
}

/// Parses the text after `=` per the declared type: `true`, `42`, `"text"` or bare text for
/// `str`, JSON for lists and records.
pub fn parse_set_value(raw: &str, ty: &Type) -> Result<serde_json::Value, String> {
    let value = match ty {
        Type::Bool => match raw.trim() {
            "true" => serde_json::Value::Bool(true),
            "false" => serde_json::Value::Bool(false),
            other => return Err(format!("but `{other}` is not `true` or `false`")),
        },
        Type::Int => match raw.trim().parse::<i64>() {
            Ok(i) => serde_json::Value::from(i),
            Err(_) => return Err(format!("but `{}` is not an integer", raw.trim())),
        },
        Type::Str => {
            if raw.starts_with('"') {
                match serde_json::from_str::<String>(raw) {
                    Ok(s) => serde_json::Value::String(s),
                    Err(e) => return Err(format!("but `{raw}` is not a well-quoted string: {e}")),
                }
            } else {
                serde_json::Value::String(raw.to_string())
            }
        }
        _ => match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(v) => v,
            Err(e) => return Err(format!("but `{raw}` is not JSON: {e}")),
        },
    };
    check_json(&value, ty)?;
    Ok(value)
}

/// Whether a JSON value fits a type; the error says where it does not.
fn check_json(value: &serde_json::Value, ty: &Type) -> Result<(), String> {
    check_at(value, ty, &mut String::new())
}

fn check_at(value: &serde_json::Value, ty: &Type, at: &mut String) -> Result<(), String> {
    let found = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a table",
    };
    let place = |at: &str| {
        if at.is_empty() {
            String::new()
        } else {
            format!(" at `{at}`")
        }
    };
    let wrong = |what: &str, at: &str| {
        Err(format!(
            "but got {}{} ({what} expected)",
            found(value),
            place(at)
        ))
    };
    match ty {
        Type::Bool => match value {
            serde_json::Value::Bool(_) => Ok(()),
            _ => wrong("bool", at),
        },
        Type::Int => match value.as_i64() {
            Some(_) => Ok(()),
            None => wrong("int", at),
        },
        Type::Str => match value {
            serde_json::Value::String(_) => Ok(()),
            _ => wrong("str", at),
        },
        Type::List(elem) => match value {
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("[{i}]"));
                    check_at(item, elem, at)?;
                    at.truncate(len);
                }
                Ok(())
            }
            _ => wrong("a list", at),
        },
        Type::Record(fields) => match value {
            serde_json::Value::Object(map) => {
                for key in map.keys() {
                    if !fields.iter().any(|(n, _)| n == key) {
                        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                        let dym = did_you_mean(key, names.iter().copied())
                            .map(|d| format!("; {d}"))
                            .unwrap_or_default();
                        return Err(format!(
                            "but the table{} has an unknown field `{key}`{dym}",
                            place(at)
                        ));
                    }
                }
                for (name, fty) in fields.iter() {
                    let Some(v) = map.get(name) else {
                        return Err(format!(
                            "but the table{} lacks the field `{name}`",
                            place(at)
                        ));
                    };
                    let len = at.len();
                    at.push('.');
                    at.push_str(name);
                    check_at(v, fty, at)?;
                    at.truncate(len);
                }
                Ok(())
            }
            _ => wrong("a table", at),
        },
        Type::Any | Type::Error => Ok(()),
        Type::Service | Type::Range => Err(format!("which an input cannot hold{}", place(at))),
    }
}

/// The IR constant for a JSON value already known to fit `ty`.
pub fn constant(value: &serde_json::Value, ty: &Type, span: Span) -> Result<Node, String> {
    check_json(value, ty)?;
    Ok(build(value, ty, span))
}

fn build(value: &serde_json::Value, ty: &Type, span: Span) -> Node {
    let kind = match (ty, value) {
        (_, serde_json::Value::Bool(b)) => NodeKind::Bool(*b),
        (_, serde_json::Value::Number(n)) => NodeKind::Int(n.as_i64().unwrap_or_default()),
        (_, serde_json::Value::String(s)) => NodeKind::Str(Arc::from(s.as_str())),
        (Type::List(elem), serde_json::Value::Array(items)) => {
            NodeKind::List(items.iter().map(|i| build(i, elem, span)).collect())
        }
        (Type::Record(fields), serde_json::Value::Object(map)) => NodeKind::Record {
            fields: Arc::clone(fields),
            values: fields
                .iter()
                .map(|(name, fty)| match map.get(name) {
                    Some(v) => build(v, fty, span),
                    None => Node {
                        kind: NodeKind::Bool(false),
                        span,
                    },
                })
                .collect(),
        },
        _ => NodeKind::List(Vec::new()),
    };
    Node { kind, span }
}

/// The JSON form of a constant IR node (an input's default), for the report.
pub fn node_json(node: &Node) -> Option<serde_json::Value> {
    Some(match &node.kind {
        NodeKind::Bool(b) => serde_json::Value::Bool(*b),
        NodeKind::Int(i) => serde_json::Value::from(*i),
        NodeKind::Str(s) => serde_json::Value::String(s.to_string()),
        NodeKind::Hoisted { node, .. } | NodeKind::Tested { node, .. } => return node_json(node),
        NodeKind::Neg(inner) => match &inner.kind {
            NodeKind::Int(i) => serde_json::Value::from(i.checked_neg()?),
            _ => return None,
        },
        NodeKind::List(items) => {
            serde_json::Value::Array(items.iter().map(node_json).collect::<Option<_>>()?)
        }
        NodeKind::Record { fields, values } => serde_json::Value::Object(
            fields
                .iter()
                .zip(values)
                .map(|((name, _), v)| Some((name.clone(), node_json(v)?)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

fn type_help(ty: &Type) -> String {
    match ty {
        Type::Bool => "write `true` or `false`".to_string(),
        Type::Int => "write a whole number such as `42`".to_string(),
        Type::Str => "write the text, bare or in double quotes".to_string(),
        _ => format!("write a JSON value of type {ty}, such as `[\"a\", \"b\"]` for a list"),
    }
}

/// A JSON, YAML or TOML document read from a file, as JSON values, with its text registered
/// for diagnostics.
#[derive(Debug)]
pub struct Document {
    pub name: String,
    pub file: FileId,
    pub text: Arc<str>,
    pub kind: DocumentKind,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Json,
    Yaml,
    Toml,
}

impl Document {
    /// Where a top-level key (or `pack.key`) is written, or the start of the file.
    pub fn key_span(&self, key: &str) -> Span {
        let last = key.rsplit('.').next().unwrap_or(key);
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            for k in [key, last] {
                if let Some(at) = find_key(line, k) {
                    let start = offset + at;
                    return Span::new(self.file, start, start + k.len());
                }
            }
            offset += line.len();
        }
        Span::new(self.file, 0, 0)
    }
}

/// The byte offset of `key` written as a key in `line` (`key:`, `"key":`, `key =`).
fn find_key(line: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(i) = line.get(from..).and_then(|rest| rest.find(key)) {
        let at = from + i;
        let before = line[..at].chars().next_back();
        let after = line[at + key.len()..].trim_start_matches('"').trim_start();
        let starts_ok = before.is_none_or(|c| matches!(c, ' ' | '\t' | '"' | '{' | ',' | '\''));
        if starts_ok && (after.starts_with(':') || after.starts_with('=')) {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

/// Reads a JSON (`.json`), YAML (`.yaml`, `.yml`) or TOML (`.toml`) file; other extensions are
/// read as YAML, of which JSON is a subset.
pub fn load_document(path: &Path, sources: &mut SourceMap) -> Result<Document, Diag> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Diag::error(codes::UNREADABLE, format!("cannot read {name}: {e}")).help("check the path")
    })?;
    if meta.len() > MAX_DOCUMENT_BYTES as u64 {
        return Err(Diag::error(
            codes::UNREADABLE,
            format!(
                "{name} is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                meta.len()
            ),
        )
        .help("this file holds settings, not data; keep it small"));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Diag::error(codes::UNREADABLE, format!("cannot read {name}: {e}")).help("check the path")
    })?;
    let text = match std::str::from_utf8(bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&bytes))
    {
        Ok(t) => t.to_string(),
        Err(_) => {
            return Err(
                Diag::error(codes::MALFORMED_FILE, format!("{name} is not valid UTF-8"))
                    .help("save the file as UTF-8"),
            );
        }
    };
    let kind = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
    {
        Some(e) if e == "json" => DocumentKind::Json,
        Some(e) if e == "toml" => DocumentKind::Toml,
        _ => DocumentKind::Yaml,
    };
    let text: Arc<str> = Arc::from(text);
    let file = sources.add(name.clone(), Arc::clone(&text));
    let parsed = parse_document(&text, kind, file);
    match parsed {
        Ok(value) => Ok(Document {
            name,
            file,
            text,
            kind,
            value,
        }),
        Err((span, message)) => Err(Diag::error(
            codes::MALFORMED_FILE,
            format!("{name} is not valid {}: {message}", kind_name(kind)),
        )
        .label(span, "here")
        .help(format!("fix the {} syntax", kind_name(kind)))),
    }
}

fn kind_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Json => "JSON",
        DocumentKind::Yaml => "YAML",
        DocumentKind::Toml => "TOML",
    }
}

fn parse_document(
    text: &str,
    kind: DocumentKind,
    file: FileId,
) -> Result<serde_json::Value, (Span, String)> {
    let at_line_col = |line: usize, column: usize| {
        let offset = crate::source::offset_of(text, line.max(1), column.max(1));
        Span::new(file, offset, offset)
    };
    match kind {
        DocumentKind::Json => serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            let message = match full.rfind(" at line ") {
                Some(i) => full[..i].to_string(),
                None => full,
            };
            (at_line_col(e.line(), e.column()), message)
        }),
        DocumentKind::Yaml => {
            if text.trim().is_empty() {
                return Ok(serde_json::Value::Object(serde_json::Map::new()));
            }
            serde_norway::from_str::<serde_json::Value>(text).map_err(|e| {
                let span = match e.location() {
                    Some(l) => at_line_col(l.line(), l.column()),
                    None => Span::new(file, 0, 0),
                };
                let full = e.to_string();
                let message = match full.rfind(" at line ") {
                    Some(i) => full[..i].to_string(),
                    None => full,
                };
                (span, message)
            })
        }
        DocumentKind::Toml => match text.parse::<toml::Table>() {
            Ok(table) => Ok(toml_to_json(toml::Value::Table(table))),
            Err(e) => {
                let span = match e.span() {
                    Some(r) => Span::new(file, r.start, r.end),
                    None => Span::new(file, 0, 0),
                };
                Err((span, e.message().to_string()))
            }
        },
    }
}

/// TOML values as JSON; dates and times become their TOML text (`2027-01-31`).
fn toml_to_json(value: toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(toml_to_json).collect())
        }
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}
