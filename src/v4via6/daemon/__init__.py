"""The routing daemon: supervisor, control socket, metrics."""
