"""The per-container supervisor (like Podman's conmon): one process per running container."""
