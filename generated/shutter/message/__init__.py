"""Generated from protos/ by `shutter gen`; do not edit."""
