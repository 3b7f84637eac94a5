"""workflow-logs: execution logs for AI workflow engines on Postgres and Supabase."""

from ._migrate import migrate

__all__ = ["migrate", "__version__"]
__version__ = "0.1.0"
