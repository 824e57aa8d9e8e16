"""Notification message templates, one YAML file per language (package data)."""
