//! The snapshot v1 data model (`../shared/spec/snapshot-v1.md`).

use std::fmt;

use serde::{Deserialize, Serialize};

pub const FORMAT_V1: &str = "expolicy-snapshot/1";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(
    title = "expolicy host snapshot, version 1",
    description = "One Windows host at one moment: its services and free-form facts."
)]
pub struct Snapshot {
    #[schemars(extend("const" = "expolicy-snapshot/1"))]
    pub format: String,
    pub host: Host,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<String>,
    pub services: Vec<Service>,
    #[serde(default = "empty_facts")]
    #[schemars(extend("type" = "object"))]
    pub facts: serde_json::Value,
}

fn empty_facts() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Host {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Service {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ServiceState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_type: Option<StartType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `None` means the collector did not say: not the same as "no dependencies".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        description = "SCM names of the services this one depends on directly. Absent means the collector did not say, which is not the same as no dependencies."
    )]
    pub depends_on: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Running,
    Stopped,
    Paused,
    StartPending,
    StopPending,
    ContinuePending,
    PausePending,
}

impl ServiceState {
    pub const ALL: [ServiceState; 7] = [
        ServiceState::Running,
        ServiceState::Stopped,
        ServiceState::Paused,
        ServiceState::StartPending,
        ServiceState::StopPending,
        ServiceState::ContinuePending,
        ServiceState::PausePending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Running => "running",
            ServiceState::Stopped => "stopped",
            ServiceState::Paused => "paused",
            ServiceState::StartPending => "start_pending",
            ServiceState::StopPending => "stop_pending",
            ServiceState::ContinuePending => "continue_pending",
            ServiceState::PausePending => "pause_pending",
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartType {
    Boot,
    System,
    Automatic,
    AutomaticDelayed,
    Manual,
    Disabled,
}

impl StartType {
    pub const ALL: [StartType; 6] = [
        StartType::Boot,
        StartType::System,
        StartType::Automatic,
        StartType::AutomaticDelayed,
        StartType::Manual,
        StartType::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StartType::Boot => "boot",
            StartType::System => "system",
            StartType::Automatic => "automatic",
            StartType::AutomaticDelayed => "automatic_delayed",
            StartType::Manual => "manual",
            StartType::Disabled => "disabled",
        }
    }
}

impl fmt::Display for StartType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The well-known Windows accounts, under every name Windows reports them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnownAccount {
    LocalSystem,
    LocalService,
    NetworkService,
}

impl WellKnownAccount {
    pub fn parse(account: &str) -> Option<WellKnownAccount> {
        // Compared without regard to ASCII case, without building a lower-case copy: this runs
        // for every `runs as` on every host.
        let account = account.trim();
        let strip = |prefix: &str| {
            account
                .get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .and_then(|_| account.get(prefix.len()..))
        };
        let bare = strip(".\\")
            .or_else(|| strip("nt authority\\"))
            .unwrap_or(account);
        let is = |name: &str| bare.eq_ignore_ascii_case(name);
        if is("localsystem") || is("system") || is("local system") {
            Some(WellKnownAccount::LocalSystem)
        } else if is("localservice") || is("local service") {
            Some(WellKnownAccount::LocalService)
        } else if is("networkservice") || is("network service") {
            Some(WellKnownAccount::NetworkService)
        } else {
            None
        }
    }
}

/// Whether two account names denote the same Windows account: aliases of the well-known
/// accounts are equal, other accounts compare case-insensitively (`.\x` is the local `x`).
pub fn same_account(a: &str, b: &str) -> bool {
    // The usual answer (`LocalSystem` runs as `LocalSystem`), without parsing either.
    if a == b {
        return true;
    }
    match (WellKnownAccount::parse(a), WellKnownAccount::parse(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.trim().eq_ignore_ascii_case(b.trim()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_system_aliases_are_one_account() {
        for alias in [
            "LocalSystem",
            ".\\LocalSystem",
            "localsystem",
            "NT AUTHORITY\\SYSTEM",
        ] {
            assert!(same_account(alias, "LocalSystem"), "{alias}");
        }
        assert!(!same_account("NT AUTHORITY\\LocalService", "LocalSystem"));
        assert!(same_account("CORP\\svc-x", "corp\\SVC-X"));
        assert!(!same_account("CORP\\svc-x", "LocalSystem"));
        for account in [
            "LocalSystem",
            "CORP\\svc-x",
            " odd ",
            "",
            "NT AUTHORITY\\SYSTEM",
        ] {
            assert!(same_account(account, account), "{account:?}");
        }
    }
}
