"""The launcher: namespaces, the parent/child protocol, the root filesystem, init and exec."""
