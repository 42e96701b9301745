"""`agent-analytics dashboard`: the analytics schema in the browser, on 127.0.0.1 only.

Every page is read as the app would read it: in one transaction per request, as `authenticated`
with a member's JWT claims (row-level security and the member_*() functions pick what they see)
or as `service_role` for the platform view (postgrest.acting_as). The chart library is plotly's
bundled plotly.min.js, served by the dashboard itself: no CDN, it works offline.
"""

from __future__ import annotations

from agent_analytics.errors import AgentAnalyticsError


class DashboardError(AgentAnalyticsError):
    """The dashboard cannot start (a missing extra, a port in use)."""
