"""user_svc: accounts, credentials, sessions and profiles."""
