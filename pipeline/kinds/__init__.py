"""Per source kind: how a run finds, reads and settles (archives, marks, advances) its inputs."""
