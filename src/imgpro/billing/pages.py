"""Billing on the web surface: the dashboard's billing page (every workspace with plan, usage
and upgrade / change / cancel), the local provider's test checkout and signed upgrade links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from imgpro.accounts.tables import User
from imgpro.billing import links
from imgpro.billing import service as billing
from imgpro.billing.plans import catalogue, price_label
from imgpro.billing.providers import provider_for
from imgpro.billing.schemas import CheckoutIn, PlanChoice
from imgpro.deps import Db, Rt
from imgpro.errors import ApiError
from imgpro.http import parse_as
from imgpro.web.pages import error_page, form_text, redirect, render
from imgpro.web.security import CheckedForm, SignedIn, SignInRequired, Viewer

router = APIRouter()

# fixed notices for ?done=…: the page never echoes text from the address bar
NOTICES = {
    "changed": "Plan changed.",
    "canceled": "Cancelled: the plan stays until the end of the period, then becomes Free.",
    "resumed": "Your subscription continues.",
    "checkout_canceled": "Checkout cancelled; nothing was charged or changed.",
    "upgraded": "Payment received: the new plan is active, with its limits, from now on.",
}
CLOSED = {
    "paid": ("This checkout is already paid", "The plan is active."),
    "canceled": ("This checkout was cancelled", "Nothing was charged or changed."),
    "expired": ("This checkout has expired", "Checkouts are open for 24 hours."),
    "already_subscribed": (
        "This workspace already has a paid plan",
        "Nothing was charged; change plans on the billing page instead.",
    ),
    "unknown": ("No such checkout", "This checkout link is not valid."),
}


def _filters() -> dict[str, Any]:
    return {"price_label": price_label}


@router.get("/billing")
async def billing_page(request: Request, viewer: Viewer, db: Db, rt: Rt) -> Response:
    if viewer is None:  # keep ?workspace= through sign-in: manage_url focuses it
        query = request.url.query
        raise SignInRequired("/billing" + (f"?{query}" if query else ""))
    return await _billing_page(request, viewer, db, rt)


async def _billing_page(
    request: Request, user: User, db: Db, rt: Rt, status: int = 200, error: str | None = None
) -> Response:
    overview = await billing.billing_overview(db, rt.settings, user)
    focus = request.query_params.get("workspace")
    focused = next((entry for entry in overview if entry.workspace.id == focus), None)
    if focused is not None:  # the workspace the link was about comes first
        overview = [focused] + [entry for entry in overview if entry is not focused]
    suggested = request.query_params.get("plan")
    return render(
        request,
        "dashboard/billing.html",
        {
            "user": user,
            "section": "billing",
            "notice": NOTICES.get(request.query_params.get("done") or ""),
            "error": error,
            "overview": overview,
            "focus": focused.workspace.id if focused else None,
            "not_yours": bool(focus) and focused is None,
            "suggested": suggested if catalogue(rt.settings).find(suggested or "") else None,
            "paid_plans": catalogue(rt.settings).paid,
            "in_portal": provider_for(rt.settings).manages_in_portal,
            "test_mode": rt.settings.billing_provider == "local",
            **_filters(),
        },
        status,
    )


async def _owned(db: Db, user: User, form: Any) -> Any:
    return await billing.owned_workspace(db, user, form_text(form, "workspace", 16))


def _back(workspace_id: str, done: str) -> Response:
    return redirect("/billing?" + urlencode({"workspace": workspace_id, "done": done}))


@router.post("/billing/checkout")
async def start_checkout(
    request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt
) -> Response:
    workspace = await _owned(db, user, form)
    if workspace is None:
        return await _billing_page(request, user, db, rt, 404, "No such workspace on your account.")
    try:
        body = parse_as(
            CheckoutIn,
            {
                "plan": form_text(form, "plan", 16),
                "interval": form_text(form, "interval", 16),
                "return_url": billing.manage_url(rt.settings, workspace.id),
            },
        )
        checkout = billing.checkout_request(rt.settings, body)
        url = await billing.start_checkout(db, rt.settings, workspace, checkout)
    except ApiError as exc:
        return await _billing_page(request, user, db, rt, exc.status, _explain(exc))
    return redirect(url)


@router.post("/billing/change")
async def change_plan(
    request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt
) -> Response:
    workspace = await _owned(db, user, form)
    if workspace is None:
        return await _billing_page(request, user, db, rt, 404, "No such workspace on your account.")
    plan_id, _, interval = form_text(form, "plan", 40).partition(":")  # "pro:annual"
    try:
        choice = parse_as(PlanChoice, {"plan": plan_id, "interval": interval})
        await billing.change_plan(db, rt.settings, workspace, choice)
    except ApiError as exc:
        return await _billing_page(request, user, db, rt, exc.status, _explain(exc))
    return _back(workspace.id, "changed")


async def _set_cancel(
    request: Request, user: User, form: Any, db: Db, rt: Rt, cancel: bool
) -> Response:
    workspace = await _owned(db, user, form)
    if workspace is None:
        return await _billing_page(request, user, db, rt, 404, "No such workspace on your account.")
    try:
        await billing.cancel_at_period_end(db, rt.settings, workspace, cancel)
    except ApiError as exc:
        return await _billing_page(request, user, db, rt, exc.status, _explain(exc))
    return _back(workspace.id, "canceled" if cancel else "resumed")


@router.post("/billing/cancel")
async def cancel(request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt) -> Response:
    return await _set_cancel(request, user, form, db, rt, True)


@router.post("/billing/resume")
async def resume(request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt) -> Response:
    return await _set_cancel(request, user, form, db, rt, False)


@router.post("/billing/portal")
async def portal(request: Request, user: SignedIn, form: CheckedForm, db: Db, rt: Rt) -> Response:
    workspace = await _owned(db, user, form)
    if workspace is None:
        return await _billing_page(request, user, db, rt, 404, "No such workspace on your account.")
    try:
        url = await billing.portal_url(db, rt.settings, workspace)
    except ApiError as exc:
        return await _billing_page(request, user, db, rt, exc.status, _explain(exc))
    return redirect(url)


def _explain(exc: ApiError) -> str:
    if exc.details:
        return " ".join(str(m) for messages in exc.details.values() for m in messages)
    return exc.message


# ---- the local provider's test checkout -----------------------------------------------------


def _closed_page(request: Request, reason: str) -> Response:
    heading, message = CLOSED.get(reason, CLOSED["unknown"])
    return error_page(request, 404 if reason == "unknown" else 410, heading, message)


@router.get("/billing/checkout/{token}")
async def checkout_page(token: str, request: Request, db: Db, rt: Rt) -> Response:
    if rt.settings.billing_provider != "local":
        return _closed_page(request, "unknown")
    try:
        found = await billing.open_local_checkout(db, rt.settings, token[:128])
    except billing.CheckoutClosed as closed:
        return _closed_page(request, closed.reason)
    response = render(
        request,
        "billing/checkout.html",
        {
            "found": found,
            "price": found.plan.prices[found.checkout.interval],
            "token": token,
            **_filters(),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/billing/checkout/{token}/pay")
async def pay(token: str, request: Request, form: CheckedForm, db: Db, rt: Rt) -> Response:
    if rt.settings.billing_provider != "local":
        return _closed_page(request, "unknown")
    try:
        return_url = await billing.pay_local_checkout(db, rt.settings, token[:128])
    except billing.CheckoutClosed as closed:
        return _closed_page(request, closed.reason)
    return redirect(_with_notice(rt, return_url, "upgraded"))


@router.post("/billing/checkout/{token}/cancel")
async def cancel_checkout(
    token: str, request: Request, form: CheckedForm, db: Db, rt: Rt
) -> Response:
    if rt.settings.billing_provider != "local":
        return _closed_page(request, "unknown")
    try:
        return_url = await billing.cancel_local_checkout(db, rt.settings, token[:128])
    except billing.CheckoutClosed as closed:
        return _closed_page(request, closed.reason)
    return redirect(_with_notice(rt, return_url, "checkout_canceled"))


def _with_notice(rt: Rt, return_url: str, done: str) -> str:
    """Back on our own billing page, say what happened; an app's return_url is its own
    business and goes back unchanged."""
    if not return_url.startswith(f"{rt.settings.web_url}/billing?"):
        return return_url
    return f"{return_url}&{urlencode({'done': done})}"


# ---- signed upgrade links -------------------------------------------------------------------


@router.get("/upgrade")
async def upgrade_link(request: Request, rt: Rt) -> Response:
    """A quota error's upgrade link: verified, then the billing page focused on the workspace
    (sign-in first when needed). A changed or expired link is refused and goes nowhere."""
    try:
        target = links.read_upgrade_token(
            rt.settings.signing_key, request.query_params.get("t", "")[:1024]
        )
    except links.LinkRefused as refused:
        if refused.expired:
            return error_page(
                request,
                410,
                "This upgrade link has expired",
                "Upgrade links work for 7 days.",
                "Open Billing on your dashboard to see your plans.",
            )
        return error_page(
            request,
            400,
            "This upgrade link is not valid",
            "The link was changed or is incomplete, so it was not followed.",
            "Open Billing on your dashboard to see your plans.",
        )
    query = {"workspace": target.workspace_id, **({"plan": target.plan} if target.plan else {})}
    return redirect("/billing?" + urlencode(query))
