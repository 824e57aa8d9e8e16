"""Alert engine: rules, lifecycle, SQLite state and notifications (docs/alerts.md)."""
