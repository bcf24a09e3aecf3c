"""Accounts: plans, secrets, organisations, users, API keys, sessions, sign-in lockout (lockout.py)."""

from .plans import PLANS, Plan, get_plan
from .service import AccountService, AuthError, Principal

__all__ = ["PLANS", "AccountService", "AuthError", "Plan", "Principal", "get_plan"]
