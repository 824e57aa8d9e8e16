"""``heatwatch rules``: inspect the alert rules without running the engine.

``list`` prints every shipped rule with its family, scope and default severity; ``check``
validates a rules file exactly as the engine would at start-up (exit code 2 if invalid) and
prints the effective parameters for a zone and/or station, which is how an operator verifies
that an override landed where intended. The backtest subcommand is a later step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from alerts.config import RuleParams, RulesConfig, RuleSet, load_rules
from alerts.rules import FAMILIES
from heatwatch.registry import UNASSIGNED_ZONE, load_registry
from heatwatch.settings import ConfigError

__all__ = ["add_arguments", "main"]

SCOPES = {"zone_cold": "zone", "pipeline_down": "global"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="list the shipped rules")
    check = sub.add_parser("check", help="validate a rules file and show effective parameters")
    check.add_argument("file", type=Path, nargs="?", default=None,
                       help="rules YAML (reference: alerts/rules.sample.yaml); none = defaults")
    check.add_argument("--zone", default=None, help="show parameters for this zone")
    check.add_argument("--station", default=None, help="show parameters for this station")
    check.add_argument("--registry", type=Path, default=None,
                       help="station registry, to find the station's zone")
    check.add_argument("--rule", default=None, help="only this rule's parameters")


def _list(rules: RulesConfig) -> int:
    print(f"{'rule':22} {'family':18} {'scope':8} severity")
    for name, family in sorted(FAMILIES.items(), key=lambda kv: (kv[1], kv[0])):
        params: RuleParams = (
            rules.pipeline if name == "pipeline_down" else getattr(rules.defaults, name)
        )
        print(f"{name:22} {family:18} {SCOPES.get(name, 'station'):8} {params.severity.value}")
    return 0


def _check(args: argparse.Namespace) -> int:
    rules = load_rules(args.file)
    zone = args.zone
    if args.station is not None and zone is None:
        zone = load_registry(args.registry).zone_of(args.station)
    effective: RuleSet = rules.params_for(zone or UNASSIGNED_ZONE, args.station)
    data = effective.model_dump(mode="json")
    if args.rule is not None:
        if args.rule not in data:
            print(f"heatwatch rules: no rule {args.rule!r}", file=sys.stderr)
            return 2
        data = {args.rule: data[args.rule]}
    where = ", ".join(x for x in (f"zone {zone}" if zone else "",
                                   f"station {args.station}" if args.station else "") if x)
    print(f"# {args.file or 'defaults'}: valid; effective parameters ({where or 'defaults'})")
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return 0


def main(args: argparse.Namespace) -> int:
    """Exit codes: 0 ok, 2 invalid rules or registry file."""
    try:
        if args.rules_command == "list":
            return _list(RulesConfig())
        return _check(args)
    except ConfigError as exc:
        print(f"heatwatch rules: {exc}", file=sys.stderr)
        return 2
