"""A real ``prometheus`` child process (Debian package) with a generated config."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from forescale.devstack.ports import free_port
from forescale.devstack.redis_server import require


def backfill(openmetrics: str, work: Path) -> Path:
    """Blocks of history for ``PrometheusServer(storage_dir=...)``: ``openmetrics`` (ending in
    ``# EOF``) written under ``work`` and turned into TSDB blocks by
    ``promtool tsdb create-blocks-from openmetrics``; returns the blocks' directory."""
    om, data = work / "history.om", work / "data"
    om.write_text(openmetrics)
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
        check=True,
        capture_output=True,
    )
    return data


class PrometheusServer:
    """Scrapes the given ``host:port`` targets; optional rule files; storage in a temp dir.

    ``storage_dir`` may be given to start on blocks made by
    ``promtool tsdb create-blocks-from openmetrics`` (backfilled history).
    """

    def __init__(
        self,
        targets: dict[str, list[str]] | None = None,
        scrape_interval_s: float = 1.0,
        rule_files: list[Path] | None = None,
        storage_dir: Path | None = None,
        retention: str = "60d",
    ) -> None:
        self.executable = require("prometheus", "prometheus")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fs-prom-"))
        self.storage_dir = storage_dir or self.dir / "data"
        self.targets = targets or {}
        self.scrape_interval_s = scrape_interval_s
        self.rule_files = rule_files or []
        self.retention = retention
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> dict[str, object]:
        interval = f"{int(self.scrape_interval_s * 1000)}ms"
        return {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": tg}]} for job, tg in self.targets.items()
            ],
        }

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(self._config()))
        args = [
            self.executable,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={self.storage_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        log = (self.dir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.dir / "prometheus.log").read_text()[-2000:]
                raise RuntimeError(f"prometheus exited: {log}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("prometheus not ready")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
