"""File drops to raw tables: source contracts, landing, quarantine."""
