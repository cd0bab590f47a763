"""The privileged launcher: everything that builds a container from a bundle's config and runs
it (namespaces, mounts, pivot_root, capabilities, seccomp), and joins a running one (exec).

Nothing here knows about records, names or verbs: its input is a config and file descriptors.
`syscalls` is the only module of rocker that calls mount/unshare/setns/pivot_root/capset.
"""
