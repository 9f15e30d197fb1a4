"""Project close-out with proof of deletion (SATRE 3.1.10; docs/closeout.md)."""
