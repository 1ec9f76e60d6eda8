"""The API service: FastAPI over NATS (REST, live stream, ComfyUI editor proxy, /metrics, the UI build).

app = create_app(ApiSettings(nats_url="nats://127.0.0.1:4222"))
run(settings)   # uvicorn on settings.host:settings.port
"""

from orch_api.app import create_app
from orch_api.main import run
from orch_api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app", "run"]
