"""The headless core of queuectl: store, state machine, workers. Imports neither Textual nor Rich."""
