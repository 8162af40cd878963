//! Host snapshots: the v1 model, loading with located errors, and the per-host service index.

pub mod import;
pub mod locate;
mod model;
mod store;

use std::sync::Arc;

pub use model::*;
pub use store::{Deps, ServiceIndex, ServiceList, ServiceRef, SnapshotData};
pub(crate) use store::{ascii_lowercase, ascii_uppercase, word_of};

use crate::diag::Diag;
use crate::source::{SourceMap, Span};

/// Largest snapshot accepted, in bytes.
pub const MAX_SNAPSHOT_BYTES: usize = 64 * 1024 * 1024;

pub mod codes {
    pub const MALFORMED: &str = "expolicy::snapshot::malformed";
    pub const WRONG_SHAPE: &str = "expolicy::snapshot::wrong_shape";
    pub const UNKNOWN_FORMAT: &str = "expolicy::snapshot::unknown_format";
    pub const DUPLICATE_SERVICE: &str = "expolicy::snapshot::duplicate_service";
    pub const ENCODING: &str = "expolicy::snapshot::encoding";
    pub const TOO_LARGE: &str = "expolicy::snapshot::too_large";
    pub const TOO_DEEP: &str = "expolicy::snapshot::too_deep";
    pub const UNREADABLE: &str = "expolicy::snapshot::unreadable";
    /// Every code above, for tests that check each one is exercised.
    pub const ALL: &[&str] = &[
        MALFORMED,
        WRONG_SHAPE,
        UNKNOWN_FORMAT,
        DUPLICATE_SERVICE,
        ENCODING,
        TOO_LARGE,
        TOO_DEEP,
        UNREADABLE,
    ];
}

/// A snapshot that loaded, with what evaluation and evidence need from it.
#[derive(Debug)]
pub struct LoadedSnapshot {
    /// Where it came from, as the user named it (`-` becomes `<stdin>`).
    pub source: String,
    /// The decoded text, kept so that evidence can point at lines and columns.
    pub text: Arc<str>,
    /// Host, facts, and the services as the owned model has them (built on first use).
    pub snapshot: SnapshotData,
    /// The services, compact and indexed by name: what evaluation reads.
    pub services: ServiceIndex,
    /// The services' dependency graph, resolved by the first evaluation that asks about it.
    pub(crate) graph: std::sync::OnceLock<crate::eval::graph::Shared>,
}

impl LoadedSnapshot {
    /// Line and column (1-based) of the value at a JSON pointer, if it is in the text.
    pub fn line_col(&self, pointer: &str) -> Option<(usize, usize)> {
        let segments = locate::split_pointer(pointer);
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (start, _) = locate::locate(&self.text, &segs)?;
        Some(crate::source::line_col(&self.text, start))
    }
}

/// A problem with a snapshot, located in its text; turned into a [`Diag`] once the text has a
/// place in the [`SourceMap`].
#[derive(Debug, Clone)]
pub struct SnapshotError {
    pub code: &'static str,
    pub message: String,
    /// Byte range in the decoded text, and what to say there.
    pub labels: Vec<(usize, usize, String)>,
    pub help: Option<String>,
}

impl SnapshotError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        SnapshotError {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    fn at(mut self, start: usize, end: usize, text: impl Into<String>) -> Self {
        self.labels.push((start, end, text.into()));
        self
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Registers `text` under `source` and returns the located diagnostic.
    pub fn into_diag(self, source: &str, text: Arc<str>, sources: &mut SourceMap) -> Diag {
        let mut diag =
            Diag::error(self.code, format!("{source}: {}", self.message)).maybe_help(self.help);
        if !self.labels.is_empty() {
            let file = sources.add(source, text);
            for (start, end, label) in self.labels {
                diag = diag.label(Span::new(file, start, end), label);
            }
        }
        diag
    }
}

/// Decodes snapshot bytes: UTF-8 (with or without BOM), or UTF-16 with a BOM, as Windows
/// PowerShell's `>` writes.
pub fn decode(bytes: &[u8]) -> Result<String, SnapshotError> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest, 3);
    }
    let utf16 = |rest: &[u8], little: bool| {
        if rest.len() % 2 != 0 {
            return Err(SnapshotError::new(
                codes::ENCODING,
                "UTF-16 text has an odd number of bytes",
            )
            .help("the file was cut short; collect it again"));
        }
        let units = rest.chunks_exact(2).map(|c| {
            if little {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| SnapshotError::new(codes::ENCODING, "UTF-16 text holds a lone surrogate"))
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    utf8(bytes, 0)
}

fn utf8(bytes: &[u8], offset: usize) -> Result<String, SnapshotError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let mut hint = "save the snapshot as UTF-8".to_string();
            if bytes.len() >= 2 && (bytes[1] == 0 || bytes[0] == 0) {
                hint = "this looks like UTF-16 without a byte-order mark; save it as UTF-8, or run it through `expolicy import`".to_string();
            }
            let at = offset + e.valid_up_to();
            // Show the valid prefix so the label lands where the bad byte was.
            Err(
                SnapshotError::new(codes::ENCODING, "snapshot is not valid UTF-8")
                    .at(
                        at,
                        at,
                        format!("invalid byte 0x{:02X} here", bytes[e.valid_up_to()]),
                    )
                    .help(hint),
            )
        }
    }
}

/// Reads a snapshot from bytes. On failure the error is returned together with the decoded
/// (or lossily decoded) text, so that the caller can show it.
pub fn load(source: &str, bytes: &[u8]) -> Result<LoadedSnapshot, (SnapshotError, Arc<str>)> {
    if bytes.len() > MAX_SNAPSHOT_BYTES {
        let err = SnapshotError::new(
            codes::TOO_LARGE,
            format!(
                "snapshot is {} bytes; the limit is {MAX_SNAPSHOT_BYTES}",
                bytes.len()
            ),
        )
        .help("one snapshot describes one host; stream many hosts as NDJSON instead");
        return Err((err, Arc::from("")));
    }
    // Plain UTF-8, the common case, is copied once, straight into its shared buffer.
    let plain = match bytes {
        [0xEF, 0xBB, 0xBF, ..] | [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => None,
        _ => std::str::from_utf8(bytes).ok().map(Arc::<str>::from),
    };
    let text: Arc<str> = match plain {
        Some(t) => t,
        None => match decode(bytes) {
            Ok(t) => Arc::from(t),
            Err(e) => return Err((e, Arc::from(String::from_utf8_lossy(bytes).as_ref()))),
        },
    };
    match parse(&text) {
        Ok((snapshot, services)) => Ok(LoadedSnapshot {
            source: source.to_string(),
            text,
            snapshot,
            services,
            graph: std::sync::OnceLock::new(),
        }),
        Err(e) => Err((e, text)),
    }
}

fn parse(text: &Arc<str>) -> Result<(SnapshotData, ServiceIndex), SnapshotError> {
    // One pass, borrowing strings from the text. It accepts exactly what the derived
    // `Deserialize` accepts; whatever it refuses is parsed again below, so that errors are
    // explained in the same words whichever pass found them.
    match store::parse(text) {
        Ok(parsed) if parsed.0.facts.is_object() => return Ok(parsed),
        Ok(_) | Err(store::FastError::Refused | store::FastError::Duplicate) => {}
    }
    let snapshot: Snapshot = match serde_json::from_str(text) {
        Ok(s) => s,
        Err(e) => {
            if let Some(err) = format_error(text) {
                return Err(err);
            }
            return Err(json_error(text, &e));
        }
    };
    if snapshot.format != FORMAT_V1 {
        return Err(format_error(text).unwrap_or_else(|| {
            SnapshotError::new(codes::UNKNOWN_FORMAT, "unknown snapshot format")
        }));
    }
    if !snapshot.facts.is_object() {
        let (start, end) = locate::locate(text, &["facts"]).unwrap_or((0, 0));
        return Err(SnapshotError::new(codes::WRONG_SHAPE, "`facts` must be an object")
            .at(start, end, "not an object")
            .help("policies read facts by path, such as `exchange.stores`; write `\"facts\": { … }`"));
    }
    check_duplicates(text, &snapshot)?;
    store::from_owned(Arc::clone(text), snapshot).map_err(|_| {
        SnapshotError::new(codes::DUPLICATE_SERVICE, "two services have the same name")
    })
}

/// The error for a document whose `format` is present but not one this build reads.
fn format_error(text: &str) -> Option<SnapshotError> {
    #[derive(serde::Deserialize)]
    struct FormatOnly {
        format: Option<serde_json::Value>,
    }
    let FormatOnly { format } = serde_json::from_str(text).ok()?;
    let help = format!("this build reads snapshots whose `format` is \"{FORMAT_V1}\"");
    let (start, end) = locate::locate(text, &["format"]).unwrap_or((0, 0));
    match format {
        Some(serde_json::Value::String(s)) if s == FORMAT_V1 => None,
        Some(other) => Some(
            SnapshotError::new(
                codes::UNKNOWN_FORMAT,
                format!("unknown snapshot format {other}"),
            )
            .at(start, end, "not a format this build reads")
            .help(help),
        ),
        None => Some(
            SnapshotError::new(codes::UNKNOWN_FORMAT, "the snapshot has no `format` field")
                .at(0, 1, "this document does not say what it is")
                .help(help),
        ),
    }
}

fn json_error(text: &str, e: &serde_json::Error) -> SnapshotError {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    let offset = if e.line() == 0 {
        0
    } else {
        crate::source::offset_of(text, e.line(), e.column().max(1))
    };
    // serde's column points just past the problem; step back onto it.
    let start = if e.column() > 0 {
        floor_boundary(text, offset.saturating_sub(1))
    } else {
        offset
    };
    let end = (start + 1).min(text.len()).max(start);
    let end = ceil_boundary(text, end);
    use serde_json::error::Category;
    let (code, label, help) = match e.classify() {
        Category::Syntax if message.contains("recursion limit") => (
            codes::TOO_DEEP,
            "nested too deeply here",
            Some("snapshots may nest at most 128 levels of arrays and objects".to_string()),
        ),
        Category::Syntax | Category::Io => (codes::MALFORMED, "not valid JSON here", None),
        Category::Eof => (
            codes::MALFORMED,
            "the document ends here",
            Some("the file looks cut short; collect it again".to_string()),
        ),
        Category::Data => (
            codes::WRONG_SHAPE,
            "does not fit the snapshot format",
            Some(shape_help(&message)),
        ),
    };
    let mut err = SnapshotError::new(code, message).at(start, end, label);
    err.help = help;
    err
}

fn shape_help(message: &str) -> String {
    if message.contains("ServiceState")
        || message.contains("unknown variant") && message.contains("running")
    {
        return format!(
            "a service's `state` is one of: {}",
            ServiceState::ALL.map(ServiceState::as_str).join(", ")
        );
    }
    if message.contains("unknown variant") && message.contains("automatic") {
        return format!(
            "a service's `start_type` is one of: {}",
            StartType::ALL.map(StartType::as_str).join(", ")
        );
    }
    "see docs/snapshot.md or `expolicy schema` for the shape of a snapshot".to_string()
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i.min(text.len())
}

fn check_duplicates(text: &str, snapshot: &Snapshot) -> Result<(), SnapshotError> {
    let mut by_name: std::collections::HashMap<Box<str>, u32> =
        std::collections::HashMap::with_capacity(snapshot.services.len());
    for (i, service) in snapshot.services.iter().enumerate() {
        let key: Box<str> = service.name.to_ascii_lowercase().into();
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(&first) = by_name.get(&key) {
            let here =
                locate::locate(text, &["services", &i.to_string(), "name"]).unwrap_or((0, 0));
            let there =
                locate::locate(text, &["services", &first.to_string(), "name"]).unwrap_or((0, 0));
            let first_name = &snapshot.services[first as usize].name;
            return Err(SnapshotError::new(
                codes::DUPLICATE_SERVICE,
                format!("two services are named `{first_name}` and `{}`", service.name),
            )
            .at(here.0, here.1, "this service")
            .at(there.0, there.1, "is the same as this one")
            .help("Windows compares service names without regard to case, so these are one service; keep one record"));
        }
        by_name.insert(key, index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal(services: &str) -> String {
        format!(
            r#"{{"format": "expolicy-snapshot/1", "host": {{"name": "H"}}, "services": [{services}]}}"#
        )
    }

    #[test]
    fn loads_a_minimal_snapshot() {
        let text = minimal(r#"{"name": "RpcSs", "state": "running"}"#);
        let loaded = load("x.json", text.as_bytes())
            .map_err(|e| e.0.message)
            .unwrap_or_else(|m| panic!("{m}"));
        assert_eq!(loaded.services.get("RPCSS"), Some(0));
        let column = text.find("\"running\"").map(|i| i + 1);
        assert_eq!(loaded.line_col("/services/0/state"), column.map(|c| (1, c)));
    }

    #[test]
    fn names_differing_in_case_are_refused() {
        let text = minimal(r#"{"name": "RpcSs"}, {"name": "RPCSS"}"#);
        let Err((err, _)) = load("x.json", text.as_bytes()) else {
            panic!("loaded")
        };
        assert_eq!(err.code, codes::DUPLICATE_SERVICE);
        assert_eq!(err.labels.len(), 2);
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let text = minimal("");
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert!(load("x.json", &bytes).is_ok());
    }
}
