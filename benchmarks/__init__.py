"""Performance harness: seeded data generators and benchmark scripts (not run by pytest)."""
