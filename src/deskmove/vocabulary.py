"""The canonical values of a ticket's status, priority and channel, a person's role and a
message's direction: what mappings and sources check against (``model.py`` uses the same
tuples for its tables; kept here so checking a project file does not load the models)."""

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "web", "phone", "chat", "social", "forum", "review", "api", "other")
ROLES = ("customer", "agent")
DIRECTIONS = ("inbound", "outbound")
