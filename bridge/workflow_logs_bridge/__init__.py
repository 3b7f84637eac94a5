"""The workflow-logs bridge: the documented REST and SSE contract on top of the SQL API."""
