@echo off
rem expolicy collection for Windows Server 2003 / 2000 / XP: sc, wmic and reg only.
rem Run as a local administrator:  collect-2003.cmd C:\expolicy\%COMPUTERNAME%
rem Writes one folder; copy it off the host and run:  expolicy import FOLDER -o HOST.json
rem NOT TESTED ON WINDOWS: the parsers were tested against sample output only (docs/collect.md).
setlocal enableextensions
if "%~1"=="" (set "OUT=%CD%\expolicy-%COMPUTERNAME%") else (set "OUT=%~1")
if not exist "%OUT%" mkdir "%OUT%"
if errorlevel 1 (echo cannot create %OUT% & exit /b 2)

rem Service state. Without bufsize= the 2003 sc lists only the first batch of services and
rem prints "more data"; expolicy import refuses such a transcript.
sc query state= all bufsize= 65536 > "%OUT%\sc-query.txt"

rem Start type, account and dependencies: one sc qc per service, appended to one file.
if exist "%OUT%\sc-qc.txt" del "%OUT%\sc-qc.txt"
for /f "tokens=2" %%S in ('findstr /b /c:"SERVICE_NAME:" "%OUT%\sc-query.txt"') do (
  sc qc "%%S" 8192 >> "%OUT%\sc-qc.txt"
)

rem The same services through WMI: the Node column names the host. wmic writes UTF-16LE.
wmic service get DisplayName,Name,StartMode,StartName,State /format:csv > "%OUT%\wmic-services.csv"

rem Registry values mapped to facts and host details. reg export on 2003 has no /y, so remove
rem old exports first. Each export is UTF-16LE with a byte-order mark.
for %%F in (computername tcpip currentversion msexchangesa msexchangeis rpc-internet shares) do (
  if exist "%OUT%\%%F.reg" del "%OUT%\%%F.reg"
)
reg export "HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName" "%OUT%\computername.reg" >nul
reg export "HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters" "%OUT%\tcpip.reg" >nul
reg export "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" "%OUT%\currentversion.reg" >nul
reg export "HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeSA\Parameters" "%OUT%\msexchangesa.reg" >nul
reg export "HKLM\SYSTEM\CurrentControlSet\Services\MSExchangeIS\ParametersSystem" "%OUT%\msexchangeis.reg" >nul
reg export "HKLM\SOFTWARE\Microsoft\Rpc\Internet" "%OUT%\rpc-internet.reg" >nul
reg export "HKLM\SYSTEM\CurrentControlSet\Services\lanmanserver\Shares" "%OUT%\shares.reg" >nul
rem A key that does not exist (no static ports, no RPC range) leaves no file: that is expected.

echo Collected into %OUT%
echo Add facts.yaml (stores, backup, OWA...) to that folder, then: expolicy import "%OUT%"
endlocal
