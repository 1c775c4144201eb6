"""News, sentiment and fundamentals: items from akshare and RSS/Atom feeds stored once in the profile with their
publication and arrival times, scored by offline lexicons or a trader's ONNX model (docs/NEWS.md)."""
