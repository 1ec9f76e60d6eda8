"""The scheduler's pure domain: state, the fold that builds it from events, decisions and placement."""
