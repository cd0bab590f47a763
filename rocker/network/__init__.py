"""Container networking: bridge networks, addresses, names, published ports.

    ipam       subnets, gateways and the allocation of container addresses (IPv4)
    ports      Docker's `-p` / ExposedPorts syntax and the PortMapping record
    hostsfile  the container's /etc/hosts and /etc/resolv.conf, `--add-host`, `--dns`
    firewall   rocker's nftables table as a pure function of the networks and ports
    dns        the DNS message codec of the in-container resolver (RFC 1035)
    text       how these modules quote user input in their one-line errors

Every module here is pure (standard library only; no I/O, no subprocess, no sockets) and
cheap to import: the container commands (`rocker run`, `ps`, the resolver) are to load them,
so they use no dataclasses (the records are namedtuples; `dataclasses` costs milliseconds, see
rocker/cgroups/record.py) and no typing.
This file imports nothing.
"""
