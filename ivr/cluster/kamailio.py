"""Kamailio as the cluster's SIP front: its destination list, its command line, and what its
dispatcher thinks of each node (``kamcmd dispatcher.list``).

The routing itself is Kamailio's configuration (``deploy/kamailio/kamailio.cfg``); this module
only fills in its defines and reads its state.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DISPATCHER_SET = 1


class KamailioUnavailable(RuntimeError):
    """Kamailio (Debian's ``kamailio`` package) is not installed."""


@dataclass(frozen=True)
class Destination:
    """One bot node in the dispatcher's set."""

    uri: str
    duid: str
    """The node's name (``server.node_id``): call load is counted per duid."""
    max_load: int
    """Calls the dispatcher sends the node at most (its ``server.max_calls``)."""

    def line(self) -> str:
        """The node as a line of the destination list: set, URI, flags, priority, attributes."""
        return f"{DISPATCHER_SET} {self.uri} 0 0 duid={self.duid};maxload={self.max_load}"


@dataclass(frozen=True)
class DestinationState:
    """What the dispatcher holds of a node now."""

    uri: str
    duid: str
    flags: str
    """Two letters: A(ctive), I(nactive), T(rying) or D(isabled), then P(robing) or X."""
    load: int
    """Calls the dispatcher counts on the node (algorithm 10)."""

    @property
    def active(self) -> bool:
        return self.flags.startswith("A")


def destination_list(nodes: list[Destination]) -> str:
    lines = ["# bot nodes: set uri flags priority attributes (written by ivr cluster up)"]
    return "\n".join([*lines, *(node.line() for node in nodes)]) + "\n"


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise KamailioUnavailable(f"{name} is not installed (apt-get install kamailio)")
    return found


@dataclass(frozen=True)
class Front:
    """One Kamailio: where it listens, its configuration and its files."""

    host: str
    port: int
    config: Path
    folder: Path
    """Holds the destination list, the control socket and Kamailio's runtime files."""
    probe_interval_s: int = 5
    probe_failures: int = 2

    @property
    def list_file(self) -> Path:
        return self.folder / "dispatcher.list"

    @property
    def control(self) -> str:
        return f"unix:{self.folder / 'kamailio_ctl'}"

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"

    def write_list(self, nodes: list[Destination]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.list_file.write_text(destination_list(nodes), encoding="utf-8")

    def argv(self) -> list[str]:
        """Kamailio in the foreground (its supervisor keeps the pid), logging to stderr."""
        defines = {
            "DISPATCHER_LIST": f'"{self.list_file}"',
            "CTL_SOCKET": f'"{self.control}"',
            "PROBE_INTERVAL": str(self.probe_interval_s),
            "PROBE_FAILURES": str(self.probe_failures),
        }
        return [
            _binary("kamailio"),
            "-DD",
            "-E",
            "-f",
            str(self.config),
            *(a for name, value in defines.items() for a in ("-A", f"{name}={value}")),
            "-Y",
            str(self.folder),
            "-l",
            f"udp:{self.host}:{self.port}",
        ]

    def check(self) -> None:
        """Kamailio's own syntax check of the configuration with these defines."""
        checked = subprocess.run([*self.argv(), "-c"], capture_output=True, text=True)
        if checked.returncode != 0:
            raise RuntimeError(f"Kamailio refused {self.config}:\n{checked.stderr[-2000:]}")

    def states(self) -> list[DestinationState]:
        """The dispatcher's view of every node, from Kamailio's control socket."""
        listed = subprocess.run(
            [_binary("kamcmd"), "-s", self.control, "dispatcher.list"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if listed.returncode != 0:
            raise RuntimeError(f"kamcmd dispatcher.list failed: {listed.stderr.strip()}")
        return parse_states(listed.stdout)


def parse_states(text: str) -> list[DestinationState]:
    """``kamcmd dispatcher.list`` output: one DEST block per node, fields as ``NAME: value``."""
    states: list[DestinationState] = []
    fields: dict[str, str] = {}

    def flush() -> None:
        if "URI" in fields:
            states.append(
                DestinationState(
                    uri=fields["URI"],
                    duid=fields.get("DUID", ""),
                    flags=fields.get("FLAGS", ""),
                    load=int(fields.get("DLGLOAD", "0") or 0),
                )
            )
        fields.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("DEST:"):
            flush()
            continue
        name, colon, value = line.partition(":")
        if colon and name.isupper():
            fields.setdefault(name, value.strip())
    flush()
    return sorted(states, key=lambda s: s.duid)
