"""Where the Supabase project files live: the repository checkout, or the copy inside a wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGED = Path(__file__).parent / "_supabase"
_CHECKOUT = Path(__file__).resolve().parents[2] / "supabase"


def supabase_dir() -> Path:
    """The `supabase/` directory (override with WORKFLOW_LOGS_SUPABASE_DIR)."""
    override = os.environ.get("WORKFLOW_LOGS_SUPABASE_DIR")
    if override:
        return Path(override)
    if (_CHECKOUT / "migrations").is_dir():
        return _CHECKOUT
    return _PACKAGED


def migrations_dir() -> Path:
    return supabase_dir() / "migrations"


def shim_file() -> Path:
    return supabase_dir() / "bootstrap" / "supabase_shim.sql"


def seed_file() -> Path:
    return supabase_dir() / "seed.sql"
