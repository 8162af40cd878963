//! Recognising an input's format from its content (never from its name).

use super::{Format, Input, codes};
use crate::diag::Diag;

/// The format of an input, or a diagnostic saying what it looked like.
pub fn detect(input: &Input) -> Result<Format, Diag> {
    let text = input.text.trim_start_matches('\u{feff}');
    let first = input
        .lines()
        .into_iter()
        .find(|(_, l)| !l.trim().is_empty());
    let Some((offset, line)) = first else {
        return Err(Diag::error(
            codes::UNKNOWN_FORMAT,
            format!("{}: the file is empty", input.name),
        )
        .help("collect it again; see docs/collect.md"));
    };
    let trimmed = line.trim().trim_start_matches('\u{feff}');
    if trimmed.starts_with("Windows Registry Editor Version") || trimmed == "REGEDIT4" {
        return Ok(Format::Reg);
    }
    if trimmed.starts_with("[SC]") || trimmed.starts_with("SERVICE_NAME:") {
        return Ok(Format::Sc);
    }
    if trimmed.starts_with("#TYPE") {
        return Ok(Format::Csv);
    }
    if trimmed.starts_with("Node,") {
        return Ok(Format::Wmic);
    }
    if trimmed.starts_with('"') && trimmed.contains("\",\"") {
        return Ok(Format::Csv);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return detect_json(input, text);
    }
    let end = offset + line.len();
    Err(Diag::error(
        codes::UNKNOWN_FORMAT,
        format!("{}: cannot tell what this file is", input.name),
    )
    .label(
        input.span(offset, end),
        "this first line is not one import recognises",
    )
    .help(
        "import reads sc transcripts, wmic CSV (/format:csv), Get-Service or Win32_Service \
         JSON, Export-Csv output and .reg exports; a facts file goes to `--facts`; \
         `--from` forces a format",
    ))
}

/// Keys that only a `Win32_Service` object has.
const CIM_KEYS: [&str; 4] = ["StartMode", "StartName", "CimClass", "__CLASS"];
/// Keys that only a `ServiceController` object has.
const GET_SERVICE_KEYS: [&str; 4] = [
    "ServiceName",
    "CanPauseAndContinue",
    "ServicesDependedOn",
    "StartType",
];

fn detect_json(input: &Input, text: &str) -> Result<Format, Diag> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let offset = crate::source::offset_of(&input.text, e.line(), e.column().max(1));
            return Err(Diag::error(
                codes::UNPARSEABLE,
                format!("{}: the JSON does not parse: {e}", input.name),
            )
            .label(input.span(offset, offset), "here")
            .help("the file looks cut short or edited; collect it again"));
        }
    };
    // Some arrays come out of ConvertTo-Json as `{"value": [...], "Count": n}`.
    let list = match &value {
        serde_json::Value::Object(map) if map.len() == 2 && map.contains_key("Count") => {
            map.get("value").unwrap_or(&value)
        }
        other => other,
    };
    let first = match list {
        serde_json::Value::Array(items) => items.first(),
        other => Some(other),
    };
    if let Some(serde_json::Value::Object(map)) = first {
        if CIM_KEYS.iter().any(|k| map.contains_key(*k)) {
            return Ok(Format::Cim);
        }
        if GET_SERVICE_KEYS.iter().any(|k| map.contains_key(*k)) {
            return Ok(Format::GetService);
        }
    }
    Err(Diag::error(
        codes::UNKNOWN_FORMAT,
        format!(
            "{}: this JSON is neither Get-Service nor Win32_Service output",
            input.name
        ),
    )
    .label(input.span(0, 1.min(input.text.len())), "this document")
    .help(
        "a service list needs `Name` with `Status`/`StartType` (Get-Service) or \
         `State`/`StartMode` (Win32_Service); a facts file goes to `--facts`; an \
         expolicy snapshot is read by `eval` directly",
    ))
}
