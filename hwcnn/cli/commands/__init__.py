"""One module per ``hwcnn`` subcommand (imported lazily by :mod:`hwcnn.cli`)."""
