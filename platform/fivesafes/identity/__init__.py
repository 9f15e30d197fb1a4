"""Safe people: users, their roles and their API tokens."""
