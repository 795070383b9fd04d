"""imgpro_sdk: sign users in with img.pro, keep their images there, let them pay img.pro.

from imgpro_sdk import ImgPro
app = ImgPro(secret="img_sk_live_...", app_id="a8o46yrk", api_url="http://127.0.0.1:8000")
login = app.login_url(redirect_uri="http://localhost:3000/callback")
ctx = app.finish_login(callback_url, expected_state=login.state,
                       code_verifier=login.code_verifier)
user = app.for_user(ctx.user.id)
img = user.images.upload("photo.jpg", caption="Boats")
"""

from . import errors, webhooks
from ._async import AsyncBilling, AsyncImages, AsyncImgPro, AsyncUser
from ._sync import Billing, Images, ImgPro, User
from .button import button
from .models import AuthContext, Image, ImgProObject, LoginRequest, Page, WebhookEvent

__version__ = "0.1.0"
__all__ = [
    "AsyncBilling",
    "AsyncImages",
    "AsyncImgPro",
    "AsyncUser",
    "AuthContext",
    "Billing",
    "Image",
    "ImgPro",
    "ImgProObject",
    "Images",
    "LoginRequest",
    "Page",
    "User",
    "WebhookEvent",
    "button",
    "errors",
    "webhooks",
]
