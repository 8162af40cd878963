<#
.SYNOPSIS
  expolicy collection for Windows Server 2008 R2 and later (Windows PowerShell 5.1 or PowerShell 7).
.DESCRIPTION
  Writes one folder that `expolicy import FOLDER` reads in one go.
  NOT TESTED ON WINDOWS: the parsers were tested against sample output only (docs/collect.md).
.EXAMPLE
  .\collect.ps1 -OutDir C:\expolicy\$env:COMPUTERNAME
#>
param([string]$OutDir = (Join-Path (Get-Location) "expolicy-$env:COMPUTERNAME"))
$ErrorActionPreference = 'Stop'
New-Item -ItemType Directory -Force -Path $OutDir | Out-Null

# State, start type and dependencies. The names of the services each one depends on are
# selected as text, so that ConvertTo-Json's depth limit cannot turn them into type names.
Get-Service |
  Select-Object Name, DisplayName, Status, StartType,
    @{ n = 'ServicesDependedOn'; e = { @($_.ServicesDependedOn | ForEach-Object Name) } } |
  ConvertTo-Json -Depth 3 |
  Out-File -Encoding utf8 (Join-Path $OutDir 'get-service.json')

# Accounts, delayed start and the host name (SystemName) come from Win32_Service.
$cim = if (Get-Command Get-CimInstance -ErrorAction SilentlyContinue) {
  Get-CimInstance Win32_Service
} else {
  Get-WmiObject Win32_Service
}
$cim |
  Select-Object Name, DisplayName, State, StartMode, StartName, DelayedAutoStart, SystemName |
  ConvertTo-Json |
  Out-File -Encoding utf8 (Join-Path $OutDir 'win32-service.json')

# Registry values mapped to facts and host details (static RPC ports, RPC port range, shares).
$keys = @{
  'computername.reg'   = 'HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName'
  'tcpip.reg'          = 'HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters'
  'currentversion.reg' = 'HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
  'msexchangesa.reg'   = 'HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeSA\Parameters'
  'msexchangeis.reg'   = 'HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeIS\ParametersSystem'
  'rpc-internet.reg'   = 'HKLM\SOFTWARE\Microsoft\Rpc\Internet'
  'shares.reg'         = 'HKLM\SYSTEM\CurrentControlSet\Services\lanmanserver\Shares'
}
foreach ($file in $keys.Keys | Sort-Object) {
  $path = Join-Path $OutDir $file
  # A missing key is expected (no static ports configured); reg.exe then exits 1.
  & reg.exe export $keys[$file] $path /y 2>$null | Out-Null
}

Write-Host "Collected into $OutDir"
Write-Host "Add facts.yaml (stores, backup, OWA...) to that folder, then: expolicy import `"$OutDir`""
