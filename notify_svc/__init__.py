"""notify_svc: notifications made from domain events, their read state, and live streams."""
