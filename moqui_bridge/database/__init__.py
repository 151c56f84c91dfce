"""Database plumbing: a private PostgreSQL server and asyncpg pool creation."""
