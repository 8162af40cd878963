//! Service objects as PowerShell serialises them (JSON objects, CSV rows): the properties of
//! `System.ServiceProcess.ServiceController` (`Get-Service`) or of `Win32_Service`
//! (`Get-CimInstance`, `Get-WmiObject`, `wmic`), mapped to service records.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Extract, Input, Located, ServiceRecord, codes};
use crate::diag::Diag;
use crate::snapshot::{ServiceState, StartType};
use crate::source::Span;

/// Which object the properties belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `ServiceController`: `Status` and `StartType`, integer enums in Windows PowerShell 5.1's
    /// JSON, names in CSV.
    GetService,
    /// `Win32_Service`: `State`, `StartMode`, `StartName`.
    Win32Service,
}

/// One object's properties, by lower-cased name, with where each value is.
pub type Properties = BTreeMap<String, (Value, Span)>;

/// `ServiceController.Status` (`ServiceControllerStatus`).
const STATUS: [(&str, i64, ServiceState); 7] = [
    ("Stopped", 1, ServiceState::Stopped),
    ("StartPending", 2, ServiceState::StartPending),
    ("StopPending", 3, ServiceState::StopPending),
    ("Running", 4, ServiceState::Running),
    ("ContinuePending", 5, ServiceState::ContinuePending),
    ("PausePending", 6, ServiceState::PausePending),
    ("Paused", 7, ServiceState::Paused),
];

/// `ServiceController.StartType` (`ServiceStartMode`).
const START_TYPE: [(&str, i64, StartType); 5] = [
    ("Boot", 0, StartType::Boot),
    ("System", 1, StartType::System),
    ("Automatic", 2, StartType::Automatic),
    ("Manual", 3, StartType::Manual),
    ("Disabled", 4, StartType::Disabled),
];

/// `Win32_Service.State`.
const WMI_STATE: [(&str, ServiceState); 7] = [
    ("Stopped", ServiceState::Stopped),
    ("Start Pending", ServiceState::StartPending),
    ("Stop Pending", ServiceState::StopPending),
    ("Running", ServiceState::Running),
    ("Continue Pending", ServiceState::ContinuePending),
    ("Pause Pending", ServiceState::PausePending),
    ("Paused", ServiceState::Paused),
];

/// `Win32_Service.StartMode`.
const WMI_START_MODE: [(&str, StartType); 6] = [
    ("Boot", StartType::Boot),
    ("System", StartType::System),
    ("Auto", StartType::Automatic),
    ("Automatic", StartType::Automatic),
    ("Manual", StartType::Manual),
    ("Disabled", StartType::Disabled),
];

/// What `ConvertTo-Json` and `Export-Csv` leave of a nested list of services once past their
/// depth: the type name.
const TYPE_NAME: &str = "System.ServiceProcess.ServiceController";

/// Per-file state that only needs saying once.
#[derive(Default)]
pub struct Notes {
    /// Dependencies were lost to a type name (reported once per file).
    pub lost_dependencies: Option<Span>,
}

fn get<'p>(props: &'p Properties, names: &[&str]) -> Option<&'p (Value, Span)> {
    names
        .iter()
        .find_map(|n| props.get(&n.to_ascii_lowercase()))
        .filter(|(v, _)| !v.is_null())
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Maps one object to a service record, reporting what it cannot read.
pub fn service(
    input: &Input,
    dialect: Dialect,
    props: &Properties,
    object_span: Span,
    notes: &mut Notes,
    extract: &mut Extract,
) -> Option<ServiceRecord> {
    let Some((name, name_span)) = get(props, &["Name", "ServiceName"]) else {
        extract.diags.push(
            Diag::error(
                codes::UNPARSEABLE,
                format!("{}: a service object without `Name`", input.name),
            )
            .label(object_span, "this object has no `Name`")
            .help("select the `Name` property when collecting (Select-Object Name, …)"),
        );
        return None;
    };
    let Some(name) = text(name).filter(|n| !n.trim().is_empty()) else {
        extract.diags.push(
            Diag::error(
                codes::UNKNOWN_VALUE,
                format!("{}: a service `Name` that is not a name", input.name),
            )
            .label(*name_span, "expected the SCM name as text")
            .help("collect the file again"),
        );
        return None;
    };
    let mut record = ServiceRecord::new(name.trim().to_string(), *name_span);
    if let Some((v, span)) = get(props, &["DisplayName"]) {
        if let Some(t) = text(v) {
            record.display_name = Some(Located::new(t, *span));
        }
    }
    match dialect {
        Dialect::GetService => get_service(input, props, &mut record, notes, extract),
        Dialect::Win32Service => win32_service(input, props, &mut record, extract),
    }
    host(input, props, extract);
    Some(record)
}

fn get_service(
    input: &Input,
    props: &Properties,
    record: &mut ServiceRecord,
    notes: &mut Notes,
    extract: &mut Extract,
) {
    if let Some((v, span)) = get(props, &["Status"]) {
        match enum_value(v, &STATUS) {
            Some(state) => record.state = Some(Located::new(state, *span)),
            None => unknown(
                input,
                *span,
                "Status",
                v,
                &STATUS.map(|s| (s.0, Some(s.1))),
                extract,
            ),
        }
    }
    if let Some((v, span)) = get(props, &["StartType"]) {
        let delayed = matches!(v, Value::String(s) if s == "AutomaticDelayedStart");
        if delayed {
            record.start_type = Some(Located::new(StartType::AutomaticDelayed, *span));
        } else {
            match enum_value(v, &START_TYPE) {
                Some(t) => record.start_type = Some(Located::new(t, *span)),
                None => unknown(
                    input,
                    *span,
                    "StartType",
                    v,
                    &START_TYPE.map(|s| (s.0, Some(s.1))),
                    extract,
                ),
            }
        }
    }
    if let Some((v, span)) = get(props, &["UserName", "StartName"]) {
        if let Some(t) = text(v).filter(|t| !t.is_empty()) {
            record.account = Some(Located::new(t, *span));
        }
    }
    if let Some((v, span)) = get(props, &["ServicesDependedOn", "RequiredServices"]) {
        match dependencies(v) {
            Ok(names) => record.depends_on = Some(Located::new(names, *span)),
            Err(()) => {
                notes.lost_dependencies.get_or_insert(*span);
            }
        }
    }
}

fn win32_service(
    input: &Input,
    props: &Properties,
    record: &mut ServiceRecord,
    extract: &mut Extract,
) {
    if let Some((v, span)) = get(props, &["State"]) {
        let word = text(v).unwrap_or_default();
        match WMI_STATE.iter().find(|(w, _)| w.eq_ignore_ascii_case(&word)) {
            Some((_, state)) => record.state = Some(Located::new(*state, *span)),
            None if word == "Unknown" => extract.diags.push(
                Diag::warning(
                    codes::NOT_COLLECTED,
                    format!(
                        "{}: Windows reported the state of `{}` as Unknown; the snapshot leaves it out",
                        input.name, record.name.value
                    ),
                )
                .label(*span, "state Unknown")
                .help("rules that read this service's state will report it as missing; collect again"),
            ),
            None => unknown(input, *span, "State", v, &WMI_STATE.map(|s| (s.0, None)), extract),
        }
    }
    if let Some((v, span)) = get(props, &["StartMode"]) {
        let word = text(v).unwrap_or_default();
        match WMI_START_MODE
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(&word))
        {
            Some(&(_, found)) => {
                let mut start_type = found;
                let delayed = get(props, &["DelayedAutoStart"]).is_some_and(|(v, _)| {
                    matches!(v, Value::Bool(true))
                        || text(v).is_some_and(|t| t.eq_ignore_ascii_case("true"))
                });
                if delayed && start_type == StartType::Automatic {
                    start_type = StartType::AutomaticDelayed;
                }
                record.start_type = Some(Located::new(start_type, *span));
            }
            None => unknown(
                input,
                *span,
                "StartMode",
                v,
                &WMI_START_MODE.map(|s| (s.0, None)),
                extract,
            ),
        }
    }
    if let Some((v, span)) = get(props, &["StartName"]) {
        if let Some(t) = text(v).filter(|t| !t.is_empty()) {
            record.account = Some(Located::new(t, *span));
        }
    }
}

/// Notes the host name the object names (`SystemName`, `PSComputerName`, `__SERVER`,
/// `MachineName` unless it is `.`).
fn host(input: &Input, props: &Properties, extract: &mut Extract) {
    let Some((v, span)) = get(
        props,
        &["SystemName", "PSComputerName", "__SERVER", "MachineName"],
    ) else {
        return;
    };
    let Some(name) = text(v).filter(|n| !n.is_empty() && n != "." && n != "localhost") else {
        return;
    };
    note_host(input, Located::new(name, *span), extract);
}

/// Records the host name one input gives; two different names in one input are an error.
pub fn note_host(input: &Input, name: Located<String>, extract: &mut Extract) {
    match &extract.host.name {
        None => extract.host.name = Some(name),
        Some(old) if old.value.eq_ignore_ascii_case(&name.value) => {}
        Some(old) => {
            let diag = Diag::error(
                codes::HOST_CONFLICT,
                format!(
                    "{}: this file describes two hosts, `{}` and `{}`",
                    input.name, old.value, name.value
                ),
            )
            .label(name.span, format!("host `{}`", name.value))
            .label(old.span, format!("host `{}`", old.value))
            .help("one snapshot describes one host; collect each host into its own file");
            extract.diags.push(diag);
        }
    }
}

fn enum_value<T: Copy>(value: &Value, table: &[(&str, i64, T)]) -> Option<T> {
    match value {
        Value::Number(n) => {
            let n = n.as_i64()?;
            table.iter().find(|(_, c, _)| *c == n).map(|(_, _, v)| *v)
        }
        Value::String(s) => {
            if let Ok(n) = s.trim().parse::<i64>() {
                return table.iter().find(|(_, c, _)| *c == n).map(|(_, _, v)| *v);
            }
            table
                .iter()
                .find(|(w, _, _)| w.eq_ignore_ascii_case(s.trim()))
                .map(|(_, _, v)| *v)
        }
        _ => None,
    }
}

fn unknown(
    input: &Input,
    span: Span,
    property: &str,
    value: &Value,
    known: &[(&str, Option<i64>)],
    extract: &mut Extract,
) {
    let listed = known
        .iter()
        .map(|(w, c)| match c {
            Some(c) => format!("{c} ({w})"),
            None => format!("\"{w}\""),
        })
        .collect::<Vec<_>>()
        .join(", ");
    extract.diags.push(
        Diag::error(
            codes::UNKNOWN_VALUE,
            format!("{}: unknown {property} {value}", input.name),
        )
        .label(span, format!("not a {property} value this importer knows"))
        .help(format!("{property} is one of: {listed}")),
    );
}

/// A service's dependencies as serialised: objects with `Name`, plain names, the names joined
/// by spaces (what the depth limit of `ConvertTo-Json` leaves), or only a type name (`Err`).
fn dependencies(value: &Value) -> Result<Vec<String>, ()> {
    let mut names = Vec::new();
    let push_text = |s: &str, names: &mut Vec<String>| -> Result<(), ()> {
        for word in s.split_whitespace() {
            if word.starts_with(TYPE_NAME) {
                return Err(());
            }
            names.push(word.to_string());
        }
        Ok(())
    };
    match value {
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(map) => {
                        let name = map
                            .iter()
                            .find(|(k, _)| {
                                k.eq_ignore_ascii_case("Name")
                                    || k.eq_ignore_ascii_case("ServiceName")
                            })
                            .and_then(|(_, v)| v.as_str())
                            .ok_or(())?;
                        names.push(name.to_string());
                    }
                    Value::String(s) => push_text(s, &mut names)?,
                    _ => return Err(()),
                }
            }
        }
        Value::String(s) => push_text(s, &mut names)?,
        Value::Object(map) => {
            let name = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Name"))
                .and_then(|(_, v)| v.as_str())
                .ok_or(())?;
            names.push(name.to_string());
        }
        _ => return Err(()),
    }
    Ok(names)
}

/// The warning for dependencies that only survive as a type name.
pub fn lost_dependencies(input: &Input, notes: &Notes, extract: &mut Extract) {
    if let Some(span) = notes.lost_dependencies {
        extract.diags.push(
            Diag::warning(
                codes::NOT_COLLECTED,
                format!(
                    "{}: the services' dependencies were serialised as a type name, not as services; they are left out",
                    input.name
                ),
            )
            .label(span, "a type name, e.g. System.ServiceProcess.ServiceController[]")
            .help("select the names when collecting: `@{n='ServicesDependedOn';e={$_.ServicesDependedOn.Name -join ' '}}`, or add `sc qc` transcripts"),
        );
    }
}
