"""The Textual UI. Imported only by `queuectl tui`: headless commands never load Textual."""
