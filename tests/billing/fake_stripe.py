"""A small fake of Stripe's HTTP API for end-to-end tests, reached through
`IMGPRO_STRIPE_API_BASE`.

It speaks the wire format of the calls imgpro makes — form-encoded requests with Stripe's
bracket notation, `Authorization: Bearer sk_...`, `Idempotency-Key`, JSON objects or Stripe's
error envelope back — for `POST /v1/checkout/sessions` and `POST /v1/billing_portal/sessions`.
Tests then play Stripe's part: `complete()` a session, change a subscription, fail an invoice.
Each of those builds the event Stripe would send, and `deliver()` posts it to imgpro signed the
way Stripe signs (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = [a or b for a, b in _KEY.findall(key)]
        node: Any = root
        for part, following in zip(parts, parts[1:], strict=False):
            child_is_list = following.isdigit()
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append([] if child_is_list else {})
                node = node[index]
            else:
                node = node.setdefault(part, [] if child_is_list else {})
        last = parts[-1]
        if isinstance(node, list):
            index = int(last)
            while len(node) <= index:
                node.append(None)
            node[index] = value
        else:
            node[last] = value
    return root


def sign(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(8)}"


class StripeRefusal(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


@dataclass
class FakeStripe:
    secret_key: str
    webhook_secret: str
    url: str = ""
    webhook_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0  # answer the next N API calls with a 500
    _replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _clock: itertools.count = field(default_factory=lambda: itertools.count(int(time.time())))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- the HTTP API -------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            params = decode_form(body) if body else {}
            self.requests.append({"method": method, "path": path, "params": params})
            if headers.get("authorization") != f"Bearer {self.secret_key}":
                return 401, _error("Invalid API Key provided.", None, "invalid_request_error")
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, _error("An unknown error occurred", None, "api_error")
            key = headers.get("idempotency-key")
            if key and key in self._replies:
                return self._replies[key]
            try:
                if method == "POST" and path == "/v1/checkout/sessions":
                    reply = 200, self._create_session(params)
                elif method == "POST" and path == "/v1/billing_portal/sessions":
                    reply = 200, self._create_portal(params)
                else:
                    reply = 404, _error(f"Unrecognized request URL ({method}: {path}).", None)
            except StripeRefusal as refusal:
                reply = refusal.status, _error(refusal.message, refusal.param)
            if key:
                self._replies[key] = reply
            return reply

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "subscription":
            raise StripeRefusal(400, "This test server supports mode=subscription.", "mode")
        if not params.get("success_url"):
            raise StripeRefusal(400, "Missing required param: success_url.", "success_url")
        items = params.get("line_items")
        if not isinstance(items, list) or len(items) != 1:
            raise StripeRefusal(400, "Send exactly one line item.", "line_items")
        item = items[0]
        if "price" not in item:
            data = item.get("price_data") or {}
            if not (data.get("currency") and data.get("unit_amount", "").isdigit()):
                raise StripeRefusal(400, "price_data needs currency and unit_amount.", "line_items")
            if (data.get("recurring") or {}).get("interval") not in ("month", "year"):
                raise StripeRefusal(400, "Subscriptions need a recurring price.", "line_items")
        customer = params.get("customer")
        if customer and customer not in self.customers:
            raise StripeRefusal(400, f"No such customer: '{customer}'", "customer")
        session_id = _id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "url": f"{self.url}/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "client_reference_id": params.get("client_reference_id"),
            "customer": customer,
            "customer_email": params.get("customer_email"),
            "metadata": params.get("metadata") or {},
            "subscription": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "livemode": False,
            "created": int(time.time()),
            "_line_item": item,
            "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata") or {},
        }
        self.sessions[session_id] = session
        return _public(session)

    def _create_portal(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if customer not in self.customers:
            raise StripeRefusal(400, f"No such customer: '{customer}'", "customer")
        portal_id = _id("bps")
        return {
            "id": portal_id,
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": params.get("return_url"),
            "url": f"{self.url}/p/session/{portal_id}",
            "livemode": False,
        }

    # ---- playing Stripe's part ------------------------------------------------------------

    def event(self, kind: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
        return {
            "id": _id("evt"),
            "object": "event",
            "api_version": "2025-08-27.basil",
            "created": next(self._clock) if created is None else created,
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": json.loads(json.dumps(obj))},
        }

    def complete(self, session_id: str) -> list[dict[str, Any]]:
        """The customer paid: a customer and a subscription exist now. Returns the events
        Stripe sends, in Stripe's usual order."""
        session = self.sessions[session_id]
        customer = session["customer"] or _id("cus")
        self.customers.setdefault(customer, {"id": customer, "email": session["customer_email"]})
        item = session["_line_item"]
        price = (
            {"id": item["price"], "object": "price", "recurring": {"interval": "month"}}
            if "price" in item
            else {
                "id": _id("price"),
                "object": "price",
                "unit_amount": int(item["price_data"]["unit_amount"]),
                "currency": item["price_data"]["currency"],
                "recurring": {"interval": item["price_data"]["recurring"]["interval"]},
            }
        )
        now = int(time.time())
        period_end = now + (365 if price["recurring"]["interval"] == "year" else 30) * 86400
        subscription_id = _id("sub")
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "cancel_at_period_end": False,
            "metadata": session["_subscription_metadata"],
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": _id("si"),
                        "object": "subscription_item",
                        "price": price,
                        "quantity": 1,
                        "current_period_start": now,
                        "current_period_end": period_end,
                    }
                ],
            },
            "created": now,
        }
        self.subscriptions[subscription_id] = subscription
        session.update(
            status="complete",
            payment_status="paid",
            customer=customer,
            subscription=subscription_id,
        )
        return [
            self.event("customer.subscription.created", subscription),
            self.event("checkout.session.completed", _public(session)),
        ]

    def update_subscription(self, subscription_id: str, **changes: Any) -> dict[str, Any]:
        """Change a subscription (status, cancel_at_period_end, price) as the portal would."""
        subscription = self.subscriptions[subscription_id]
        price = changes.pop("price", None)
        if price is not None:
            subscription["items"]["data"][0]["price"] = price
        subscription.update(changes)
        kind = (
            "customer.subscription.deleted"
            if subscription["status"] == "canceled"
            else "customer.subscription.updated"
        )
        return self.event(kind, subscription)

    def invoice_failed(self, subscription_id: str) -> dict[str, Any]:
        subscription = self.subscriptions[subscription_id]
        invoice = {
            "id": _id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "open",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription_id},
            },
        }
        return self.event("invoice.payment_failed", invoice)

    def deliver(
        self,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST the event to imgpro's webhook endpoint, signed like Stripe signs it."""
        payload = json.dumps(event).encode()
        header = (
            signature
            if signature is not None
            else sign(secret or self.webhook_secret, payload, timestamp)
        )
        return httpx.post(
            self.webhook_url,
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            timeout=30,
        )

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [request for request in self.requests if request["path"] == path]


def _public(session: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in session.items() if not k.startswith("_")}


def _error(message: str, param: str | None, kind: str = "invalid_request_error") -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if param:
        error["param"] = param
    return {"error": error}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, payload = self.fake.handle(self.command, self.path, headers, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class FakeStripeServer:
    """The fake on a real socket, in a thread."""

    def __init__(self, fake: FakeStripe) -> None:
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        fake.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.fake = fake
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self.fake

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
