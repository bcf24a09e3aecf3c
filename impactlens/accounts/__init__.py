"""Accounts: plans, secrets, organisations, users, API keys, sessions, idempotency."""

from .plans import PLANS, Plan, get_plan
from .service import AccountService, AuthError, IdempotencyStore, Principal

__all__ = ["PLANS", "AccountService", "AuthError", "IdempotencyStore", "Plan", "Principal", "get_plan"]
