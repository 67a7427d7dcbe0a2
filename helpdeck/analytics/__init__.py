"""Analytics: facts recorded as things happen, roll-ups rebuilt on a schedule, and the
company-scoped reads the dashboard makes through the API."""
