"""Helpers shared by test suites: real servers and certificates standing in for the internet."""
