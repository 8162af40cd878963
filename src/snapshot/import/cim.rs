//! `Get-CimInstance Win32_Service | ConvertTo-Json` and `Get-WmiObject Win32_Service |
//! ConvertTo-Json`: `State` "Running", `StartMode` "Auto", `StartName` the account,
//! `DelayedAutoStart`, `SystemName` the host.

use super::records::Dialect;
use super::{Extract, Input};

pub fn parse(input: &Input) -> Extract {
    super::powershell::parse_json(input, Dialect::Win32Service)
}
