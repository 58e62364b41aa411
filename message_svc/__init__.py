"""message_svc: direct conversations, their messages and read markers."""
