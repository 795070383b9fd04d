"""The caller of a use case: who it is, which workspace it acts on, what it may do.

Values only (no database, no HTTP): `auth.authenticate` builds one per API request, the web
pages build one for a signed-in user, and services take it as a plain argument. Each kind has
a named constructor, so no caller pretends to be another kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imgpro.accounts.tables import Workspace
from imgpro.errors import ApiError

PrincipalKind = Literal["anonymous", "key", "app", "user", "system"]
"""anonymous: no credential; key: an API key; app: an app's machine secret acting for a user;
user: signed in on the web (the dashboard); system: imgpro itself (the docs' sample image)."""

Ability = Literal["read", "write"]
ALL_ABILITIES: frozenset[Ability] = frozenset({"read", "write"})


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    workspace: Workspace | None
    abilities: frozenset[str]
    scope: str  # whose Idempotency-Keys: key:<id>[:<user>], app:<id>:<user>, ip:<a>, web:<user>
    client_ip: str
    app_id: str | None = None
    user_id: str | None = None
    credential: str = ""  # whose rate limit: key:<id> or app:<id> (an app's users share it)

    @classmethod
    def anonymous(cls, ip: str) -> Principal:
        """No credential: may create (public, expiring uploads), nothing else."""
        return cls("anonymous", None, frozenset({"write"}), f"ip:{ip}", ip)

    @classmethod
    def api_key(
        cls,
        key_id: str,
        workspace: Workspace,
        abilities: frozenset[str],
        ip: str,
        *,
        user_id: str | None,
        app_id: str | None = None,
        acting_for: str | None = None,
    ) -> Principal:
        """An API key: a personal key (its owner's workspace) or an app key (the app's
        workspace, or a connected user's when `acting_for` names one)."""
        credential = f"key:{key_id}"
        return cls(
            "key",
            workspace,
            abilities,
            f"{credential}:{acting_for}" if acting_for else credential,
            ip,
            app_id=app_id,
            user_id=acting_for or user_id,
            credential=credential,
        )

    @classmethod
    def app(cls, app_id: str, user_id: str, workspace: Workspace, ip: str) -> Principal:
        """An app's machine secret acting for one connected user (X-Img-User)."""
        return cls(
            "app",
            workspace,
            ALL_ABILITIES,
            f"app:{app_id}:{user_id}",
            ip,
            app_id=app_id,
            user_id=user_id,
            credential=f"app:{app_id}",
        )

    @classmethod
    def web_user(cls, user_id: str, workspace: Workspace, ip: str) -> Principal:
        """A user signed in on the web, acting on their personal workspace."""
        return cls("user", workspace, ALL_ABILITIES, f"web:{user_id}", ip, user_id=user_id)

    @classmethod
    def system(cls, workspace: Workspace, purpose: str) -> Principal:
        """imgpro itself storing into one of its own workspaces (e.g. the docs' sample)."""
        return cls("system", workspace, ALL_ABILITIES, f"system:{purpose}", "127.0.0.1")

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def chooses_visibility(self) -> bool:
        """Whether `public` is the caller's to choose (anonymous and app uploads are public)."""
        return self.kind in ("key", "user", "system")

    def require(self, ability: Ability) -> Workspace:
        """The workspace this caller acts on, if it may use `ability`."""
        self.require_ability(ability)
        if self.workspace is None:
            raise ApiError("unauthorized", "This endpoint needs an API key or an app secret.")
        return self.workspace

    def require_ability(self, ability: Ability) -> None:
        """Anonymous callers may create (write), nothing else."""
        if self.is_anonymous and ability != "write":
            raise ApiError("unauthorized", "This endpoint needs an API key or an app secret.")
        if ability not in self.abilities:
            raise ApiError("forbidden", f"This key lacks the {ability} ability.")
