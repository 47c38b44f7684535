"""Read-only host inspection: links, addresses, neighbours, sysctls, route lookups."""
