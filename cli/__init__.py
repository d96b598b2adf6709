"""The ``latdyn`` command line: parses, calls the Python API, prints."""
