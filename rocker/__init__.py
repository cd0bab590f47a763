"""rocker: a daemonless Linux container runtime with declarative stacks.

The package is split by concern (see docs/architecture.md). This module only holds the version;
importing it must stay free of side effects and heavy imports.
"""

__version__ = "0.1.0"
