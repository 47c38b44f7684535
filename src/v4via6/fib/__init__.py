"""FIB layer: the backend interface, an in-memory fake, Linux netlink, and reconcile."""
