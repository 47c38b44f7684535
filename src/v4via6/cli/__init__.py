"""The v4via6 command line."""
