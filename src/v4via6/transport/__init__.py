"""asyncio TCP glue for BGP sessions and socket options."""
