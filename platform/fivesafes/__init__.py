"""fivesafes: a secure research data platform built on the Five Safes framework."""

__version__ = "0.1.0"
