"""The service layer: ports, the message bus, the command runner, event numbering, erasure."""
