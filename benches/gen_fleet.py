#!/usr/bin/env python3
"""Generates a deterministic NDJSON fleet of expolicy snapshots for benchmarks and memory tests.

    python3 benches/gen_fleet.py --hosts 10000 --services 300 --stores 10 > /tmp/fleet.ndjson

Each line is one `expolicy-snapshot/1` document. Hosts start from the healthy Exchange 2003
example (examples/snapshots/exch01-healthy.json), padded with filler services and stores, and
a seeded random generator breaks a few things on some hosts so that every outcome occurs. The
same arguments always produce byte-identical output. Standard library only.
"""

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "examples", "snapshots", "exch01-healthy.json")

STATES = ["running", "stopped", "paused"]
START_TYPES = ["automatic", "manual", "disabled", "automatic_delayed"]
ACCOUNTS = ["LocalSystem", "NT AUTHORITY\\LocalService", "NT AUTHORITY\\NetworkService", "CORP\\svc-app"]


def host(base, index, services, stores, rng):
    doc = json.loads(json.dumps(base))
    name = "EXCH%05d" % index
    doc["host"] = {"name": name, "os": "Windows Server 2003 SP2", "domain": "corp.example"}
    svcs = doc.get("services", [])
    known = {s["name"].lower() for s in svcs}
    n = 0
    while len(svcs) < services:
        filler = "AppSvc%03d" % n
        n += 1
        if filler.lower() in known:
            continue
        deps = ["RpcSs"] if n % 3 == 0 else []
        if n > 1 and n % 5 == 0:
            deps.append("AppSvc%03d" % (n - 2))
        svcs.append({
            "name": filler,
            "display_name": "Line-of-business service %d for %s" % (n, name),
            "state": STATES[rng.randrange(len(STATES))],
            "start_type": START_TYPES[rng.randrange(len(START_TYPES))],
            "account": ACCOUNTS[rng.randrange(len(ACCOUNTS))],
            "depends_on": deps,
        })
    # Break something on about one host in five.
    roll = rng.random()
    if roll < 0.1:
        for s in svcs:
            if s["name"].upper() == "MSSEARCH":
                s["state"] = "stopped"
                s["start_type"] = "disabled"
    elif roll < 0.2:
        for s in svcs:
            if s["name"] == "MSExchangeIS":
                s["account"] = "CORP\\svc-exchange"
    doc["services"] = svcs[:services]
    facts = doc.setdefault("facts", {})
    exchange = facts.setdefault("exchange", {})
    exchange["stores"] = [
        {
            "name": "Store %02d (%s)" % (i, name),
            "kind": "mailbox" if i % 4 else "public",
            "full_text_indexing": rng.random() < 0.3,
        }
        for i in range(stores)
    ]
    if rng.random() < 0.05:
        # Missing data on a few hosts: rules that read it come out undecided.
        facts.pop("backup", None)
    return doc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--services", type=int, default=300)
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2003)
    parser.add_argument("--base", default=BASE, help="snapshot to start each host from")
    args = parser.parse_args()
    with open(args.base, encoding="utf-8") as f:
        base = json.load(f)
    rng = random.Random(args.seed)
    out = sys.stdout
    for i in range(args.hosts):
        out.write(json.dumps(host(base, i, args.services, args.stores, rng), separators=(", ", ": ")))
        out.write("\n")


if __name__ == "__main__":
    main()
