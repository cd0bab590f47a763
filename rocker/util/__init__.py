"""Small pure helpers shared by several packages (durations, time formats)."""
