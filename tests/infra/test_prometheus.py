"""The shipped Prometheus config and every Grafana query, run by a real `prometheus` scraping a real stack.

nats-server, scheduler, API, an `orch sim` with a fake GPU and its agent run as processes; Debian's `prometheus`
scrapes the API with a config made from `infra/prometheus/prometheus.yml` (only the targets moved to the test's
port: job names, metrics path, labels, relabelling and intervals stay as shipped). After a few jobs, every
expression of every panel and every template variable of every dashboard under `infra/grafana/dashboards` is
evaluated through `/api/v1/query` (Grafana's variables substituted as Grafana would) and must parse and draw
something: a non-empty result with no NaN.

`scripts/install.sh prometheus` (run by `make test`) installs the binaries. Without them the tests are skipped
with a loud reason, except under CI, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from websockets.asyncio.client import connect

from orch_common.natsutil import free_port
from tests.helpers import REPO
from tests.helpers.stack import Stack
from tests.helpers.workflows import txt2img

INFRA = REPO / "infra"
SHIPPED_CONFIGS = sorted((INFRA / "prometheus").glob("*.yml"))
PROMETHEUS_YML = INFRA / "prometheus" / "prometheus.yml"
DASHBOARDS = sorted((INFRA / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = INFRA / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
API_JOB = "orchestrator-api"
JOBS = 4

# Panels allowed to draw nothing after the test's jobs ran (e.g. a failures panel): none so far.
MAY_BE_EMPTY: frozenset[str] = frozenset()


def _binary(name: str) -> str:
    """The Debian binary's path; skip loudly without it, or fail under CI, where it must be installed."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if path is not None:
        return path
    message = (
        f"!!! NO `{name}` BINARY: the Prometheus/Grafana dashboard test DID NOT RUN. "
        "Install Debian's prometheus package: `bash scripts/install.sh prometheus` (apt-get, needs root or sudo)."
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# ------------------------------------------------------------------------------------------ the dashboards


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel!r} / {self.ref_id}: {self.expr}"


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def dashboard_queries(path: Path) -> list[Query]:
    """Every PromQL expression of every panel (rows included) of one dashboard JSON."""
    dashboard = json.loads(path.read_text())
    return [
        Query(path.name, panel.get("title", f"panel {panel.get('id')}"), target.get("refId", "?"), target["expr"])
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query")
    return str(query.get("query", "") if isinstance(query, dict) else query or variable.get("definition", ""))


def _grafana_regex(regex: str, values: list[str]) -> list[str]:
    """A variable's `regex` field (`/pattern/flags`): keeps the matching values, or their first group."""
    if not regex:
        return values
    parsed = re.fullmatch(r"/(?P<pattern>.*)/(?P<flags>[gimsuy]*)", regex, re.S)
    assert parsed is not None, f"variable regex {regex!r} is not /pattern/flags"
    pattern = re.compile(parsed["pattern"], re.I if "i" in parsed["flags"] else 0)
    found = [m for m in map(pattern.search, values) if m is not None]
    return [m.group(1) if pattern.groups else m.group(0) for m in found]


def _regex_value(value: str) -> str:
    """One label value as Grafana writes it into a Prometheus regex (escaped for inside a PromQL string)."""
    return re.sub(r"([\\$^*{}\[\]'+?.()|])", r"\\\\\1", value)


class Grafana:
    """Grafana's variable substitution for one dashboard, with the provisioned datasource's scrape interval."""

    def __init__(self, scrape_interval_s: float, range_s: float, variables: dict[str, str]) -> None:
        interval = max(scrape_interval_s, math.ceil(range_s / 1000))  # ~1000 points a panel, never below a scrape
        rate_interval = max(interval + scrape_interval_s, 4 * scrape_interval_s)
        self.values = {
            "__rate_interval": f"{int(rate_interval)}s",
            "__interval": f"{int(interval)}s",
            "__interval_ms": str(int(interval * 1000)),
            "__range": f"{int(range_s)}s",
            "__range_s": str(int(range_s)),
            "__range_ms": str(int(range_s * 1000)),
            **variables,
        }

    def substitute(self, expr: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group("braced") or match.group("plain") or match.group("old")
            if name not in self.values:
                raise AssertionError(f"unknown dashboard variable ${name} in {expr}")
            return self.values[name]

        return re.sub(r"\$\{(?P<braced>\w+)(?::\w+)?\}|\$(?P<plain>\w+)|\[\[(?P<old>\w+)\]\]", value, expr)


def _duration_s(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(int(n) * units[u] for n, u in parts)


def _dashboard_range_s(dashboard: dict[str, Any]) -> float:
    match = re.fullmatch(r"now-(\w+)", dashboard.get("time", {}).get("from", "now-1h"))
    return _duration_s(match.group(1)) if match else 3600.0


# ------------------------------------------------------------------------------------------- prometheus


def scrape_config_for(shipped: Path, targets: dict[str, str]) -> dict[str, Any]:
    """The shipped config with each job's static targets replaced by `targets[job_name]`; all else kept."""
    config: dict[str, Any] = yaml.safe_load(shipped.read_text())
    for job in config["scrape_configs"]:
        name = job["job_name"]
        assert name in targets, f"{shipped.name}: job {name!r} has no target in this test; give it one"
        for static in job.get("static_configs", []):
            static["targets"] = [targets[name]]
    return config


class Prometheus:
    """A real `prometheus` process on a free loopback port, with its own data directory."""

    def __init__(self, binary: str, root: Path, config: dict[str, Any]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.config_file = root / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = root / "prometheus.log"
        self.port = free_port()
        self.args = [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.popen: subprocess.Popen[bytes] | None = None
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)

    async def __aenter__(self) -> Prometheus:
        await asyncio.to_thread(self.start)
        assert self.popen is not None
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/-/ready")).status_code == 200:
                    return self
            if self.popen.poll() is not None or time.monotonic() > deadline:
                await self.__aexit__(None, None, None)
                raise RuntimeError(f"prometheus did not get ready:\n{self.log.read_text(errors='replace')[-3000:]}")
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                await asyncio.to_thread(self.popen.wait, 15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    async def query(self, expr: str) -> dict[str, Any]:
        """`/api/v1/query` now: the whole reply (status, data or errorType/error)."""
        reply: dict[str, Any] = (await self.http.get("/api/v1/query", params={"query": expr})).json()
        return reply

    async def label_values(self, label: str, match: str | None) -> list[str]:
        params = {"match[]": match} if match else {}
        response = await self.http.get(f"/api/v1/label/{label}/values", params=params)
        reply = response.json()
        assert reply["status"] == "success", f"label_values({match}, {label}): {reply}"
        return list(reply["data"])

    async def scalar(self, expr: str) -> float | None:
        reply = await self.query(expr)
        result = reply.get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if result else None

    async def wait_for(self, expr: str, predicate: Any, timeout: float = 30.0) -> float:
        """Until `expr`'s single value satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = await self.scalar(expr)
            if value is not None and predicate(value):
                return value
            await asyncio.sleep(0.25)
        raise TimeoutError(f"{expr} was {value} after {timeout}s\n{self.log.read_text(errors='replace')[-2000:]}")


# ---------------------------------------------------------------------------------------------- tests


def test_the_shipped_prometheus_configs_pass_promtool() -> None:
    promtool = _binary("promtool")
    assert SHIPPED_CONFIGS
    for path in SHIPPED_CONFIGS:
        done = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{path}:\n{done.stdout}{done.stderr}"


def test_the_compose_prometheus_config_differs_from_the_local_one_only_in_its_targets() -> None:
    local = scrape_config_for(PROMETHEUS_YML, {API_JOB: "api"})
    compose = scrape_config_for(INFRA / "prometheus" / "prometheus.compose.yml", {API_JOB: "api"})
    assert compose == local


def test_grafana_knows_prometheus_scrape_interval() -> None:
    shipped = yaml.safe_load(PROMETHEUS_YML.read_text())
    [datasource] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert datasource["jsonData"]["timeInterval"] == shipped["global"]["scrape_interval"], (
        "Grafana's $__rate_interval is 4x the datasource's timeInterval: keep it at Prometheus' scrape_interval"
    )
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids = {panel.get("datasource", {}).get("uid") for panel in _panels(dashboard["panels"])}
        assert uids <= {datasource["uid"], None}, f"{path.name} names a datasource that is not provisioned: {uids}"


def test_grafana_variables_are_substituted_as_grafana_does() -> None:
    grafana = Grafana(5, 3600, {"backend": _regex_value("sim-1.a")})
    assert grafana.substitute('rate(x{b=~"$backend"}[$__rate_interval])') == 'rate(x{b=~"sim-1\\\\.a"}[20s])'
    assert grafana.substitute("x[${__range}] offset [[__interval]]") == "x[3600s] offset 5s"
    with pytest.raises(AssertionError, match="unknown dashboard variable"):
        grafana.substitute("x{b=~'$nope'}")
    assert _grafana_regex("/sim-(.*)/", ["sim-1", "gpu-2"]) == ["1"]
    assert _grafana_regex("", ["a"]) == ["a"]


@contextlib.asynccontextmanager
async def _live_client(stack: Stack) -> AsyncIterator[None]:
    """A live-stream client that reads everything, so the live-stream panels have traffic."""
    async with connect(stack.api_url.replace("http://", "ws://") + "/api/live") as ws:

        async def drain() -> None:
            with contextlib.suppress(Exception):
                async for _ in ws:
                    pass

        reader = asyncio.create_task(drain())
        try:
            yield
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@pytest.mark.asyncio(loop_scope="function")
async def test_every_dashboard_query_parses_and_draws_data_on_a_real_prometheus_scraping_a_real_stack(
    tmp_path: Path,
) -> None:
    binary = _binary("prometheus")
    shipped = yaml.safe_load(PROMETHEUS_YML.read_text())
    scrape_interval_s = _duration_s(shipped["global"]["scrape_interval"])
    api_up = f'up{{job="{API_JOB}"}}'
    async with Stack(tmp_path / "stack") as stack:
        config = scrape_config_for(PROMETHEUS_YML, {API_JOB: f"127.0.0.1:{stack.api_port}"})
        async with Prometheus(binary, tmp_path / "prometheus", config) as prometheus:
            await prometheus.wait_for(api_up, lambda v: v == 1)  # a first scrape, before any job
            sim = stack.add_sim(
                "sim-1", "--demo-models", "--step-seconds", "0.01", "--gpu-name", "Sim RTX", "--vram", "24GB"
            )
            stack.add_agent("sim-1", sim)
            await stack.wait_backends({"sim-1"})
            async with _live_client(stack):
                job_ids = [await stack.submit(txt2img(seed=i, steps=4)) for i in range(JOBS)]
                views = await stack.wait_terminal(job_ids, timeout=60)
                assert {v["state"] for v in views.values()} == {"succeeded"}, views
                finished = time.time()
                # Two scrapes after the jobs ended, so every rate() window holds two samples of what they did.
                await prometheus.wait_for(
                    f"timestamp({api_up})", lambda t: t > finished + scrape_interval_s, timeout=6 * scrape_interval_s
                )

                results = await evaluate_dashboards(prometheus)

                def values(panel: str, ref_id: str = "A") -> list[float]:
                    return [float(s["value"][1]) for s in results[(panel, ref_id)]]

                def by_label(panel: str, label: str, ref_id: str = "A") -> dict[str, float]:
                    return {s["metric"].get(label, ""): float(s["value"][1]) for s in results[(panel, ref_id)]}

                # What the panels show is what happened: one reachable backend with a GPU, the jobs counted.
                assert values("Backends reachable") == [1.0]
                assert by_label("Jobs by state", "state")["succeeded"] == JOBS
                statuses = by_label("Backends by status", "status")
                assert statuses["online"] + statuses["busy"] == 1, statuses
                assert values("Live-stream clients") == [1.0]
                assert set(by_label("VRAM used", "backend", "B")) == {"sim-1"}
                assert all(v > 0 for v in values("VRAM used", "B"))
                routes = {s["metric"]["route"] for s in results[("API requests / s by route", "A")]}
                assert {"/metrics", "/api/jobs"} <= routes, routes

            exposition = (await stack.http.get("/metrics")).content
            lint = await asyncio.to_thread(
                subprocess.run,
                [_binary("promtool"), "check", "metrics"],
                input=exposition,
                capture_output=True,
                timeout=60,
            )
            assert lint.returncode == 0, (
                f"promtool check metrics on the API's /metrics:\n{lint.stdout!r}{lint.stderr!r}"
            )


async def evaluate_dashboards(prometheus: Prometheus) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every dashboard's queries (variables substituted) through `/api/v1/query`: the results by (panel, refId).

    Fails, listing every culprit at once, when a query does not parse or draws nothing (empty, or NaN).
    """
    [datasource] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    min_interval_s = _duration_s(datasource["jsonData"]["timeInterval"])  # Grafana's "scrape interval"
    failures: list[str] = []
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        variables: dict[str, str] = {}
        for variable in dashboard.get("templating", {}).get("list", []):
            options = await _resolve_variable(prometheus, variable, failures)
            variables[variable["name"]] = "|".join(_regex_value(v) for v in options)
        grafana = Grafana(min_interval_s, _dashboard_range_s(dashboard), variables)
        queries = dashboard_queries(path)
        assert queries, f"{path.name} has no PromQL targets"
        for query in queries:
            expr = grafana.substitute(query.expr)
            reply = await prometheus.query(expr)
            if reply.get("status") != "success":
                failures.append(f"{query}\n    -> {reply.get('errorType')}: {reply.get('error')}")
                continue
            result = reply["data"]["result"]
            results[(query.panel, query.ref_id)] = result
            if not result and query.panel not in MAY_BE_EMPTY:
                failures.append(f"{query}\n    -> no data ({expr})")
            nan = [sample["metric"] for sample in result if math.isnan(float(sample["value"][1]))]
            if nan:
                failures.append(f"{query}\n    -> NaN for {nan}")
    if failures:
        pytest.fail("dashboard queries that fail on real data:\n" + "\n".join(failures), pytrace=False)
    return results


async def _resolve_variable(prometheus: Prometheus, variable: dict[str, Any], failures: list[str]) -> list[str]:
    """A query variable's options as Grafana would list them (label_values only); custom ones from the JSON."""
    name = variable.get("name", "?")
    if variable.get("type") == "query":
        query = _variable_query(variable)
        match = re.fullmatch(r"\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*", query)
        if match is None:
            failures.append(f"variable ${name}: query {query!r} is not label_values(...), which this test runs")
            return ["unsupported"]
        values = _grafana_regex(
            variable.get("regex", ""), await prometheus.label_values(match["label"], match["match"])
        )
        if not values:
            failures.append(f"variable ${name}: {query} lists no values")
            return ["none"]
        return values
    if variable.get("type") in ("custom", "constant", "textbox", "interval"):
        options = [str(o["value"]) for o in variable.get("options", []) if o.get("value") not in (None, "$__all")]
        current = variable.get("current", {}).get("value")
        return options or ([str(current)] if current else [str(variable.get("query", ""))])
    failures.append(f"variable ${name}: type {variable.get('type')!r} is not handled by this test")
    return ["unsupported"]
