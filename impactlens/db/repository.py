"""The data model on the single table. Every access pattern is a key lookup or a key range:

| access pattern                              | how                                                        |
|---------------------------------------------|------------------------------------------------------------|
| organisation by id                          | get ORG#o / ORG#o                                          |
| a client's users                            | query ORG#o, SK begins_with USER#                          |
| user by email (login)                       | get EMAIL#e / EMAIL (guard item, also keeps emails unique) |
| API key by id (auth)                        | get APIKEY#k / APIKEY (holds org + hash only)              |
| a client's API keys                         | query ORG#o, SK begins_with APIKEY#                        |
| a client's brands                           | query ORG#o, SK begins_with BRAND#                         |
| a brand's campaigns                         | query ORG#o, SK begins_with CAMPAIGN#b#                    |
| asset by id (checked against the caller)    | get ASSET#a / METADATA                                     |
| asset with its results and segments         | query ASSET#a (all sort keys, one request)                 |
| a client's assets in a brand / campaign     | GSI1 query ORG#o, begins_with BRAND#b#[CAMPAIGN#c#], newest 1st |
| aggregates of org, brand, campaign          | get ORG#o / AGG#...  (see aggregates.py)                   |
| queued jobs, oldest first                   | GSI1 query JOBQ#queued                                     |
| monthly usage                               | get ORG#o / USAGE#yyyy-mm, atomic ADD                      |

Campaigns live at ``CAMPAIGN#<b>#<c>`` rather than DESIGN.md's ``BRAND#<b>#CAMPAIGN#<c>`` so
that "a client's brands" is a pure key range that does not also return every campaign.
"""

from __future__ import annotations

from .errors import ConflictError, LastAdminError, NotFoundError, QuotaExceededError
from .ids import check_id, new_ulid
from .repo_accounts import PLANS, ROLES, AccountsRepository
from .repo_assets import AssetsRepository, best_aoi
from .repo_catalog import CatalogRepository
from .repo_jobs import JobsRepository

__all__ = [
    "PLANS",
    "ROLES",
    "ConflictError",
    "LastAdminError",
    "NotFoundError",
    "QuotaExceededError",
    "Repository",
    "best_aoi",
    "check_id",
    "new_ulid",
]


class Repository(AccountsRepository, CatalogRepository, JobsRepository, AssetsRepository):
    """One object over the table with every access pattern above; each role lives in its own
    module (repo_accounts, repo_catalog, repo_assets, repo_jobs) and shares the table and clock."""
