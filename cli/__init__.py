"""The `tidings` command line: runs services, manages topics and the database, publishes events
and runs the demo. It wires services together; services never import each other."""
