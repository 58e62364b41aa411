"""edge_proxy: HTTP/JSON to gRPC, driven by the google.api.http annotations."""
