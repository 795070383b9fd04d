"""Pure rules of the app registry and the hosted login: app names, redirect URIs, the
`/connect` query and PKCE. Values in, values (or a clear refusal) out; no database."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from imgpro import tokens
from imgpro.errors import invalid

NAME_MAX = 64
MAX_REDIRECT_URIS = 10
REDIRECT_URI_MAX = 2000
STATE_MAX = 512
LOOPBACK_HOSTS = {"localhost", "127.0.0.1"}
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_BADGE_LOOKALIKES = ("✓", "✔", "☑", "✅")


@functools.cache
def _img_pro() -> re.Pattern[str]:
    """The letters of "imgpro", each as any character Unicode lists as confusable with it, with
    any run of spaces, punctuation, symbols or marks between: "img[.]pro", "ımg。pro", "1mg pr0"
    match. Built when an app is first named: the confusables table costs a server ~18 MB."""
    from confusables import confusable_characters

    return re.compile(
        r"[\W_]*".join(
            "(?:" + "|".join(map(re.escape, confusable_characters(letter))) + ")"
            for letter in "imgpro"
        )
    )


def _reads_as_img_pro(name: str) -> bool:
    """Whether `name` reads as img.pro: compared after NFKC (fullwidth, one dot leader),
    case folding and decomposition (accents become separate marks, skipped between letters)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    return _img_pro().search(folded) is not None


def check_app_name(name: str) -> str:
    """1–64 characters, not reading as "img.pro" (lookalike letters and punctuation included),
    and no drawn verified badge."""
    name = " ".join(name.split())
    if not name:
        raise invalid("name", "Give the app a name (1–64 characters).")
    if len(name) > NAME_MAX:
        raise invalid("name", f"The name is {len(name)} characters; at most {NAME_MAX}.")
    if _reads_as_img_pro(name):
        raise invalid(
            "name",
            'The name may not contain "img.pro" or a lookalike of it: apps must not look made '
            "by img.pro.",
        )
    if any(mark in name for mark in _BADGE_LOOKALIKES) or not name.isprintable():
        raise invalid("name", "The name may not contain check marks or control characters.")
    return name


def check_redirect_uri(uri: str) -> str:
    """An absolute https URL (http only for localhost/127.0.0.1), written canonically, with no
    fragment, no userinfo and no `code`/`state` parameters of its own."""
    problem = _redirect_uri_problem(uri)
    if problem:
        raise invalid("redirect_uris", f"{uri[:200]!r}: {problem}")
    return uri


def _redirect_uri_problem(uri: str) -> str | None:
    if not uri or len(uri) > REDIRECT_URI_MAX:
        return f"a redirect URI is 1–{REDIRECT_URI_MAX} characters."
    if not uri.isascii() or any(c.isspace() or not c.isprintable() or c == "\\" for c in uri):
        return "use plain ASCII with no spaces, control characters or backslashes."
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "this is not a valid URL."
    if parts.scheme not in {"https", "http"}:
        return "use an absolute https:// URL."
    host = parts.hostname or ""
    if not host or not parts.netloc:
        return "the URL needs a host."
    if "@" in parts.netloc:
        return "a redirect URI may not carry a user name or password."
    if "#" in uri:
        return "a redirect URI may not have a fragment (#...)."
    if "%" in parts.netloc:
        return "write the host without percent-encoding."
    if parts.netloc != parts.netloc.lower() or uri.split(":", 1)[0] != parts.scheme:
        return "write the scheme and host in lower case."
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        return "use https; plain http is only allowed for localhost and 127.0.0.1."
    if port == 0:
        return "the port is not valid."
    params = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if params & {"code", "state", "error"}:
        return "a redirect URI may not carry its own code, state or error parameters."
    return None


def check_redirect_uris(uris: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for uri in uris:
        uri = uri.strip()
        if uri and uri not in cleaned:
            cleaned.append(check_redirect_uri(uri))
    if not cleaned:
        raise invalid("redirect_uris", "Add at least one redirect URI.")
    if len(cleaned) > MAX_REDIRECT_URIS:
        raise invalid("redirect_uris", f"At most {MAX_REDIRECT_URIS} redirect URIs.")
    return cleaned


def with_params(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """The registered URI with `params` appended (after its own query, if it has one)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query


class ConnectRefused(Exception):
    """`/connect` cannot go on: an error page with this status, never a redirect."""

    def __init__(
        self,
        status: int,
        heading: str,
        message: str,
        *,
        received_redirect_uri: str | None = None,
        registered_redirect_uris: Sequence[str] = (),
        owner_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.heading = heading
        self.message = message
        # for the app's developer: what arrived, and (shown only to the app's owner) what
        # would have matched
        self.received_redirect_uri = received_redirect_uri
        self.registered_redirect_uris = tuple(registered_redirect_uris)
        self.owner_id = owner_id


@dataclass(frozen=True)
class ConnectRequest:
    app_id: str
    redirect_uri: str
    state: str | None
    prompt: str | None
    code_challenge: str | None

    def as_params(self) -> dict[str, str]:
        """The query of `/connect` that reproduces this request."""
        params = {"app": self.app_id, "redirect_uri": self.redirect_uri}
        if self.state is not None:
            params["state"] = self.state
        if self.code_challenge is not None:
            params["code_challenge"] = self.code_challenge
            params["code_challenge_method"] = "S256"
        return params


_CONNECT_PARAMS = ("app", "redirect_uri", "state", "prompt", "code_challenge")


def parse_connect(items: Sequence[tuple[str, str]]) -> ConnectRequest:
    """Check the `/connect` query (decisions.md §2) before any database work."""
    values: dict[str, str] = {}
    for key, value in items:
        if key in values and key in (*_CONNECT_PARAMS, "code_challenge_method"):
            raise ConnectRefused(400, "Invalid sign-in link", f"The parameter {key} appears twice.")
        values[key] = value
    app_id = values.get("app", "")
    redirect_uri = values.get("redirect_uri", "")
    if not app_id:
        raise ConnectRefused(400, "Invalid sign-in link", "The link does not name an app.")
    if not redirect_uri:
        raise ConnectRefused(
            400, "Invalid sign-in link", "The link has no redirect_uri to return to."
        )
    state = values.get("state")
    if state is not None and len(state) > STATE_MAX:
        raise ConnectRefused(
            400,
            "Invalid sign-in link",
            f"The state parameter is {len(state)} characters; at most {STATE_MAX} are allowed.",
        )
    prompt = values.get("prompt")
    if prompt is not None and prompt != "none":
        raise ConnectRefused(
            400, "Invalid sign-in link", "The only prompt value accepted is prompt=none."
        )
    challenge = values.get("code_challenge")
    method = values.get("code_challenge_method")
    if challenge is not None or method is not None:
        if method != "S256":
            raise ConnectRefused(
                400, "Invalid sign-in link", "PKCE needs code_challenge_method=S256."
            )
        if challenge is None or not _CHALLENGE_RE.match(challenge):
            raise ConnectRefused(
                400,
                "Invalid sign-in link",
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters).",
            )
    return ConnectRequest(app_id, redirect_uri, state, prompt, challenge)


def pkce_matches(challenge: str, verifier: str) -> bool:
    if not _VERIFIER_RE.match(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return tokens.same(expected, challenge)
