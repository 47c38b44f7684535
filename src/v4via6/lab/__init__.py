"""Network-namespace lab: topologies, demo, pytest fixtures."""
