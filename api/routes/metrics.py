"""GET /metrics: Prometheus text of this app's own registry."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.state import State

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(state: State):
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
