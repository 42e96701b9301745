"""Delivering alerts: analytics.evaluate_alerts() decides what to send and queues it in
analytics.alert_notifications; this package sends it (webhook, Slack, email), records every
attempt, and lists the rules (`agent-analytics alerts run | list`)."""
