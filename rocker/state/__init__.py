"""The metadata store: atomic JSON records in one folder per object, guarded by flock."""
