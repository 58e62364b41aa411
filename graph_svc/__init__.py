"""graph_svc: the social graph of follows, follow requests, blocks and mutes."""
