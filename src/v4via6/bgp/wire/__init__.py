"""BGP wire codec: bytes -> message objects -> bytes. No I/O, no clock."""
