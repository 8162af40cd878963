//! `.reg` exports (`reg export`, regedit): `Windows Registry Editor Version 5.00` (UTF-16LE) or
//! `REGEDIT4` (ANSI), `[KEY]` sections, `"name"=` values as strings, `dword:`, `hex:` and
//! `hex(n):` bytes (`hex(7)` a multi-string, `hex(2)` an expandable string) with `\` line
//! continuations. Only the values listed in [`MAPPED`] become facts or host details; the others
//! are parsed (a malformed line is still an error) and left out.

use serde_json::json;

use super::records::note_host;
use super::{Extract, FactValue, Input, Located, codes};
use crate::diag::Diag;
use crate::source::Span;

/// A registry value's data.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Sz(String),
    ExpandSz(String),
    MultiSz(Vec<String>),
    Dword(u32),
    Qword(u64),
    /// Any other type (`hex:` binary, `hex(0)`, …): its type number and bytes.
    Bytes(u32, Vec<u8>),
    /// `-`: the value is deleted (never in an export).
    Delete,
}

impl Data {
    fn type_name(&self) -> &'static str {
        match self {
            Data::Sz(_) => "REG_SZ",
            Data::ExpandSz(_) => "REG_EXPAND_SZ",
            Data::MultiSz(_) => "REG_MULTI_SZ",
            Data::Dword(_) => "REG_DWORD",
            Data::Qword(_) => "REG_QWORD",
            Data::Bytes(3, _) => "REG_BINARY",
            Data::Bytes(..) => "another type",
            Data::Delete => "a deletion",
        }
    }
}

/// One value of an export.
#[derive(Debug, Clone)]
pub struct RegValue {
    /// The key, as written in the `[...]` line.
    pub key: String,
    /// The value name; empty for the default value (`@`).
    pub name: String,
    pub data: Data,
    /// The whole (logical) line.
    pub span: Span,
}

/// What each mapped value becomes.
#[derive(Clone, Copy)]
enum Target {
    Port(&'static str),
    RpcPorts,
    RpcPortsAvailable,
    Share,
    ComputerName,
    Domain,
    ProductName,
    ServicePack,
}

/// (key, value name or `*` for every value, target), lower-cased; `HKLM\` is expanded first.
const MAPPED: [(&str, &str, Target); 10] = [
    (
        "system\\currentcontrolset\\services\\msexchangesa\\parameters",
        "tcp/ip port",
        Target::Port("system_attendant"),
    ),
    (
        "system\\currentcontrolset\\services\\msexchangesa\\parameters",
        "tcp/ip nspi port",
        Target::Port("nspi"),
    ),
    (
        "system\\currentcontrolset\\services\\msexchangeis\\parameterssystem",
        "tcp/ip port",
        Target::Port("information_store"),
    ),
    (
        "software\\microsoft\\rpc\\internet",
        "ports",
        Target::RpcPorts,
    ),
    (
        "software\\microsoft\\rpc\\internet",
        "portsinternetavailable",
        Target::RpcPortsAvailable,
    ),
    (
        "system\\currentcontrolset\\services\\lanmanserver\\shares",
        "*",
        Target::Share,
    ),
    (
        "system\\currentcontrolset\\control\\computername\\computername",
        "computername",
        Target::ComputerName,
    ),
    (
        "system\\currentcontrolset\\services\\tcpip\\parameters",
        "domain",
        Target::Domain,
    ),
    (
        "software\\microsoft\\windows nt\\currentversion",
        "productname",
        Target::ProductName,
    ),
    (
        "software\\microsoft\\windows nt\\currentversion",
        "csdversion",
        Target::ServicePack,
    ),
];

fn normalise_key(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    let lower = lower.trim_end_matches('\\');
    for prefix in ["hkey_local_machine\\", "hklm\\"] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    lower.to_string()
}

pub fn parse(input: &Input) -> Extract {
    let mut extract = Extract::default();
    let values = values(input, &mut extract);
    map(input, &values, &mut extract);
    extract
}

/// Every value of the export, reporting malformed lines.
pub fn values(input: &Input, extract: &mut Extract) -> Vec<RegValue> {
    let mut out = Vec::new();
    let lines = input.lines();
    let mut i = 0;
    let mut header_seen = false;
    let mut ansi = false;
    let mut key: Option<String> = None;
    let error = |extract: &mut Extract, span: Span, message: &str, label: &str, help: &str| {
        extract.diags.push(
            Diag::error(codes::UNPARSEABLE, format!("{}: {message}", input.name))
                .label(span, label.to_string())
                .help(help.to_string()),
        );
    };
    while i < lines.len() {
        let (start, first) = lines[i];
        i += 1;
        let first = first.trim_start_matches('\u{feff}');
        let start = start + (lines[i - 1].1.len() - first.len());
        // Join continuation lines.
        let mut logical = first.trim_end().to_string();
        let mut end = start + first.len();
        while logical.ends_with('\\')
            && !logical.starts_with('[')
            && i < lines.len()
            && !logical.ends_with("\\\\\"")
        {
            logical.pop();
            let (next_start, next) = lines[i];
            i += 1;
            logical.push_str(next.trim());
            end = next_start + next.len();
        }
        let span = input.span(start, end);
        let trimmed = logical.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        if !header_seen {
            if trimmed == "Windows Registry Editor Version 5.00" || trimmed == "REGEDIT4" {
                header_seen = true;
                ansi = trimmed == "REGEDIT4";
                continue;
            }
            error(
                extract,
                span,
                "not a .reg export",
                "expected `Windows Registry Editor Version 5.00`",
                "export the key with `reg export KEY FILE`",
            );
            return out;
        }
        if let Some(inner) = trimmed.strip_prefix('[') {
            let Some(inner) = inner.strip_suffix(']') else {
                error(
                    extract,
                    span,
                    "a key line without its closing `]`",
                    "unclosed key",
                    "export the key again",
                );
                key = None;
                continue;
            };
            if inner.starts_with('-') {
                error(
                    extract,
                    span,
                    "a key deletion, which an export never holds",
                    "`[-KEY]` deletes a key",
                    "import reads exports (`reg export`), not scripts that change the registry",
                );
                key = None;
                continue;
            }
            key = Some(inner.to_string());
            continue;
        }
        let Some(current) = &key else {
            error(
                extract,
                span,
                "a value before any `[KEY]` line",
                "which key is this in?",
                "export the key again",
            );
            continue;
        };
        let parsed = if let Some(rest) = trimmed.strip_prefix('@') {
            rest.trim_start()
                .strip_prefix('=')
                .map(|d| (String::new(), d))
        } else {
            quoted(trimmed)
                .and_then(|(name, rest)| rest.trim_start().strip_prefix('=').map(|d| (name, d)))
        };
        let Some((name, data)) = parsed else {
            error(
                extract,
                span,
                "cannot read this line of the export",
                "expected `\"name\"=data` or `@=data`",
                "export the key again; hand edits may have broken the quoting",
            );
            continue;
        };
        match parse_data(data.trim(), ansi) {
            Ok(data) => out.push(RegValue {
                key: current.clone(),
                name,
                data,
                span,
            }),
            Err(why) => error(
                extract,
                span,
                &format!("cannot read the data of value `{name}`: {why}"),
                "malformed data",
                "export the key again",
            ),
        }
    }
    if !header_seen {
        error(
            extract,
            input.span(0, 0),
            "not a .reg export",
            "no `Windows Registry Editor Version 5.00` line",
            "export the key with `reg export KEY FILE`",
        );
    }
    out
}

/// A `"…"` string with `\\` and `\"` escapes at the start of `s`, and what follows it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let rest = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, next) = chars.next()?;
                out.push(next);
            }
            '"' => return Some((out, &rest[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

fn parse_data(data: &str, ansi: bool) -> Result<Data, String> {
    if data == "-" {
        return Ok(Data::Delete);
    }
    if data.starts_with('"') {
        let (s, rest) = quoted(data).ok_or("the string is not closed")?;
        if !rest.trim().is_empty() {
            return Err(format!("unexpected `{}` after the string", rest.trim()));
        }
        return Ok(Data::Sz(s));
    }
    if let Some(hex) = data.strip_prefix("dword:") {
        if hex.len() != 8 {
            return Err(format!("`dword:` takes eight hex digits, not `{hex}`"));
        }
        return u32::from_str_radix(hex, 16)
            .map(Data::Dword)
            .map_err(|_| format!("`{hex}` is not hexadecimal"));
    }
    let (kind, bytes) = if let Some(b) = data.strip_prefix("hex:") {
        (3, b)
    } else if let Some(rest) = data.strip_prefix("hex(") {
        let close = rest.find("):").ok_or("expected `hex(n):`")?;
        let kind = u32::from_str_radix(&rest[..close], 16)
            .map_err(|_| format!("`{}` is not a value type", &rest[..close]))?;
        (kind, &rest[close + 2..])
    } else {
        return Err(format!(
            "unknown data `{}`",
            data.chars().take(20).collect::<String>()
        ));
    };
    let bytes = hex_bytes(bytes)?;
    let string = |bytes: &[u8]| -> Result<String, String> {
        if ansi {
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        } else {
            if bytes.len() % 2 != 0 {
                return Err("UTF-16 data with an odd number of bytes".to_string());
            }
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| "the UTF-16 data holds a lone surrogate".to_string())
        }
    };
    Ok(match kind {
        1 => Data::Sz(string(&bytes)?.trim_end_matches('\0').to_string()),
        2 => Data::ExpandSz(string(&bytes)?.trim_end_matches('\0').to_string()),
        7 => {
            let text = string(&bytes)?;
            let text = text
                .strip_suffix("\0\0")
                .or_else(|| text.strip_suffix('\0'))
                .unwrap_or(&text);
            Data::MultiSz(if text.is_empty() {
                Vec::new()
            } else {
                text.split('\0').map(str::to_string).collect()
            })
        }
        4 if bytes.len() == 4 => {
            Data::Dword(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        }
        0xb if bytes.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes);
            Data::Qword(u64::from_le_bytes(b))
        }
        other => Data::Bytes(other, bytes),
    })
}

fn hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|b| {
            let b = b.trim();
            if b.len() != 2 {
                return Err(format!("`{b}` is not a two-digit hex byte"));
            }
            u8::from_str_radix(b, 16).map_err(|_| format!("`{b}` is not a hex byte"))
        })
        .collect()
}

fn map(input: &Input, values: &[RegValue], extract: &mut Extract) {
    let mut shares: Vec<(String, Span)> = Vec::new();
    let mut product: Option<(String, Span)> = None;
    let mut service_pack: Option<String> = None;
    let mut rpc_ports: Option<&RegValue> = None;
    let mut rpc_available: Option<&RegValue> = None;
    for value in values {
        let key = normalise_key(&value.key);
        let name = value.name.to_ascii_lowercase();
        let Some((_, _, target)) = MAPPED
            .iter()
            .find(|(k, n, _)| *k == key && (*n == name || *n == "*"))
        else {
            continue;
        };
        let wrong_type = |extract: &mut Extract, expected: &str| {
            extract.diags.push(
                Diag::error(codes::UNKNOWN_VALUE, format!("{}: `{}` in {} is {}, expected {expected}", input.name, value.name, value.key, value.data.type_name()))
                    .label(value.span, format!("expected {expected}"))
                    .help("Windows stores this value with that type; the export or the host's configuration is damaged"),
            );
        };
        match (target, &value.data) {
            (Target::Port(field), Data::Dword(port)) => extract.facts.push(FactValue {
                path: vec![
                    "exchange".into(),
                    "static_rpc_ports".into(),
                    (*field).into(),
                ],
                value: json!(port),
                span: Some(value.span),
            }),
            (Target::Port(_), _) => wrong_type(extract, "REG_DWORD"),
            (Target::RpcPorts, Data::MultiSz(_)) => rpc_ports = Some(value),
            (Target::RpcPorts, _) => wrong_type(extract, "REG_MULTI_SZ"),
            (Target::RpcPortsAvailable, Data::Sz(_)) => rpc_available = Some(value),
            (Target::RpcPortsAvailable, _) => wrong_type(extract, "REG_SZ"),
            (Target::Share, Data::MultiSz(_)) => shares.push((value.name.clone(), value.span)),
            (Target::Share, _) => wrong_type(extract, "REG_MULTI_SZ"),
            (Target::ComputerName, Data::Sz(s)) if !s.is_empty() => {
                note_host(input, Located::new(s.clone(), value.span), extract)
            }
            (Target::Domain, Data::Sz(s)) if !s.is_empty() => {
                extract
                    .host
                    .domain
                    .get_or_insert(Located::new(s.clone(), value.span));
            }
            (Target::ProductName, Data::Sz(s)) if !s.is_empty() => {
                product = Some((s.clone(), value.span))
            }
            (Target::ServicePack, Data::Sz(s)) if !s.is_empty() => service_pack = Some(s.clone()),
            (
                Target::ComputerName | Target::Domain | Target::ProductName | Target::ServicePack,
                Data::Sz(_),
            ) => {}
            (
                Target::ComputerName | Target::Domain | Target::ProductName | Target::ServicePack,
                _,
            ) => wrong_type(extract, "REG_SZ"),
        }
    }
    if let Some((product, span)) = product {
        let os = match service_pack {
            Some(sp) => format!("{product} {sp}"),
            None => product,
        };
        extract.host.os = Some(Located::new(os, span));
    }
    if !shares.is_empty() {
        let span = shares.first().map(|(_, s)| *s);
        let mut names: Vec<String> = shares.into_iter().map(|(n, _)| n).collect();
        names.sort_by_key(|n| n.to_ascii_lowercase());
        extract.facts.push(FactValue {
            path: vec!["shares".into()],
            value: json!(names),
            span,
        });
    }
    if let Some(ports) = rpc_ports {
        rpc_range(input, ports, rpc_available, extract);
    }
}

/// `Ports` of HKLM\SOFTWARE\Microsoft\Rpc\Internet: ranges such as `1024-5000`, which must
/// together form one range (`network.rpc_dynamic_ports` is one `{min, max}`).
fn rpc_range(input: &Input, ports: &RegValue, available: Option<&RegValue>, extract: &mut Extract) {
    if let Some(RegValue {
        data: Data::Sz(flag),
        span,
        ..
    }) = available
    {
        if flag.trim().eq_ignore_ascii_case("N") {
            extract.diags.push(
                Diag::error(codes::UNKNOWN_VALUE, format!("{}: the RPC `Ports` list names ports RPC must not use (PortsInternetAvailable = N)", input.name))
                    .label(*span, "the list is an exclusion")
                    .help("snapshot v1 records the range RPC may use; set the range in the facts file (network.rpc_dynamic_ports) instead"),
            );
            return;
        }
    }
    let Data::MultiSz(entries) = &ports.data else {
        return;
    };
    let mut ranges = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let parsed = match entry.split_once('-') {
            Some((a, b)) => a
                .trim()
                .parse::<u16>()
                .ok()
                .zip(b.trim().parse::<u16>().ok()),
            None => entry.parse::<u16>().ok().map(|p| (p, p)),
        };
        match parsed {
            Some((a, b)) if a <= b => ranges.push((a, b)),
            _ => {
                extract.diags.push(
                    Diag::error(
                        codes::UNKNOWN_VALUE,
                        format!(
                            "{}: `{entry}` in the RPC `Ports` list is not a port range",
                            input.name
                        ),
                    )
                    .label(ports.span, "expected entries such as `1024-5000`")
                    .help("each entry is a port (1–65535) or a range `low-high`"),
                );
                return;
            }
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    match merged[..] {
        [] => extract.diags.push(
            Diag::error(codes::UNKNOWN_VALUE, format!("{}: the RPC `Ports` list is empty", input.name))
                .label(ports.span, "no ranges")
                .help("an empty list lets RPC use the default range; delete the value, or give a range"),
        ),
        [(min, max)] => extract.facts.push(FactValue {
            path: vec!["network".into(), "rpc_dynamic_ports".into()],
            value: json!({ "min": min, "max": max }),
            span: Some(ports.span),
        }),
        _ => extract.diags.push(
            Diag::error(codes::UNKNOWN_VALUE, format!("{}: the RPC `Ports` list holds {} separate ranges", input.name, merged.len()))
                .label(ports.span, "several ranges")
                .help("network.rpc_dynamic_ports is one range; give the range the policy should see in the facts file"),
        ),
    }
}

/// Whether the value `name` under `key` is mapped (for documentation and tests).
pub fn is_mapped(key: &str, name: &str) -> bool {
    let key = normalise_key(key);
    let name = name.to_ascii_lowercase();
    MAPPED
        .iter()
        .any(|(k, n, _)| *k == key && (*n == name || *n == "*"))
}
