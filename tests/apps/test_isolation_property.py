"""Property: over random apps, users, connects, revokes and uploads, an app never reads, lists,
changes or deletes an image outside the workspaces it created, API keys only reach their
personal workspace, and an app's keys only reach that app's own storage (and, App-wide with
X-Img-User, that app's connected users): never another app's workspaces or anyone's personal
workspace."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from imgpro.accounts import service as accounts
from imgpro.apps import service as apps
from imgpro.runtime import Runtime
from tests.conftest import Person, Stack
from tests.factories import identity as idf
from tests.factories import images as make

PNG = make.png(4, 4)


def _revoke(stack: Stack, app_id: str, user_id: str) -> None:
    async def work(rt: Runtime) -> None:
        async with rt.sessions() as db:
            user = await accounts.get_user(db, user_id)
            assert user is not None
            await apps.revoke(db, user, app_id)

    stack.run(work)


def isolation_machine(stack: Stack) -> type[RuleBasedStateMachine]:
    class Isolation(RuleBasedStateMachine):
        apps_ = Bundle("apps")
        users = Bundle("users")
        images = Bundle("images")

        def __init__(self) -> None:
            super().__init__()
            self.connected: set[tuple[str, str]] = set()
            self.ever_connected: set[tuple[str, str]] = set()
            # image id -> its workspace: ("app", app_id, user_id), ("key", user_id) or
            # ("storage", app_id)
            self.owner: dict[str, tuple[str, ...]] = {}
            self.keys_of_apps: dict[tuple[str, str], str] = {}
            self.clients: dict[tuple[str, ...], httpx.Client] = {}

        def _as_app(self, app: idf.RegisteredApp, user: Person) -> httpx.Client:
            key = ("app", app.id, user.id)
            if key not in self.clients:
                self.clients[key] = idf.act_as(stack, app, user.id)
            return self.clients[key]

        def _as_key(self, user: Person) -> httpx.Client:
            key = ("key", user.id)
            if key not in self.clients:
                self.clients[key] = stack.client(stack.key(user))
            return self.clients[key]

        def _app_key(self, app: idf.RegisteredApp, access: str) -> str:
            if (app.id, access) not in self.keys_of_apps:
                self.keys_of_apps[(app.id, access)] = idf.app_key(stack, app, access)
            return self.keys_of_apps[(app.id, access)]

        def _as_app_key(
            self, app: idf.RegisteredApp, access: str, user: Person | None = None
        ) -> httpx.Client:
            """An app key's client: on the app's storage, or (App-wide) acting for `user`."""
            key = ("app-key", app.id, access, user.id if user else "")
            if key not in self.clients:
                headers = {"X-Img-User": user.id} if user else {}
                self.clients[key] = stack.client(self._app_key(app, access), **headers)
            return self.clients[key]

        @rule(target=apps_)
        def add_app(self) -> idf.RegisteredApp:
            return idf.register_app(stack, name="Prop App")

        @rule(target=users)
        def add_user(self) -> Person:
            return stack.user()

        @rule(app=apps_, user=users)
        def connect(self, app: idf.RegisteredApp, user: Person) -> None:
            idf.connect_directly(stack, app, user)
            self.connected.add((app.id, user.id))
            self.ever_connected.add((app.id, user.id))

        @rule(app=apps_, user=users)
        def revoke(self, app: idf.RegisteredApp, user: Person) -> None:
            _revoke(stack, app.id, user.id)
            self.connected.discard((app.id, user.id))

        @rule(target=images, app=apps_, user=users)
        def upload_as_app(self, app: idf.RegisteredApp, user: Person) -> Any:
            response = self._as_app(app, user).post("/v1/images", files={"file": ("a.png", PNG)})
            if (app.id, user.id) not in self.connected:
                assert response.status_code == 403
                assert response.json()["error"]["code"] == "user_forbidden"
                return "00000000"
            assert response.status_code == 201, response.text
            image_id = response.json()["id"]
            self.owner[image_id] = ("app", app.id, user.id)
            return image_id

        @rule(target=images, user=users)
        def upload_with_key(self, user: Person) -> Any:
            response = self._as_key(user).post("/v1/images", files={"file": ("a.png", PNG)})
            assert response.status_code == 201, response.text
            image_id = response.json()["id"]
            self.owner[image_id] = ("key", user.id)
            return image_id

        @rule(target=images, app=apps_, access=st.sampled_from(["app", "app-wide"]))
        def upload_with_app_key(self, app: idf.RegisteredApp, access: str) -> Any:
            response = self._as_app_key(app, access).post(
                "/v1/images", files={"file": ("a.png", PNG)}
            )
            assert response.status_code == 201, response.text
            image_id = response.json()["id"]
            self.owner[image_id] = ("storage", app.id)
            return image_id

        @rule(target=images, app=apps_, user=users)
        def upload_with_app_wide_key_for_user(self, app: idf.RegisteredApp, user: Person) -> Any:
            response = self._as_app_key(app, "app-wide", user).post(
                "/v1/images", files={"file": ("a.png", PNG)}
            )
            if (app.id, user.id) not in self.connected:
                assert response.status_code == 403
                assert response.json()["error"]["code"] == "user_forbidden"
                return "00000000"
            assert response.status_code == 201, response.text
            image_id = response.json()["id"]
            self.owner[image_id] = ("app", app.id, user.id)
            return image_id

        @rule(
            app=apps_,
            access=st.sampled_from(["app", "app-wide"]),
            image=images,
            user=st.none() | users,
        )
        def app_key_reads_patches_and_deletes_others(
            self, app: idf.RegisteredApp, access: str, image: str, user: Person | None
        ) -> None:
            """An app key on its storage (or App-wide for a user) reaches exactly that
            workspace: anything else is a 404, and a batch delete leaves it alone."""
            if access == "app" and user is not None:
                return  # App storage only keys refuse X-Img-User (tests/apps/test_app_keys.py)
            client = self._as_app_key(app, access, user)
            if user is None:
                allowed, home = True, ("storage", app.id)
            else:
                allowed, home = (app.id, user.id) in self.connected, ("app", app.id, user.id)
            mine = self.owner.get(image) == home
            self._expect(client.get(f"/v1/images/{image}"), mine, allowed)
            self._expect(client.patch(f"/v1/images/{image}", json={"caption": "k"}), mine, allowed)
            if allowed and not mine:
                batch = client.request("DELETE", "/v1/images/batch", json={"ids": [image]})
                assert batch.status_code == 200
                self._expect(client.delete(f"/v1/images/{image}"), False, True)

        @rule(app=apps_, access=st.sampled_from(["app", "app-wide"]))
        def app_key_lists(self, app: idf.RegisteredApp, access: str) -> None:
            response = self._as_app_key(app, access).get("/v1/images", params={"limit": 100})
            listed = {image["id"] for image in response.json()["data"]}
            assert listed == {i for i, o in self.owner.items() if o == ("storage", app.id)}

        def _expect(self, response: httpx.Response, mine: bool, allowed: bool) -> None:
            if not allowed:
                assert response.status_code == 403, response.text
            elif mine:
                assert response.status_code == 200, response.text
            else:
                assert response.status_code == 404, response.text

        @rule(app=apps_, user=users, image=images)
        def app_reads_and_patches(self, app: idf.RegisteredApp, user: Person, image: str) -> None:
            client = self._as_app(app, user)
            allowed = (app.id, user.id) in self.connected
            mine = self.owner.get(image) == ("app", app.id, user.id)
            self._expect(client.get(f"/v1/images/{image}"), mine, allowed)
            self._expect(client.patch(f"/v1/images/{image}", json={"caption": "x"}), mine, allowed)

        @rule(app=apps_, user=users, image=consumes(images))
        def app_deletes(self, app: idf.RegisteredApp, user: Person, image: str) -> None:
            client = self._as_app(app, user)
            allowed = (app.id, user.id) in self.connected
            mine = self.owner.get(image) == ("app", app.id, user.id)
            if allowed and not mine:
                batch = client.request("DELETE", "/v1/images/batch", json={"ids": [image]})
                assert batch.status_code == 200
            self._expect(client.delete(f"/v1/images/{image}"), mine, allowed)
            if allowed and mine:
                del self.owner[image]

        @rule(user=users, image=images)
        def key_reads(self, user: Person, image: str) -> None:
            mine = self.owner.get(image) == ("key", user.id)
            self._expect(self._as_key(user).get(f"/v1/images/{image}"), mine, True)

        @rule(app=apps_, user=users)
        def app_lists(self, app: idf.RegisteredApp, user: Person) -> None:
            response = self._as_app(app, user).get("/v1/images", params={"limit": 100})
            if (app.id, user.id) not in self.connected:
                assert response.status_code == 403
                return
            listed = {image["id"] for image in response.json()["data"]}
            expected = {i for i, o in self.owner.items() if o == ("app", app.id, user.id)}
            assert listed == expected

        @invariant()
        def every_image_still_exists_where_it_was_put(self) -> None:
            # deletions only ever happen through the owner (checked in app_deletes)
            for image, owner in list(self.owner.items())[-3:]:
                if owner[0] == "key":
                    client = self.clients[owner]
                    assert client.get(f"/v1/images/{image}").status_code == 200
                elif owner[0] == "storage":  # the key that uploaded it still finds it
                    uploader = (
                        self.clients.get(("app-key", owner[1], "app", ""))
                        or (self.clients[("app-key", owner[1], "app-wide", "")])
                    )
                    assert uploader.get(f"/v1/images/{image}").status_code == 200

    return Isolation


def test_apps_and_keys_stay_in_their_workspaces(stack: Stack) -> None:
    machine = isolation_machine(stack)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=8,
            stateful_step_count=16,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
