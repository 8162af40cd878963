//! `Get-Service | ConvertTo-Json` from Windows PowerShell 5.1 (and PowerShell 7): integer enums
//! (`Status` 4 = Running, `StartType` 2 = Automatic), a single object instead of an array when one
//! service matched, the `{"value": [...], "Count": n}` wrapper some arrays get, and nested
//! `ServicesDependedOn` objects whose own lists the depth limit flattened to strings.

use serde_json::Value;

use super::records::{self, Dialect, Notes, Properties};
use super::{Extract, Input, codes};
use crate::diag::Diag;
use crate::snapshot::locate;

pub fn parse(input: &Input) -> Extract {
    parse_json(input, Dialect::GetService)
}

/// Parses a JSON document of service objects in the given dialect.
pub fn parse_json(input: &Input, dialect: Dialect) -> Extract {
    let mut extract = Extract::default();
    let text = input.text.trim_start_matches('\u{feff}');
    let bom = input.text.len() - text.len();
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let offset = bom + crate::source::offset_of(text, e.line(), e.column().max(1));
            extract.diags.push(
                Diag::error(
                    codes::UNPARSEABLE,
                    format!("{}: the JSON does not parse: {e}", input.name),
                )
                .label(input.span(offset, offset), "here")
                .help("the file looks cut short or edited; collect it again"),
            );
            return extract;
        }
    };
    // Where the list of objects is, as a JSON pointer prefix.
    let (items, prefix): (Vec<&Value>, Vec<String>) = match &value {
        Value::Array(items) => (items.iter().collect(), Vec::new()),
        Value::Object(map)
            if map.len() == 2
                && map.contains_key("Count")
                && map.get("value").is_some_and(Value::is_array) =>
        {
            let items = map
                .get("value")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            (items, vec!["value".to_string()])
        }
        Value::Object(_) => (vec![&value], Vec::new()),
        _ => {
            extract.diags.push(
                Diag::error(
                    codes::UNPARSEABLE,
                    format!("{}: expected service objects", input.name),
                )
                .label(
                    input.span(bom, input.text.len()),
                    "not an object or a list of objects",
                )
                .help("pipe the services to ConvertTo-Json: `Get-Service | ConvertTo-Json`"),
            );
            return extract;
        }
    };
    let single = matches!(value, Value::Object(_)) && prefix.is_empty();
    let mut notes = Notes::default();
    for (i, item) in items.iter().enumerate() {
        let mut pointer: Vec<String> = prefix.clone();
        if !single {
            pointer.push(i.to_string());
        }
        let segs: Vec<&str> = pointer.iter().map(String::as_str).collect();
        let (start, end) = locate::locate(text, &segs).unwrap_or((0, 0));
        let (start, end) = (start + bom, end + bom);
        let object_span = input.span(start, end);
        let Value::Object(map) = item else {
            extract.diags.push(
                Diag::error(
                    codes::UNPARSEABLE,
                    format!("{}: element {i} is not a service object", input.name),
                )
                .label(object_span, "expected an object")
                .help("the list must hold only service objects"),
            );
            continue;
        };
        let element = &input.text[start..end];
        let mut props = Properties::new();
        for (key, v) in map {
            let span = match locate::locate(element, &[key.as_str()]) {
                Some((s, e)) => input.span(start + s, start + e),
                None => object_span,
            };
            props.insert(key.to_ascii_lowercase(), (v.clone(), span));
        }
        if let Some(record) = records::service(
            input,
            dialect,
            &props,
            object_span,
            &mut notes,
            &mut extract,
        ) {
            extract.services.push(record);
        }
    }
    records::lost_dependencies(input, &notes, &mut extract);
    extract
}
