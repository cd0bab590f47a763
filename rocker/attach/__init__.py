"""The attach protocol: frames (`frames`), the monitor's side of it (`hub`: clients, output
fan-out with back-pressure, buffered stdin) and the CLI's side (`client`: attach, relay)."""
