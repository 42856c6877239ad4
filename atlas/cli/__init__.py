"""The `atlas` command line: thin click commands over the library."""
