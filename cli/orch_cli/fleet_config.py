"""Which ComfyUI servers `orch up` drives: from `--comfy-url`, the `ORCH_COMFY_URLS` variable, or a TOML file.

    # orch.toml
    [[backends]]
    id = "gpu-a"                 # optional; derived from host and port when absent
    url = "http://10.0.0.5:8188"

With none configured, `orch up` starts a local fleet of `orch sim` servers instead.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["BackendConfig", "ConfigError", "load_backends"]


class ConfigError(ValueError):
    """The fleet configuration names something invalid."""


@dataclass(frozen=True)
class BackendConfig:
    id: str
    url: str


def _derive_id(url: str) -> str:
    parsed = urlparse(url)
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{parsed.hostname}-{parsed.port or 80}")


def _check_url(url: str, where: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{where}: {url!r} is not an http(s) URL of a ComfyUI server")
    return url.rstrip("/")


def load_backends(urls: list[str], env_urls: str | None, config_file: Path | None) -> list[BackendConfig]:
    """Collect the configured ComfyUI servers; an empty list means "start simulated servers"."""
    found: list[BackendConfig] = []
    for i, url in enumerate(urls):
        found.append(BackendConfig(_derive_id(url), _check_url(url, f"--comfy-url #{i + 1}")))
    if env_urls:
        for url in filter(None, (u.strip() for u in env_urls.split(","))):
            found.append(BackendConfig(_derive_id(url), _check_url(url, "ORCH_COMFY_URLS")))
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{config_file}: {exc}") from exc
        for i, entry in enumerate(data.get("backends", [])):
            where = f"{config_file}: backends[{i}]"
            if not isinstance(entry, dict) or "url" not in entry:
                raise ConfigError(f"{where} needs a url")
            url = _check_url(str(entry["url"]), where)
            backend_id = str(entry.get("id") or _derive_id(url))
            if not re.fullmatch(r"[A-Za-z0-9_-]+", backend_id):
                raise ConfigError(f"{where}: id {backend_id!r} may use only letters, digits, _ and -")
            found.append(BackendConfig(backend_id, url))
    ids = [b.id for b in found]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"backend ids must be unique; repeated: {', '.join(dupes)}")
    return found
