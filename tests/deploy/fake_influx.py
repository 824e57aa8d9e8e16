"""A stand-in for InfluxDB 2.x's ``influx`` CLI, for testing deploy/influxdb/scoped-tokens.sh.

No InfluxDB 2.x (server or CLI) is installable here, so the script's commands run against this
double, which follows the CLI's documented behaviour for the few commands the script uses
(``bucket list``, ``auth list``, ``auth create``, ``auth delete``): the operator token comes from
``INFLUX_TOKEN``, output formats are the CLI's (tab-separated rows with ``--hide-headers``,
tab-indented JSON with ``--json``), token strings are made by the server. Unknown commands or
flags fail, as the real CLI does. State lives in ``$FAKE_INFLUX_STATE`` (JSON); every call is
appended to ``$FAKE_INFLUX_LOG`` (argv, and whether a token was in the environment).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

FLAGS_WITH_VALUE = {"--name", "--org", "--description", "--read-bucket", "--write-bucket", "--id"}
SWITCHES = {"--hide-headers", "--json"}


def parse(args: list[str]) -> tuple[dict[str, list[str]], set[str]]:
    values: dict[str, list[str]] = {}
    switches: set[str] = set()
    i = 0
    while i < len(args):
        a = args[i]
        if a in FLAGS_WITH_VALUE:
            values.setdefault(a, []).append(args[i + 1])
            i += 2
        elif a in SWITCHES:
            switches.add(a)
            i += 1
        else:
            print(f"Error: unknown flag: {a}", file=sys.stderr)
            raise SystemExit(1)
    return values, switches


def main() -> int:
    state_path = Path(os.environ["FAKE_INFLUX_STATE"])
    state: dict[str, Any] = json.loads(state_path.read_text())
    with open(os.environ["FAKE_INFLUX_LOG"], "a") as log:
        log.write(json.dumps({"argv": sys.argv[1:],
                              "env_token": os.environ.get("INFLUX_TOKEN") == state["admin"]})
                  + "\n")
    if os.environ.get("INFLUX_TOKEN") != state["admin"]:
        print("Error: unauthorized access", file=sys.stderr)
        return 1
    cmd, args = sys.argv[1:3], sys.argv[3:]
    values, switches = parse(args)
    out: Any
    if cmd == ["bucket", "list"]:
        rows = [b for b in state["buckets"] if b["name"] in values.get("--name", [b["name"]])]
        for b in rows:
            print(f"{b['id']}\t{b['name']}\tinfinite\t168h0m0s\t{state['org_id']}\timplicit")
        return 0
    if cmd == ["auth", "list"]:
        if "--json" in switches:
            print(json.dumps(state["auths"], indent="\t"))
        else:
            for a in state["auths"]:
                print(f"{a['id']}\t{a['description']}\t{a['token']}\tadmin\t0001\t[...]")
        return 0
    if cmd == ["auth", "create"]:
        ids = {b["id"] for b in state["buckets"]}
        perms = [{"action": action, "resource": {"type": "buckets", "id": bid}}
                 for flag, action in (("--read-bucket", "read"), ("--write-bucket", "write"))
                 for bid in values.get(flag, [])]
        if not perms or any(p["resource"]["id"] not in ids for p in perms):
            print("Error: invalid permissions", file=sys.stderr)
            return 1
        auth = {"id": secrets.token_hex(8), "token": secrets.token_urlsafe(48),
                "status": "active", "description": values["--description"][0],
                "orgID": state["org_id"], "permissions": perms}
        state["auths"].append(auth)
        out = auth
    elif cmd == ["auth", "delete"]:
        state["auths"] = [a for a in state["auths"] if a["id"] != values["--id"][0]]
        out = {"deleted": values["--id"][0]}
    else:
        print(f"Error: unknown command {' '.join(cmd)}", file=sys.stderr)
        return 1
    state_path.write_text(json.dumps(state))
    print(json.dumps(out, indent="\t") if "--json" in switches else out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
