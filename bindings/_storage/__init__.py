"""Storage shared by every binding: SQLite for rows, immutable files for values, an injectable clock."""
