"""What both edges share: the web service (service/) and the queue workers (workers/) both start
through here, so neither imports the other (import-linter holds it so)."""
