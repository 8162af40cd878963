#!/usr/bin/env python3
"""Writes the test cases of the exchange2003 pack, deterministically.

Every case is a snapshot of the healthy host EXCH01 with one focused change, and an expect file
listing the outcomes the case is about. Run from anywhere:

    python3 policies/exchange2003/tests/generate.py

It rewrites `policies/exchange2003/tests/*.snapshot.json`, `*.expect.json` and the two example
snapshots in `examples/snapshots/`. The generated files are committed; this script is how they
were made, and how to change them consistently.
"""

import copy
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
HOST = "EXCH01"

# The rules of the pack, by bare name, with their outcome on the healthy host.
HEALTHY_OUTCOMES = {
    "event-log-running": "pass",
    "ntlm-provider-running": "pass",
    "rpc-running-automatic": "pass",
    "server-before-system-attendant": "pass",
    "workstation-before-system-attendant": "pass",
    "sam-running": "pass",
    "wmi-before-management": "pass",
    "exchange-services-run-as-localsystem": "pass",
    "tcpip-installed": "pass",
    "com-event-system-enabled": "pass",
    "com-system-application-enabled": "pass",
    "com-system-application-running": "pass",
    "error-reporting-settled": "pass",
    "http-ssl-for-https": "pass",
    "ipsec-services-running": "pass",
    "msearch-for-full-text-indexing": "pass",
    "shadow-copy-provider-enabled": "pass",
    "shadow-copy-provider-follows-vss": "pass",
    "netlogon-running": "pass",
    "performance-logs-running": "not_applicable",
    "remote-registry-for-esm": "pass",
    "system-event-notification-running": "pass",
    "vss-for-exchange-requestor": "pass",
    "endpoint-mapper-first": "pass",
    "static-rpc-ports-valid": "pass",
    "address-share-present": "pass",
    "message-tracking-share": "pass",
    "no-dependency-cycles": "pass",
    "no-dangling-dependencies": "pass",
}


def svc(name, display, state, start_type, account, depends_on):
    record = {"name": name, "display_name": display, "state": state, "start_type": start_type}
    # Kernel drivers have no logon account: `sc qc` prints an empty SERVICE_START_NAME.
    record["account"] = account
    record["depends_on"] = list(depends_on)
    return record


LOCAL_SYSTEM = "LocalSystem"
NETWORK_SERVICE = "NT AUTHORITY\\NetworkService"
LOCAL_SERVICE = "NT AUTHORITY\\LocalService"


def healthy():
    """Windows Server 2003 SP2 with Exchange Server 2003 SP2, a back-end mailbox server."""
    services = [
        # Kernel drivers that services depend on (`sc query type= driver`).
        svc("AFD", "AFD", "running", "system", "", []),
        svc("HTTP", "HTTP", "running", "manual", "", []),
        svc("IPSec", "IPSEC driver", "running", "system", "", ["Tcpip"]),
        svc("NetBT", "NetBios over Tcpip", "running", "system", "", ["Tcpip"]),
        svc("Tcpip", "TCP/IP Protocol Driver", "running", "system", "", []),
        # Windows services.
        svc("Browser", "Computer Browser", "running", "automatic", LOCAL_SYSTEM,
            ["LanmanWorkstation", "LanmanServer"]),
        svc("COMSysApp", "COM+ System Application", "running", "manual", LOCAL_SYSTEM,
            ["RpcSs", "EventSystem"]),
        svc("Dhcp", "DHCP Client", "running", "automatic", LOCAL_SYSTEM,
            ["Tcpip", "Afd", "NetBT"]),
        svc("Dnscache", "DNS Client", "running", "automatic", NETWORK_SERVICE, ["Tcpip"]),
        svc("ERSvc", "Error Reporting Service", "running", "automatic", LOCAL_SYSTEM, ["RpcSs"]),
        svc("Eventlog", "Event Log", "running", "automatic", LOCAL_SYSTEM, []),
        svc("EventSystem", "COM+ Event System", "running", "automatic", LOCAL_SYSTEM, ["rpcss"]),
        svc("HTTPFilter", "HTTP SSL", "running", "manual", LOCAL_SYSTEM, ["HTTP"]),
        svc("lanmanserver", "Server", "running", "automatic", LOCAL_SYSTEM, []),
        svc("lanmanworkstation", "Workstation", "running", "automatic", LOCAL_SYSTEM, []),
        svc("LmHosts", "TCP/IP NetBIOS Helper", "running", "automatic", LOCAL_SERVICE,
            ["NetBT", "Afd"]),
        svc("MSDTC", "Distributed Transaction Coordinator", "running", "automatic",
            NETWORK_SERVICE, ["RPCSS", "SamSS"]),
        svc("MSSEARCH", "Microsoft Search", "running", "automatic", LOCAL_SYSTEM,
            ["RPCSS", "NtLmSsp"]),
        svc("Netlogon", "Net Logon", "running", "automatic", LOCAL_SYSTEM,
            ["LanmanWorkstation"]),
        svc("NtLmSsp", "NT LM Security Support Provider", "running", "manual", LOCAL_SYSTEM, []),
        svc("PlugPlay", "Plug and Play", "running", "automatic", LOCAL_SYSTEM, []),
        svc("PolicyAgent", "IPSEC Services", "running", "automatic", LOCAL_SYSTEM,
            ["RPCSS", "Tcpip", "IPSec"]),
        svc("RemoteRegistry", "Remote Registry", "running", "automatic", LOCAL_SERVICE,
            ["RPCSS"]),
        svc("RpcSs", "Remote Procedure Call (RPC)", "running", "automatic", NETWORK_SERVICE, []),
        svc("SamSs", "Security Accounts Manager", "running", "automatic", LOCAL_SYSTEM, ["RPCSS"]),
        svc("SENS", "System Event Notification", "running", "automatic", LOCAL_SYSTEM,
            ["EventSystem"]),
        svc("Spooler", "Print Spooler", "running", "automatic", LOCAL_SYSTEM, ["RPCSS"]),
        svc("swprv", "Microsoft Software Shadow Copy Provider", "stopped", "manual",
            LOCAL_SYSTEM, ["RPCSS"]),
        svc("SysmonLog", "Performance Logs and Alerts", "stopped", "manual", NETWORK_SERVICE, []),
        svc("TermService", "Terminal Services", "running", "manual", LOCAL_SYSTEM, ["RPCSS"]),
        svc("VSS", "Volume Shadow Copy", "stopped", "manual", LOCAL_SYSTEM, ["RPCSS"]),
        svc("W32Time", "Windows Time", "running", "automatic", LOCAL_SYSTEM, []),
        svc("winmgmt", "Windows Management Instrumentation", "running", "automatic",
            LOCAL_SYSTEM, ["RPCSS"]),
        # IIS, which Exchange 2003 extends.
        svc("IISADMIN", "IIS Admin Service", "running", "automatic", LOCAL_SYSTEM,
            ["RPCSS", "SamSS"]),
        svc("NNTPSVC", "Network News Transfer Protocol (NNTP)", "stopped", "disabled",
            LOCAL_SYSTEM, ["IISADMIN"]),
        svc("SMTPSVC", "Simple Mail Transfer Protocol (SMTP)", "running", "automatic",
            LOCAL_SYSTEM, ["IISADMIN"]),
        svc("W3SVC", "World Wide Web Publishing Service", "running", "automatic", LOCAL_SYSTEM,
            ["RpcSs", "HTTP", "IISADMIN"]),
        # Exchange Server 2003 (POP3, IMAP4 and SRS are disabled by setup).
        svc("IMAP4Svc", "Microsoft Exchange IMAP4", "stopped", "disabled", LOCAL_SYSTEM,
            ["IISADMIN"]),
        svc("MSExchangeES", "Microsoft Exchange Event", "stopped", "manual", LOCAL_SYSTEM,
            ["MSExchangeIS"]),
        svc("MSExchangeIS", "Microsoft Exchange Information Store", "running", "automatic",
            LOCAL_SYSTEM, ["MSExchangeSA"]),
        svc("MSExchangeMGMT", "Microsoft Exchange Management", "running", "automatic",
            LOCAL_SYSTEM, ["RPCSS", "Winmgmt"]),
        svc("MSExchangeMTA", "Microsoft Exchange MTA Stacks", "running", "automatic",
            LOCAL_SYSTEM, ["MSExchangeSA"]),
        svc("MSExchangeSA", "Microsoft Exchange System Attendant", "running", "automatic",
            LOCAL_SYSTEM, ["EventLog", "NtLmSsp", "RPCSS", "LanmanServer", "LanmanWorkstation"]),
        svc("MSExchangeSRS", "Microsoft Exchange Site Replication Service", "stopped",
            "disabled", LOCAL_SYSTEM, ["MSExchangeSA"]),
        svc("POP3Svc", "Microsoft Exchange POP3", "stopped", "disabled", LOCAL_SYSTEM,
            ["IISADMIN"]),
        svc("RESvc", "Microsoft Exchange Routing Engine", "running", "automatic", LOCAL_SYSTEM,
            ["IISADMIN"]),
        # The backup agent, which logs on with a domain account.
        svc("BackupExecAgentAccelerator", "Backup Exec Remote Agent for Windows Systems",
            "running", "automatic", "CORP\\svc-backup", ["RPCSS"]),
    ]
    return {
        "format": "expolicy-snapshot/1",
        "host": {"name": HOST, "os": "Windows Server 2003 SP2", "domain": "corp.example"},
        "collected_at": "2026-11-26T09:30:00Z",
        "services": services,
        "facts": {
            "network": {"tcpip": True, "ipsec": {"enabled": True}},
            "shares": ["ADMIN$", "Address", "C$", "D$", "EXCH01.log", "IPC$"],
            "exchange": {
                "version": "6.5.7638.1",
                "stores": [
                    {"name": "Mailbox Store (EXCH01)", "kind": "mailbox",
                     "full_text_indexing": True},
                    {"name": "Executives (EXCH01)", "kind": "mailbox",
                     "full_text_indexing": False},
                    {"name": "Public Folder Store (EXCH01)", "kind": "public",
                     "full_text_indexing": False},
                ],
                "owa": {"enabled": True, "https": True},
                "rpc_over_http": {"enabled": False, "https": False},
                "esm_remote_admin": True,
                "message_tracking": {"enabled": True},
                "perf_collection": False,
                "static_rpc_ports": {
                    "system_attendant": 6001,
                    "nspi": 6002,
                    "information_store": 6003,
                },
            },
            "backup": {
                "product": "Symantec Backup Exec 11d",
                "uses_vss": True,
                "exchange_vss_requestor": True,
            },
        },
    }


# ---------------------------------------------------------------- editing helpers


def find(snapshot, name):
    for s in snapshot["services"]:
        if s["name"].lower() == name.lower():
            return s
    raise KeyError(name)


def set_service(snapshot, name, **fields):
    find(snapshot, name).update(fields)


def remove_service(snapshot, name):
    record = find(snapshot, name)
    snapshot["services"].remove(record)


def rename_service(snapshot, name, new_name):
    find(snapshot, name)["name"] = new_name


# ---------------------------------------------------------------- the cases

CASES = []


def case(name, description, outcomes):
    """Registers a variant of the healthy host: `edit` changes a deep copy of it."""

    def register(edit):
        unknown = set(outcomes) - set(HEALTHY_OUTCOMES)
        if unknown:
            sys.exit(f"{name}: unknown rules {sorted(unknown)}")
        CASES.append((name, description, outcomes, edit))
        return edit

    return register


@case("healthy", "Healthy Windows Server 2003 SP2 + Exchange 2003 SP2 back-end server: every "
      "rule passes, or does not apply (performance data collection is not wanted).",
      HEALTHY_OUTCOMES)
def _(s):
    pass


# EX-01
@case("ex01-eventlog-stopped", "Event Log is stopped.", {"event-log-running": "fail"})
def _(s):
    set_service(s, "Eventlog", state="stopped")


@case("ex01-eventlog-missing", "The Event Log record is missing entirely: the rule cannot be "
      "decided (error, never pass), and System Attendant's dependency on it dangles.",
      {"event-log-running": "error", "no-dangling-dependencies": "fail"})
def _(s):
    remove_service(s, "Eventlog")


# EX-02
@case("ex02-ntlmssp-stopped", "NT LM Security Support Provider is stopped.",
      {"ntlm-provider-running": "fail"})
def _(s):
    set_service(s, "NtLmSsp", state="stopped")


@case("ex02-ntlmssp-manual-running", "NT LM Security Support Provider is manual (its Windows "
      "Server 2003 default) and was started on demand: running is all EX-02 asks.",
      {"ntlm-provider-running": "pass"})
def _(s):
    set_service(s, "NtLmSsp", state="running", start_type="manual")


# EX-03
@case("ex03-rpcss-manual", "RPC is running but set to manual.", {"rpc-running-automatic": "fail"})
def _(s):
    set_service(s, "RpcSs", start_type="manual")


@case("ex03-rpcss-stopped-disabled", "RPC is stopped and disabled: both requirements of the "
      "rule fail, in one finding.", {"rpc-running-automatic": "fail"})
def _(s):
    set_service(s, "RpcSs", state="stopped", start_type="disabled")


# EX-04 and EX-05
@case("ex04-server-stopped", "Server is stopped: System Attendant's Address share and the "
      "message tracking share are unreachable.",
      {"server-before-system-attendant": "fail", "message-tracking-share": "fail"})
def _(s):
    set_service(s, "lanmanserver", state="stopped")


@case("ex04-sa-without-server-dependency", "System Attendant no longer depends on Server.",
      {"server-before-system-attendant": "fail"})
def _(s):
    set_service(s, "MSExchangeSA",
                depends_on=["EventLog", "NtLmSsp", "RPCSS", "LanmanWorkstation"])


@case("ex04-05-transitive-through-browser", "System Attendant reaches Server and Workstation "
      "only through Computer Browser, which depends on both: a transitive dependency is enough.",
      {"server-before-system-attendant": "pass", "workstation-before-system-attendant": "pass"})
def _(s):
    set_service(s, "MSExchangeSA", depends_on=["EventLog", "NtLmSsp", "RPCSS", "Browser"])


@case("ex04-sa-dependencies-unknown", "The collector did not report System Attendant's "
      "dependencies: every start-order rule that needs them is undecided, not passed.",
      {"server-before-system-attendant": "error", "workstation-before-system-attendant": "error",
       "endpoint-mapper-first": "error", "no-dependency-cycles": "error",
       "no-dangling-dependencies": "error"})
def _(s):
    del find(s, "MSExchangeSA")["depends_on"]


@case("ex05-sa-without-workstation-dependency", "System Attendant no longer depends on "
      "Workstation.", {"workstation-before-system-attendant": "fail"})
def _(s):
    set_service(s, "MSExchangeSA", depends_on=["EventLog", "NtLmSsp", "RPCSS", "LanmanServer"])


@case("ex05-workstation-paused", "Workstation is paused, which is not running.",
      {"workstation-before-system-attendant": "fail"})
def _(s):
    set_service(s, "lanmanworkstation", state="paused")


# EX-06
@case("ex06-samss-stopped", "Security Accounts Manager is stopped.", {"sam-running": "fail"})
def _(s):
    set_service(s, "SamSs", state="stopped")


# EX-07
@case("ex07-winmgmt-stopped", "WMI is stopped.", {"wmi-before-management": "fail"})
def _(s):
    set_service(s, "winmgmt", state="stopped")


@case("ex07-mgmt-without-wmi-dependency", "Exchange Management depends on RPC only.",
      {"wmi-before-management": "fail"})
def _(s):
    set_service(s, "MSExchangeMGMT", depends_on=["RPCSS"])


# EX-08
@case("ex08-domain-and-service-accounts", "The Information Store logs on with a domain "
      "account and POP3 (listed in lower case) as Local Service; the Net Logon rule still "
      "passes.", {"exchange-services-run-as-localsystem": "fail", "netlogon-running": "pass"})
def _(s):
    set_service(s, "MSExchangeIS", account="CORP\\svc-exchange")
    rename_service(s, "POP3Svc", "pop3svc")
    set_service(s, "pop3svc", account="NT AUTHORITY\\LocalService")


@case("ex08-localsystem-aliases", "Exchange services log on as `.\\LocalSystem`, "
      "`localsystem` and `NT AUTHORITY\\SYSTEM`: all the same account.",
      {"exchange-services-run-as-localsystem": "pass"})
def _(s):
    set_service(s, "MSExchangeIS", account=".\\LocalSystem")
    set_service(s, "MSExchangeMTA", account="localsystem")
    set_service(s, "RESvc", account="NT AUTHORITY\\SYSTEM")


# EX-09
@case("ex09-no-tcpip", "The snapshot says TCP/IP is not installed.", {"tcpip-installed": "fail"})
def _(s):
    s["facts"]["network"]["tcpip"] = False


@case("ex09-tcpip-missing", "The collector did not report network.tcpip: undecided, not "
      "passed.", {"tcpip-installed": "error"})
def _(s):
    del s["facts"]["network"]["tcpip"]


@case("ex09-tcpip-wrong-type", "network.tcpip is the string \"yes\" instead of a boolean: "
      "undecided, not passed.", {"tcpip-installed": "error"})
def _(s):
    s["facts"]["network"]["tcpip"] = "yes"


# EX-10
@case("ex10-eventsystem-disabled", "COM+ Event System is disabled.",
      {"com-event-system-enabled": "fail"})
def _(s):
    set_service(s, "EventSystem", state="stopped", start_type="disabled")


@case("ex10-eventsystem-manual", "COM+ Event System is manual and was started by its "
      "dependants: not disabled is all EX-10 asks.", {"com-event-system-enabled": "pass"})
def _(s):
    set_service(s, "EventSystem", start_type="manual")


# EX-11
@case("ex11-comsysapp-disabled", "COM+ System Application is disabled: the error-level rule "
      "fails and the warning about it being stopped stays quiet.",
      {"com-system-application-enabled": "fail",
       "com-system-application-running": "not_applicable"})
def _(s):
    set_service(s, "COMSysApp", state="stopped", start_type="disabled")


@case("ex11-comsysapp-stopped", "COM+ System Application is manual but stopped: a warning.",
      {"com-system-application-enabled": "pass", "com-system-application-running": "fail"})
def _(s):
    set_service(s, "COMSysApp", state="stopped")


# EX-12
@case("ex12-ersvc-disabled", "Error Reporting is disabled and stopped: no finding.",
      {"error-reporting-settled": "pass"})
def _(s):
    set_service(s, "ERSvc", state="stopped", start_type="disabled")


@case("ex12-ersvc-absent", "Error Reporting is not installed: the rule does not apply.",
      {"error-reporting-settled": "not_applicable"})
def _(s):
    remove_service(s, "ERSvc")


@case("ex12-ersvc-stop-pending", "Error Reporting hangs in stop_pending: information only.",
      {"error-reporting-settled": "fail"})
def _(s):
    set_service(s, "ERSvc", state="stop_pending")


# EX-13
@case("ex13-httpfilter-stopped", "Outlook Web Access uses HTTPS, but HTTP SSL is stopped.",
      {"http-ssl-for-https": "fail"})
def _(s):
    set_service(s, "HTTPFilter", state="stopped")


@case("ex13-rpc-over-http-httpfilter-disabled", "Only RPC over HTTP uses HTTPS, and HTTP SSL "
      "is disabled and stopped.", {"http-ssl-for-https": "fail"})
def _(s):
    s["facts"]["exchange"]["owa"] = {"enabled": True, "https": False}
    s["facts"]["exchange"]["rpc_over_http"] = {"enabled": True, "https": True}
    set_service(s, "HTTPFilter", state="stopped", start_type="disabled")


@case("ex13-no-https", "Neither Outlook Web Access nor RPC over HTTP uses HTTPS, so a stopped "
      "HTTP SSL does not matter.", {"http-ssl-for-https": "not_applicable"})
def _(s):
    s["facts"]["exchange"]["owa"] = {"enabled": True, "https": False}
    set_service(s, "HTTPFilter", state="stopped")


# EX-14
@case("ex14-policyagent-stopped", "IPSec is in use, but IPSEC Services is stopped.",
      {"ipsec-services-running": "fail"})
def _(s):
    set_service(s, "PolicyAgent", state="stopped")


@case("ex14-no-ipsec", "IPSec is not in use and IPSEC Services is stopped: does not apply.",
      {"ipsec-services-running": "not_applicable"})
def _(s):
    s["facts"]["network"]["ipsec"]["enabled"] = False
    set_service(s, "PolicyAgent", state="stopped")


# EX-15
@case("ex15-fulltext-msearch-stopped", "Two stores are indexed, but Microsoft Search is "
      "stopped; the finding names both stores.", {"msearch-for-full-text-indexing": "fail"})
def _(s):
    for store in s["facts"]["exchange"]["stores"]:
        if store["name"].startswith("Public"):
            store["full_text_indexing"] = True
    set_service(s, "MSSEARCH", state="stopped")


@case("ex15-no-fulltext-msearch-disabled", "No store is indexed and Microsoft Search is "
      "disabled: does not apply.", {"msearch-for-full-text-indexing": "not_applicable"})
def _(s):
    for store in s["facts"]["exchange"]["stores"]:
        store["full_text_indexing"] = False
    set_service(s, "MSSEARCH", state="stopped", start_type="disabled")


@case("ex15-stores-missing", "The collector did not report the stores: undecided.",
      {"msearch-for-full-text-indexing": "error"})
def _(s):
    del s["facts"]["exchange"]["stores"]


@case("ex15-store-field-wrong-type", "One store's full_text_indexing is the number 1: "
      "undecided, not passed.", {"msearch-for-full-text-indexing": "error"})
def _(s):
    s["facts"]["exchange"]["stores"][1]["full_text_indexing"] = 1


# EX-16
@case("ex16-swprv-disabled", "A third-party shadow-copy backup is in use, but the Software "
      "Shadow Copy Provider is disabled.",
      {"shadow-copy-provider-enabled": "fail",
       "shadow-copy-provider-follows-vss": "not_applicable"})
def _(s):
    set_service(s, "swprv", start_type="disabled")


@case("ex16-swprv-automatic", "The Software Shadow Copy Provider is automatic while Volume "
      "Shadow Copy is manual: a warning.",
      {"shadow-copy-provider-enabled": "pass", "shadow-copy-provider-follows-vss": "fail"})
def _(s):
    set_service(s, "swprv", start_type="automatic", state="running")


@case("ex16-ntbackup", "The backup product is Windows Backup (written `NTBackup`), which does "
      "not need the provider: a disabled swprv does not matter.",
      {"shadow-copy-provider-enabled": "not_applicable",
       "shadow-copy-provider-follows-vss": "not_applicable",
       "vss-for-exchange-requestor": "not_applicable"})
def _(s):
    s["facts"]["backup"] = {"product": "NTBackup", "uses_vss": False,
                            "exchange_vss_requestor": False}
    set_service(s, "swprv", start_type="disabled")


# EX-17
@case("ex17-netlogon-stopped", "Net Logon is stopped; the finding names the backup agent that "
      "logs on with a domain account.", {"netlogon-running": "fail"})
def _(s):
    set_service(s, "Netlogon", state="stopped")


# EX-18
@case("ex18-perf-wanted-sysmonlog-stopped", "Performance data collection is wanted, but "
      "Performance Logs and Alerts is stopped.", {"performance-logs-running": "fail"})
def _(s):
    s["facts"]["exchange"]["perf_collection"] = True


@case("ex18-perf-wanted-sysmonlog-running", "Performance data collection is wanted and "
      "Performance Logs and Alerts runs.", {"performance-logs-running": "pass"})
def _(s):
    s["facts"]["exchange"]["perf_collection"] = True
    set_service(s, "SysmonLog", state="running", start_type="automatic")


# EX-19
@case("ex19-remote-registry-stopped", "Exchange System Manager is used remotely, but Remote "
      "Registry is stopped.", {"remote-registry-for-esm": "fail"})
def _(s):
    set_service(s, "RemoteRegistry", state="stopped", start_type="manual")


@case("ex19-no-remote-esm", "Exchange System Manager is only used on the server: a stopped "
      "Remote Registry does not matter.", {"remote-registry-for-esm": "not_applicable"})
def _(s):
    s["facts"]["exchange"]["esm_remote_admin"] = False
    set_service(s, "RemoteRegistry", state="stopped", start_type="manual")


# EX-20
@case("ex20-sens-stopped", "System Event Notification is stopped.",
      {"system-event-notification-running": "fail"})
def _(s):
    set_service(s, "SENS", state="stopped")


# EX-21
@case("ex21-vss-disabled", "The backup uses an Exchange shadow-copy requestor, but Volume "
      "Shadow Copy is disabled; the start-type comparison of EX-16 stays quiet about it.",
      {"vss-for-exchange-requestor": "fail",
       "shadow-copy-provider-follows-vss": "not_applicable"})
def _(s):
    set_service(s, "VSS", start_type="disabled")


@case("ex21-no-requestor", "Backups do not use an Exchange shadow-copy requestor: a disabled "
      "Volume Shadow Copy does not matter to EX-21.",
      {"vss-for-exchange-requestor": "not_applicable",
       "shadow-copy-provider-follows-vss": "fail"})
def _(s):
    s["facts"]["backup"]["exchange_vss_requestor"] = False
    set_service(s, "VSS", start_type="disabled")


# EX-22
@case("ex22-sa-without-rpc-dependency", "System Attendant no longer depends on RPC, directly "
      "or indirectly.", {"endpoint-mapper-first": "fail"})
def _(s):
    set_service(s, "MSExchangeSA",
                depends_on=["EventLog", "NtLmSsp", "LanmanServer", "LanmanWorkstation"])


@case("ex22-static-port-135", "The Information Store's static port is 135, the endpoint "
      "mapper's.", {"endpoint-mapper-first": "fail", "static-rpc-ports-valid": "pass"})
def _(s):
    s["facts"]["exchange"]["static_rpc_ports"]["information_store"] = 135


@case("ex22-dynamic-range-includes-135", "The RPC dynamic range was set to 100-5000, which "
      "includes TCP 135.", {"endpoint-mapper-first": "fail"})
def _(s):
    s["facts"]["network"]["rpc_dynamic_ports"] = {"min": 100, "max": 5000}


# EX-23
@case("ex23-static-port-in-dynamic-range", "The Information Store's static port 3000 lies in "
      "the default dynamic range 1025-5000, which the snapshot does not state (assumed, with a "
      "note).", {"static-rpc-ports-valid": "fail"})
def _(s):
    s["facts"]["exchange"]["static_rpc_ports"]["information_store"] = 3000


@case("ex23-static-ports-collide", "System Attendant and the Information Store share TCP 6001.",
      {"static-rpc-ports-valid": "fail"})
def _(s):
    s["facts"]["exchange"]["static_rpc_ports"]["information_store"] = 6001


@case("ex23-static-port-invalid", "The NSPI port is 70000, not a TCP port.",
      {"static-rpc-ports-valid": "fail"})
def _(s):
    s["facts"]["exchange"]["static_rpc_ports"]["nspi"] = 70000


@case("ex23-no-static-ports", "No static port is set (the registry values are absent): the "
      "rule does not apply.", {"static-rpc-ports-valid": "not_applicable"})
def _(s):
    del s["facts"]["exchange"]["static_rpc_ports"]


@case("ex23-custom-dynamic-range", "The dynamic range is 10000-20000; static port 4000 is "
      "outside it.", {"static-rpc-ports-valid": "pass", "endpoint-mapper-first": "pass"})
def _(s):
    s["facts"]["network"]["rpc_dynamic_ports"] = {"min": 10000, "max": 20000}
    s["facts"]["exchange"]["static_rpc_ports"]["information_store"] = 4000


@case("ex23-dynamic-ports-wrong-type", "The dynamic range's min is the string \"1025\": "
      "undecided, not passed (and no default is assumed for a fact that is present).",
      {"static-rpc-ports-valid": "error", "endpoint-mapper-first": "error"})
def _(s):
    s["facts"]["network"]["rpc_dynamic_ports"] = {"min": "1025", "max": 5000}


# EX-24
@case("ex24-address-share-missing", "The Address share was removed.",
      {"address-share-present": "fail"})
def _(s):
    s["facts"]["shares"] = [x for x in s["facts"]["shares"] if x != "Address"]


@case("ex24-share-names-lower-case", "The shares are reported in lower case: share names "
      "compare case-insensitively.",
      {"address-share-present": "pass", "message-tracking-share": "pass"})
def _(s):
    s["facts"]["shares"] = [x.lower() for x in s["facts"]["shares"]]


# EX-25
@case("ex25-tracking-share-missing", "Message tracking is on, but EXCH01.log is not shared.",
      {"message-tracking-share": "fail"})
def _(s):
    s["facts"]["shares"] = [x for x in s["facts"]["shares"] if x != "EXCH01.log"]


@case("ex25-tracking-disabled", "Message tracking is off, so a missing EXCH01.log share does "
      "not matter.", {"message-tracking-share": "not_applicable"})
def _(s):
    s["facts"]["exchange"]["message_tracking"]["enabled"] = False
    s["facts"]["shares"] = [x for x in s["facts"]["shares"] if x != "EXCH01.log"]


# The dependency graph and letter case.
@case("dependency-cycle", "System Attendant was made to depend on the Information Store, which "
      "depends on it.", {"no-dependency-cycles": "fail"})
def _(s):
    find(s, "MSExchangeSA")["depends_on"].append("MSExchangeIS")


@case("dangling-iisadmin-removed", "IIS Admin was removed, but the Routing Engine, IMAP4 and "
      "POP3 still depend on it.", {"no-dangling-dependencies": "fail"})
def _(s):
    remove_service(s, "IISADMIN")
    # Its IIS dependants went with it.
    for name in ["W3SVC", "SMTPSVC", "NNTPSVC"]:
        remove_service(s, name)


@case("odd-case-names", "Service records and dependency lists use other letter cases than the "
      "rules (RPCSS, eventlog, LANMANSERVER, …): SCM names compare case-insensitively.",
      {"event-log-running": "pass", "rpc-running-automatic": "pass",
       "server-before-system-attendant": "pass", "workstation-before-system-attendant": "pass",
       "sam-running": "pass", "wmi-before-management": "pass",
       "exchange-services-run-as-localsystem": "pass", "netlogon-running": "pass",
       "msearch-for-full-text-indexing": "pass", "endpoint-mapper-first": "pass",
       "no-dangling-dependencies": "pass"})
def _(s):
    for old, new in [("Eventlog", "eventlog"), ("RpcSs", "RPCSS"),
                     ("lanmanserver", "LANMANSERVER"), ("lanmanworkstation", "LanManWorkstation"),
                     ("SamSs", "SAMSS"), ("winmgmt", "WinMgmt"), ("MSExchangeSA", "msexchangesa"),
                     ("MSExchangeMGMT", "MSEXCHANGEMGMT"), ("Netlogon", "NETLOGON"),
                     ("MSSEARCH", "MSSearch"), ("MSExchangeIS", "MSExchangeIs")]:
        rename_service(s, old, new)
    set_service(s, "MSExchangeMGMT", depends_on=["rpcss", "WINMGMT"])


# ---------------------------------------------------------------- the examples


def broken():
    """EXCH01 after a rough month: several findings, each with a concrete cause."""
    s = healthy()
    # Someone 'hardened' the server from a generic checklist.
    set_service(s, "MSSEARCH", state="stopped", start_type="disabled")
    set_service(s, "RemoteRegistry", state="stopped", start_type="disabled")
    set_service(s, "COMSysApp", state="stopped")
    set_service(s, "swprv", start_type="disabled")
    # The Information Store was moved to a domain service account.
    set_service(s, "MSExchangeIS", account="CORP\\svc-exchange")
    # A reinstall lost the Address share, and a static port was chosen carelessly.
    s["facts"]["shares"] = [x for x in s["facts"]["shares"] if x != "Address"]
    s["facts"]["exchange"]["static_rpc_ports"]["information_store"] = 3000
    s["collected_at"] = "2026-11-26T09:45:00Z"
    return s


def write(path, value):
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main():
    names = [name for name, _, _, _ in CASES]
    if len(names) != len(set(names)):
        sys.exit("duplicate case names")
    for name, description, outcomes, edit in CASES:
        snapshot = copy.deepcopy(healthy())
        edit(snapshot)
        write(os.path.join(HERE, f"{name}.snapshot.json"), snapshot)
        write(os.path.join(HERE, f"{name}.expect.json"),
              {"description": description, "outcomes": dict(sorted(outcomes.items()))})
    examples = os.path.join(ROOT, "examples", "snapshots")
    os.makedirs(examples, exist_ok=True)
    write(os.path.join(examples, "exch01-healthy.json"), healthy())
    write(os.path.join(examples, "exch01-broken.json"), broken())
    print(f"wrote {len(CASES)} cases and 2 examples")


if __name__ == "__main__":
    main()
