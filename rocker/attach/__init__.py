"""The attach protocol: frames (`frames`), the monitor's side of it (`hub`: clients, output
fan-out with back-pressure, buffered stdin), the CLI's side (`client`: attach) and the one
client-side relay loop (`relay`: used by `client` and by `rocker exec`)."""
