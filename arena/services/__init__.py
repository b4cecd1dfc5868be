"""Writes (battles_*, vote_*, generation_*) live here as services with keyword-only arguments;
views, consumers and tasks stay thin."""
