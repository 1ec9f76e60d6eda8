"""NATS helpers shared by every service: the server launcher, connecting, and topology provisioning."""

from orch_common.natsutil.connect import connect
from orch_common.natsutil.provision import ensure_topology, wait_for_topology
from orch_common.natsutil.server import NatsServer, NatsServerError, free_port

__all__ = ["NatsServer", "NatsServerError", "connect", "ensure_topology", "free_port", "wait_for_topology"]
