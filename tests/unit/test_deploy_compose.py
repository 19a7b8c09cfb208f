"""deploy/compose.yaml: its nodes share what every node must share (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"
# Tokens, checkpoints and the log must mean the same on every node: a node with a key of
# its own signs checkpoints that the other node's /.well-known/courtroom-keys does not list.
SHARED = ("DATABASE_URL", "REDIS_URL", "COURTROOM_SECRET_KEY", "COURTROOM_SIGNING_KEY")


def _nodes() -> dict[str, dict[str, Any]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return {name: s["environment"] for name, s in services.items() if name.startswith("node")}


def test_every_node_shares_the_database_broker_and_both_keys() -> None:
    nodes = _nodes()
    assert len(nodes) >= 2
    for key in SHARED:
        values = {name: env.get(key) for name, env in nodes.items()}
        assert None not in values.values(), f"{key} is not set on every node: {values}"
        assert len(set(values.values())) == 1, f"{key} differs between nodes: {values}"


def test_the_keys_come_from_the_operator_and_node_ids_differ() -> None:
    nodes = _nodes()
    for env in nodes.values():
        for key in ("COURTROOM_SECRET_KEY", "COURTROOM_SIGNING_KEY"):
            # Required from the environment (${VAR:?…}), never a key written in the file.
            assert str(env[key]).startswith("${" + key + ":?"), env[key]
    ids = [env.get("COURTROOM_NODE_ID") for env in nodes.values()]
    assert None not in ids and len(set(ids)) == len(ids), ids
