"""Notifications: one module per notifier, plus the dispatcher that drains the outbox."""
