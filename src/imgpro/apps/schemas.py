"""The real shapes of /v1/auth/exchange: the body model parses the request, the answer is built
from the app and the user the code signed in, and both are what /openapi.json documents."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from imgpro.accounts.tables import User
from imgpro.apps.tables import App


class ExchangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: StrictStr = Field(min_length=1, description="The code from the hosted-login callback.")
    code_verifier: StrictStr | None = Field(
        default=None, description="The PKCE verifier, when the login was started with a challenge."
    )


class AppRef(BaseModel):
    id: str
    object: Literal["app"] = "app"
    name: str


class UserRef(BaseModel):
    id: str
    object: Literal["user"] = "user"
    email: str
    verified: bool = Field(description="The email was proven with a one-time code: always true.")


class AuthContext(BaseModel):
    object: Literal["auth_context"] = "auth_context"
    app: AppRef
    user: UserRef

    @classmethod
    def of(cls, app: App, user: User) -> AuthContext:
        """The answer for `user`, who signed in to `app` (a user exists only once their email
        answered a one-time code, so the email is verified)."""
        return cls(
            app=AppRef(id=app.id, name=app.name),
            user=UserRef(id=user.id, email=user.email, verified=True),
        )
