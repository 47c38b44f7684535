"""BGP: sans-IO wire codec, FSM and session."""
