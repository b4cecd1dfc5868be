"""Events other apps listen to, so that the arena needs to know nothing about them (the ratings
app recomputes leaderboards when votes are committed or their counting changes)."""
from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction that stored the vote commits. kwargs: vote
vote_committed = Signal()
# Sent after votes stopped or started counting (an admin's decision). kwargs: modalities
votes_recounted = Signal()
