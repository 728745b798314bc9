"""The HTTP API, staff pages and command line of quanze: the outermost layer."""
