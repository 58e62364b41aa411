"""feed_svc: home feeds (hybrid fan-out over Redis) and the explore page."""
