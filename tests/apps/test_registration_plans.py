"""Who may register apps follows the plan catalogue in force, not the built-in defaults."""

from __future__ import annotations

from imgpro.accounts import service as accounts
from imgpro.apps import service as apps
from imgpro.billing.plans import DEFAULT_CATALOGUE, Catalogue, Plan, Price
from imgpro.runtime import Runtime
from tests.conftest import Stack

OPERATOR_PLANS = Catalogue(
    (
        Plan("free", "Starter", 10, 1024**3),
        Plan("hobby", "Hobby", 500, 5 * 1024**3, {"monthly": Price(400)}),
    )
)


def test_a_plan_only_the_operator_file_knows_may_register(stack: Stack) -> None:
    person = stack.user("hobby")

    async def check(rt: Runtime) -> tuple[bool, bool]:
        async with rt.sessions() as db:
            user = await accounts.get_user(db, person.id)
            assert user is not None
            return (
                await apps.may_register_apps(db, user, OPERATOR_PLANS),
                await apps.may_register_apps(db, user, DEFAULT_CATALOGUE),
            )

    assert stack.run(check) == (True, False)
