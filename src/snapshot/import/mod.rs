//! `expolicy import`: turns what Windows emits (`sc`, `wmic`, PowerShell JSON and CSV, `.reg`
//! exports, a facts file) into one snapshot v1.
//!
//! Every input is decoded ([`encoding`]), its format recognised from its content ([`detect`]),
//! parsed by the module of that format into an [`Extract`] (service records, facts and host
//! details, each with the span it came from), and the extracts are merged: services by
//! case-insensitive SCM name, facts deep-merged. Nothing a parser cannot read is dropped quietly:
//! every unparseable line or unknown value is a [`Diag`] pointing at its file and line.

pub mod cim;
pub mod csv;
pub mod detect;
pub mod encoding;
pub mod facts;
pub mod powershell;
pub mod records;
pub mod reg;
pub mod sc;
pub mod wmic;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{FORMAT_V1, Host, Service, ServiceState, Snapshot, StartType, same_account};
use crate::diag::{Diag, Level};
use crate::source::{FileId, SourceMap, Span};

/// Stable diagnostic codes of the importer.
pub mod codes {
    pub const UNREADABLE: &str = "expolicy::import::unreadable";
    pub const ENCODING: &str = "expolicy::import::encoding";
    pub const UNKNOWN_FORMAT: &str = "expolicy::import::unknown_format";
    pub const UNPARSEABLE: &str = "expolicy::import::unparseable";
    pub const UNKNOWN_VALUE: &str = "expolicy::import::unknown_value";
    pub const INCOMPLETE: &str = "expolicy::import::incomplete";
    pub const CONFLICT: &str = "expolicy::import::conflict";
    pub const HOST_CONFLICT: &str = "expolicy::import::host_conflict";
    pub const NO_HOST: &str = "expolicy::import::no_host";
    pub const NOT_COLLECTED: &str = "expolicy::import::not_collected";
    pub const FACTS: &str = "expolicy::import::facts";
    pub const NOTHING_USED: &str = "expolicy::import::nothing_used";
}

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Format {
    /// `sc query` / `sc queryex` / `sc qc` transcripts.
    Sc,
    /// `wmic service get … /format:csv`.
    Wmic,
    /// `Get-Service | ConvertTo-Json`.
    GetService,
    /// `Get-CimInstance Win32_Service | ConvertTo-Json` (or `Get-WmiObject`).
    Cim,
    /// `Export-Csv` of `Get-Service` or `Win32_Service` objects.
    Csv,
    /// A `.reg` export (`reg export`, regedit).
    Reg,
    /// A facts file, JSON or YAML.
    Facts,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Sc => "sc transcript",
            Format::Wmic => "wmic CSV",
            Format::GetService => "Get-Service JSON",
            Format::Cim => "Win32_Service JSON",
            Format::Csv => "Export-Csv",
            Format::Reg => ".reg export",
            Format::Facts => "facts file",
        }
    }
}

/// One decoded input, registered in the [`SourceMap`] so that diagnostics can show it.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub file: FileId,
    pub text: Arc<str>,
}

impl Input {
    /// The span of a byte range of this input.
    pub fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }

    /// Lines with the byte offset where each starts; `\r` (even `\r\r`, as `wmic` writes) is
    /// not part of a line.
    pub fn lines(&self) -> Vec<(usize, &str)> {
        lines(&self.text)
    }
}

/// The lines of `text` with their start offsets, without line terminators.
pub fn lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        let line = piece.trim_end_matches('\n').trim_end_matches('\r');
        out.push((start, line));
        start += piece.len();
    }
    out
}

/// A value and where it was read.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Located<T> {
    pub fn new(value: T, span: Span) -> Self {
        Located { value, span }
    }
}

/// What one source says about one service.
#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub name: Located<String>,
    pub display_name: Option<Located<String>>,
    pub state: Option<Located<ServiceState>>,
    pub start_type: Option<Located<StartType>>,
    pub account: Option<Located<String>>,
    pub depends_on: Option<Located<Vec<String>>>,
}

impl ServiceRecord {
    pub fn new(name: String, span: Span) -> Self {
        ServiceRecord {
            name: Located::new(name, span),
            display_name: None,
            state: None,
            start_type: None,
            account: None,
            depends_on: None,
        }
    }
}

/// One fact leaf (or list) at a dotted path.
#[derive(Debug, Clone)]
pub struct FactValue {
    pub path: Vec<String>,
    pub value: serde_json::Value,
    pub span: Option<Span>,
}

/// What the host details one source gives.
#[derive(Debug, Clone, Default)]
pub struct HostHints {
    pub name: Option<Located<String>>,
    pub os: Option<Located<String>>,
    pub domain: Option<Located<String>>,
}

/// What one input contributed.
#[derive(Debug, Default)]
pub struct Extract {
    pub services: Vec<ServiceRecord>,
    pub facts: Vec<FactValue>,
    pub host: HostHints,
    pub diags: Vec<Diag>,
}

/// Parses one decoded input in the given format.
pub fn parse(input: &Input, format: Format) -> Extract {
    match format {
        Format::Sc => sc::parse(input),
        Format::Wmic => wmic::parse(input),
        Format::GetService => powershell::parse(input),
        Format::Cim => cim::parse(input),
        Format::Csv => csv::parse(input),
        Format::Reg => reg::parse(input),
        Format::Facts => facts::parse(input),
    }
}

/// Options of a merge.
#[derive(Debug, Default, Clone)]
pub struct MergeOptions {
    /// `--host`: overrides whatever the sources say.
    pub host: Option<String>,
}

/// Merges extracts (in the order given) into one snapshot. Errors (conflicting host names, no
/// host name) and warnings (a service field two sources disagree on) are returned as diagnostics;
/// the snapshot is `None` when there is an error.
pub fn merge(extracts: Vec<Extract>, options: &MergeOptions) -> (Option<Snapshot>, Vec<Diag>) {
    let mut diags = Vec::new();
    let mut services: BTreeMap<String, ServiceRecord> = BTreeMap::new();
    let mut facts = FactTree::default();
    let mut host = HostHints::default();
    for extract in extracts {
        diags.extend(extract.diags);
        for record in extract.services {
            let key = record.name.value.to_ascii_lowercase();
            match services.get_mut(&key) {
                Some(existing) => merge_service(existing, record, &mut diags),
                None => {
                    services.insert(key, record);
                }
            }
        }
        for fact in extract.facts {
            facts.insert(fact, &mut diags);
        }
        merge_host(&mut host, extract.host, options.host.is_some(), &mut diags);
    }
    let name = match (&options.host, &host.name) {
        (Some(name), _) => Some(name.clone()),
        (None, Some(found)) => Some(found.value.clone()),
        (None, None) => {
            diags.push(
                Diag::error(
                    codes::NO_HOST,
                    "none of the inputs names the host, and `--host` was not given",
                )
                .help(
                    "pass `--host NAME`, or include an input that names it: the `Node` column of \
                     wmic CSV, `SystemName` of Win32_Service JSON, or a .reg export of \
                     HKLM\\SYSTEM\\CurrentControlSet\\Control\\ComputerName\\ComputerName",
                ),
            );
            None
        }
    };
    if diags.iter().any(Diag::is_error) {
        return (None, diags);
    }
    let Some(name) = name else {
        return (None, diags);
    };
    let snapshot = Snapshot {
        format: FORMAT_V1.to_string(),
        host: Host {
            name,
            os: host.os.map(|l| l.value),
            domain: host.domain.map(|l| l.value),
        },
        collected_at: None,
        services: services.into_values().map(into_service).collect(),
        facts: facts.into_value(),
    };
    (Some(snapshot), diags)
}

fn into_service(record: ServiceRecord) -> Service {
    Service {
        name: record.name.value,
        display_name: record.display_name.map(|l| l.value),
        state: record.state.map(|l| l.value),
        start_type: record.start_type.map(|l| l.value),
        account: record.account.map(|l| l.value),
        depends_on: record.depends_on.map(|l| l.value),
    }
}

fn conflict(
    service: &str,
    field: &str,
    kept: (&str, Span),
    other: (&str, Span),
    diags: &mut Vec<Diag>,
) {
    diags.push(
        Diag::warning(
            codes::CONFLICT,
            format!("the inputs disagree on the {field} of service `{service}`: {} or {}; keeping {}", kept.0, other.0, kept.0),
        )
        .label(other.1, format!("this says {}", other.0))
        .label(kept.1, format!("kept: {}", kept.0))
        .help("the inputs were probably collected at different moments; collect them again together, or give only one of them"),
    );
}

fn merge_field<T: Clone>(
    service: &str,
    field: &str,
    existing: &mut Option<Located<T>>,
    new: Option<Located<T>>,
    same: impl Fn(&T, &T) -> bool,
    show: impl Fn(&T) -> String,
    diags: &mut Vec<Diag>,
) {
    let Some(new) = new else { return };
    match existing {
        None => *existing = Some(new),
        Some(old) => {
            if !same(&old.value, &new.value) {
                conflict(
                    service,
                    field,
                    (&show(&old.value), old.span),
                    (&show(&new.value), new.span),
                    diags,
                );
            }
        }
    }
}

fn merge_service(existing: &mut ServiceRecord, new: ServiceRecord, diags: &mut Vec<Diag>) {
    let name = existing.name.value.clone();
    let quoted = |s: &String| format!("`{s}`");
    merge_field(
        &name,
        "display name",
        &mut existing.display_name,
        new.display_name,
        |a, b| a == b,
        quoted,
        diags,
    );
    merge_field(
        &name,
        "state",
        &mut existing.state,
        new.state,
        |a, b| a == b,
        |v| v.as_str().to_string(),
        diags,
    );
    merge_field(
        &name,
        "start type",
        &mut existing.start_type,
        new.start_type,
        |a, b| a == b,
        |v| v.as_str().to_string(),
        diags,
    );
    merge_field(
        &name,
        "account",
        &mut existing.account,
        new.account,
        |a, b| same_account(a, b),
        quoted,
        diags,
    );
    merge_field(
        &name,
        "dependencies",
        &mut existing.depends_on,
        new.depends_on,
        |a, b| {
            let fold = |v: &Vec<String>| {
                let mut v: Vec<String> = v.iter().map(|s| s.to_ascii_lowercase()).collect();
                v.sort();
                v.dedup();
                v
            };
            fold(a) == fold(b)
        },
        |v| format!("[{}]", v.join(", ")),
        diags,
    );
}

fn merge_host(host: &mut HostHints, new: HostHints, host_given: bool, diags: &mut Vec<Diag>) {
    if let Some(name) = new.name {
        match &host.name {
            Some(old) if !old.value.eq_ignore_ascii_case(&name.value) => diags.push(
                Diag {
                    level: if host_given { Level::Warning } else { Level::Error },
                    ..Diag::error(
                    codes::HOST_CONFLICT,
                    format!(
                        "the inputs come from different hosts: `{}` and `{}`",
                        old.value, name.value
                    ),
                )}
                .label(name.span, format!("host `{}`", name.value))
                .label(old.span, format!("host `{}`", old.value))
                .help("one snapshot describes one host; import each host's files separately, or pass `--host` if the names are aliases"),
            ),
            Some(_) => {}
            None => host.name = Some(name),
        }
    }
    for (slot, value, what) in [
        (&mut host.os, new.os, "operating system"),
        (&mut host.domain, new.domain, "domain"),
    ] {
        let Some(value) = value else { continue };
        match slot {
            Some(old) if !old.value.eq_ignore_ascii_case(&value.value) => diags.push(
                Diag::warning(
                    codes::CONFLICT,
                    format!(
                        "the inputs disagree on the host's {what}: `{}` or `{}`; keeping `{}`",
                        old.value, value.value, old.value
                    ),
                )
                .label(value.span, "this says otherwise")
                .label(old.span, "kept"),
            ),
            Some(_) => {}
            None => *slot = Some(value),
        }
    }
}

/// Facts being deep-merged: objects merge key by key; anything else is a leaf, and a later
/// leaf replaces an earlier one with a warning.
#[derive(Default)]
struct FactTree {
    children: BTreeMap<String, FactNode>,
}

enum FactNode {
    Branch(FactTree),
    Leaf(serde_json::Value, Option<Span>),
}

impl FactTree {
    fn insert(&mut self, fact: FactValue, diags: &mut Vec<Diag>) {
        let dotted = fact.path.join(".");
        let mut tree = self;
        let Some((last, parents)) = fact.path.split_last() else {
            return;
        };
        for key in parents {
            let node = tree
                .children
                .entry(key.clone())
                .or_insert_with(|| FactNode::Branch(FactTree::default()));
            if let FactNode::Leaf(old, old_span) = node {
                replaced(&dotted, old, *old_span, fact.span, diags);
                *node = FactNode::Branch(FactTree::default());
            }
            let FactNode::Branch(next) = node else { return };
            tree = next;
        }
        match tree.children.get(last) {
            Some(FactNode::Leaf(old, old_span)) if *old != fact.value => {
                replaced(&dotted, old, *old_span, fact.span, diags);
            }
            Some(FactNode::Branch(_)) => {
                replaced(
                    &dotted,
                    &serde_json::Value::String("an object".into()),
                    None,
                    fact.span,
                    diags,
                );
            }
            _ => {}
        }
        tree.children
            .insert(last.clone(), FactNode::Leaf(fact.value, fact.span));
    }

    fn into_value(self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (key, node) in self.children {
            let value = match node {
                FactNode::Branch(tree) => tree.into_value(),
                FactNode::Leaf(value, _) => value,
            };
            map.insert(key, value);
        }
        serde_json::Value::Object(map)
    }
}

fn replaced(
    dotted: &str,
    old: &serde_json::Value,
    old_span: Option<Span>,
    new_span: Option<Span>,
    diags: &mut Vec<Diag>,
) {
    let mut diag = Diag::warning(
        codes::CONFLICT,
        format!("fact `{dotted}` is given twice; the later input replaces {old}"),
    )
    .help("inputs are merged in the order given, the facts file last; give each fact once");
    if let Some(span) = new_span {
        diag = diag.label(span, "this value is kept");
    }
    if let Some(span) = old_span {
        diag = diag.label(span, "replaces this one");
    }
    diags.push(diag);
}

/// Reads, decodes, recognises and parses one input. `forced` is `--from`.
pub fn import_bytes(
    name: &str,
    bytes: &[u8],
    forced: Option<Format>,
    sources: &mut SourceMap,
) -> Extract {
    let text = match encoding::decode(name, bytes) {
        Ok(t) => t,
        Err(diag) => {
            return Extract {
                diags: vec![diag],
                ..Extract::default()
            };
        }
    };
    let text: Arc<str> = Arc::from(text);
    let file = sources.add(name, Arc::clone(&text));
    let input = Input {
        name: name.to_string(),
        file,
        text,
    };
    let format = match forced {
        Some(f) => f,
        None => match detect::detect(&input) {
            Ok(f) => f,
            Err(diag) => {
                return Extract {
                    diags: vec![diag],
                    ..Extract::default()
                };
            }
        },
    };
    let mut extract = parse(&input, format);
    let used = !extract.services.is_empty()
        || !extract.facts.is_empty()
        || extract.host.name.is_some()
        || extract.host.os.is_some()
        || extract.host.domain.is_some();
    if !used && !extract.diags.iter().any(Diag::is_error) {
        extract.diags.push(
            Diag::warning(
                codes::NOTHING_USED,
                format!("{name}: nothing in this {} went into the snapshot", format.name()),
            )
            .help("check that this is the file you meant; see docs/collect.md for what each format contributes"),
        );
    }
    extract
}
