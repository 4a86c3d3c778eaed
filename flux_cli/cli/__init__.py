"""The command-line shell: parses flags, calls the core, renders. No business logic lives here."""
