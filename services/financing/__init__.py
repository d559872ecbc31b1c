"""Financing (syariah contracts): see domain.py and service.py."""
