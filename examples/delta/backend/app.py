"""Delta-shaped fixture backend: FastAPI under uvicorn (no sd_notify), JSON logs to
logs/backend.log, the SPA's API under /api. Shaped like the Delta Strangle seed; ours.

  GET /api/health       {"status": "ok", "service": "delta"}  (no sha: the health contract
                        is status + JSON, not the release's sha)
  GET /api/strategies   a small list, for the SPA
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse

LOG_DIR = Path(os.environ.get("DELTA_LOG_DIR", "logs"))


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                           "level": record.levelname, "message": record.getMessage()})


log = logging.getLogger("delta")
log.setLevel(logging.INFO)
if LOG_DIR.is_dir():
    handler = logging.FileHandler(LOG_DIR / "backend.log")
    handler.setFormatter(JsonLines())
    log.addHandler(handler)

# Health fails while this is set (the tests' bad release sets it in the code).
HEALTHY = os.environ.get("DELTA_FAIL_HEALTH", "") != "1"

app = FastAPI(title="delta")


@app.get("/api/health")
def health() -> JSONResponse:
    log.info("health check")
    if not HEALTHY:
        return JSONResponse({"status": "failing", "service": "delta"}, status_code=503)
    return JSONResponse({"status": "ok", "service": "delta"})


@app.get("/api/strategies")
def strategies() -> list[dict[str, object]]:
    return [{"name": "short-strangle", "legs": 2, "enabled": True}]
