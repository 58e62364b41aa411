"""media_svc: uploads, safe processing of photos and videos, variants and filters."""
