"""Request dependencies shared by the routers: the settings the app was made with, the engine serving now."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from index.config import BUILD_COMMAND, Settings

from .engine import Engine, EngineHolder


def app_settings(request: Request) -> Settings:
    """Dependency: the one Settings object, built by the app factory (service.app.create_app) at start."""
    return request.app.state.settings


def current_engine(request: Request) -> Engine:
    """Dependency: the engine serving now. A request keeps this one reference to the end,
    so a reload that swaps engines never changes the index under it."""
    holder: EngineHolder = request.app.state.holder
    current = holder.engine or holder.retry_if_due()
    if current is None:
        reason = holder.error or "not loaded yet"
        if holder.unreachable:  # the store is down: no rebuild needed, it retries by itself
            raise HTTPException(503, f"The index is not available: {reason}")
        if BUILD_COMMAND not in reason:
            reason += f". Build it with: {BUILD_COMMAND}"
        raise HTTPException(503, f"The index is not available: {reason}; then restart or reload the service.")
    return current


EngineDep = Annotated[Engine, Depends(current_engine)]
SettingsDep = Annotated[Settings, Depends(app_settings)]
