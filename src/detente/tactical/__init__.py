"""Live tracks: predicted losses of separation, alert levels and conformance to plans."""
