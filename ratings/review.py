"""The staff review queue (/staff/integrity/): the voters the fraud audit flagged, each with its
evidence (test statistics, votes, network cluster) and the decision log; "Count again" undoes an
exclusion (logged, leaderboards recompute). Staff only."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from arena.models import ExclusionDecision, Vote, Voter, VoterFlag
from arena.services.exclusions import voter_count_again

VOTES_SHOWN = 200
STATUSES = {"excluded": [VoterFlag.EXCLUDED], "cleared": [VoterFlag.CLEARED], "all": [VoterFlag.EXCLUDED, VoterFlag.CLEARED]}


def network_cluster(voter: Voter) -> list[dict[str, Any]]:
    """Other pseudonyms that voted from any network this voter voted from, with their flags."""
    nets = set(Vote.objects.filter(voter=voter).exclude(network_hash="").values_list("network_hash", flat=True).distinct())
    if not nets:
        return []
    rows = (Vote.objects.filter(network_hash__in=nets).exclude(voter=voter).values("voter_id", "voter__public_id")
            .annotate(n=Count("id"), excluded=Count("id", filter=Q(counted=False))).order_by("-n")[:100])
    status = dict(VoterFlag.objects.filter(voter_id__in=[r["voter_id"] for r in rows]).values_list("voter_id", "status"))
    return [{"voter": r["voter__public_id"], "votes": r["n"], "excluded": r["excluded"], "status": status.get(r["voter_id"], "")}
            for r in rows]


@staff_member_required
def review_queue(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "excluded")
    if status not in STATUSES:
        status = "excluded"
    flags = list(VoterFlag.objects.filter(status__in=STATUSES[status]).select_related("voter").order_by("-score", "pk")[:500])
    counts = {r["voter_id"]: r for r in Vote.objects.filter(voter_id__in=[f.voter_id for f in flags]).values("voter_id")
              .annotate(n=Count("id"), excluded=Count("id", filter=Q(counted=False)))}
    rows = [{"flag": f, "votes": counts.get(f.voter_id, {}).get("n", 0), "excluded": counts.get(f.voter_id, {}).get("excluded", 0),
             "reasons": f.evidence.get("reasons", []), "networks": len(f.evidence.get("networks", []))} for f in flags]
    ctx = {"rows": rows, "status": status, "statuses": list(STATUSES),
           "pending": VoterFlag.objects.filter(status=VoterFlag.EXCLUDED).count()}
    return render(request, "ratings/integrity_queue.html", ctx)


@staff_member_required
def review_voter(request: HttpRequest, public_id: str) -> HttpResponse:
    voter = get_object_or_404(Voter, public_id=public_id)
    flag = VoterFlag.objects.filter(voter=voter).first()
    votes = list(Vote.objects.filter(voter=voter).select_related("model_a", "model_b", "battle").order_by("-pk")[:VOTES_SHOWN])
    for v in votes:
        v.dwell_s = ((v.client_voted_at - v.client_shown_at).total_seconds()
                     if v.client_voted_at and v.client_shown_at else None)
    tests = sorted((flag.evidence.get("tests", {}) if flag else {}).items())
    decisions = ExclusionDecision.objects.filter(vote__voter=voter).order_by("-pk")[:VOTES_SHOWN]
    ctx = {"voter": voter, "flag": flag, "votes": votes, "tests": tests, "cluster": network_cluster(voter),
           "decisions": decisions, "total": Vote.objects.filter(voter=voter).count()}
    return render(request, "ratings/integrity_voter.html", ctx)


@require_POST
@staff_member_required
def review_count_again(request: HttpRequest, public_id: str) -> HttpResponse:
    voter = get_object_or_404(Voter, public_id=public_id)
    note = (request.POST.get("note") or "").strip()[:500]
    n = voter_count_again(voter_id=voter.pk, by=request.user.get_username(), note=note)
    messages.success(request, f"{n} vote{'s' if n != 1 else ''} of {voter.public_id} count again; the leaderboards recompute.")
    return redirect("ratings:integrity-voter", public_id=voter.public_id)
